"""The population model a study declares beside its questionnaire (`population.yaml`): latent
variables, structural paths, loadings, thresholds, organisation clustering and the rates of
realistic mess. Parsed into frozen pydantic models and checked against the study, so a wrong
name or an impossible value is reported with the field it is in, before anything is drawn.

The fields are documented in the study's README ("Population model").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vakstem.instrument.schema import Item, ItemType, Study

#: The endogenous latent variables every population model has: professional action and
#: performance. Dimension factors hang under `prof`.
PROF = "prof"
PERF = "perf"

Probability = Annotated[float, Field(ge=0, le=1)]


class PopulationError(ValueError):
    """The population model is unusable; the message names the field and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisations(_Model):
    default_count: int = Field(gt=0)
    size_weights: dict[str, Annotated[float, Field(gt=0)]]
    other_share: Probability = 0.0
    other_code_share: Probability = 0.0
    other_code_range: tuple[int, int] = (1, 1)
    org_type: dict[int, Probability]
    icc: dict[str, Annotated[float, Field(ge=0, lt=1)]] = Field(default_factory=dict)


class CovariatePath(_Model):
    variable: str
    #: "code step" (per step of the answer code) or "code N" (membership of category N).
    per: str
    effect: float


class ScaleModel(_Model):
    factor: str
    loadings: tuple[Annotated[float, Field(gt=-1, lt=1)], ...]
    intercepts: tuple[float, ...]


class GateItem(_Model):
    """A yes/no item: yes (1) when the latent propensity is above the threshold."""

    latent: str
    threshold: float
    dont_know: Probability = 0.0


class LatentItem(_Model):
    """A single answer-scale item outside the scales, loading on one latent variable."""

    answer_scale: str
    factor: str
    loading: Annotated[float, Field(gt=-1, lt=1)]
    intercept: float = 0.0


class PoissonCount(_Model):
    """A count with log-mean `log_mean + slope * factor`; the factor defaults to that of the
    scale whose id the variable's name starts with (co_4 -> the factor of scale co)."""

    distribution: Literal["poisson"]
    log_mean: float
    slope: float
    max: int = Field(gt=0)
    factor: str | None = None


class LinearNumber(_Model):
    """A number `round(mean + sd * latent)` kept within [min, max]."""

    latent: str
    mean: float
    sd: float = Field(gt=0)
    min: float
    max: float


class ShareOf(_Model):
    """`round(base * share)` with share ~ Beta(mean, sd): never more than the base number. The
    base defaults to the linear number declared just before it."""

    share_mean: float = Field(gt=0, lt=1)
    share_sd: float = Field(gt=0)
    of: str | None = None


SingleItem = GateItem | LatentItem | PoissonCount | LinearNumber | ShareOf


class OpenQuestion(_Model):
    answer_rate: Probability
    length: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]


class Mess(_Model):
    consent_refused: Probability = 0.0
    dropout: Probability = 0.0
    item_nonresponse: Probability = 0.0
    dont_know: Probability = 0.0
    speeders: Probability = 0.0
    speeder_time_fraction: tuple[Probability, Probability] = (0.1, 0.3)
    straightliners: Probability = 0.0
    duplicates: Probability = 0.0
    test_responses: Probability = 0.0


class Timing(_Model):
    median_total_seconds: float = Field(gt=0)
    sdlog: float = Field(ge=0)


class Population(_Model):
    """A parsed population model (names not yet checked against a study: see `check`)."""

    study: str
    version: int | str = 1
    organisations: Organisations
    background: dict[str, dict[int | str, Probability]] = Field(default_factory=dict)
    exogenous: tuple[str, ...]
    correlations: dict[str, Annotated[float, Field(gt=-1, lt=1)]] = Field(default_factory=dict)
    structural: dict[str, dict[str, float]]
    covariate_paths: dict[str, tuple[CovariatePath, ...]] = Field(default_factory=dict)
    dimensions: dict[str, Annotated[float, Field(gt=-1, lt=1)]]
    answer_scales: dict[str, tuple[float, ...]]
    scales: dict[str, ScaleModel]
    single_items: dict[str, SingleItem] = Field(default_factory=dict)
    open_questions: dict[str, OpenQuestion] = Field(default_factory=dict)
    mess: Mess = Mess()
    timing: Timing

    def latent_names(self) -> list[str]:
        """Every latent variable: exogenous, then prof, perf and the dimension factors."""
        return [*self.exogenous, PROF, PERF, *self.dimensions]

    def correlation_matrix(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        names = list(self.exogenous)
        matrix = np.eye(len(names))
        for key, value in self.correlations.items():
            a, b = _pair(key)
            i, j = names.index(a), names.index(b)
            matrix[i, j] = matrix[j, i] = value
        return matrix

    def single_item_factor(self, variable: str, item: PoissonCount) -> str:
        if item.factor is not None:
            return item.factor
        prefix = variable.rsplit("_", 1)[0]
        if prefix in self.scales:
            return self.scales[prefix].factor
        raise PopulationError(
            f"single_items.{variable}: say which latent variable drives it (factor: ...)"
        )

    def share_base(self, variable: str, item: ShareOf) -> str:
        if item.of is not None:
            return item.of
        before = None
        for name, spec in self.single_items.items():
            if name == variable:
                break
            if isinstance(spec, LinearNumber):
                before = name
        if before is None:
            raise PopulationError(
                f"single_items.{variable}: a share needs a number it is a share of (of: ...)"
            )
        return before


def _pair(key: str) -> tuple[str, str]:
    parts = [p.strip() for p in key.split("~~")]
    if len(parts) != 2 or not all(parts):
        raise PopulationError(f"correlations: {key!r} is not of the form 'a ~~ b'")
    return parts[0], parts[1]


def _location(loc: tuple[str | int, ...]) -> str:
    # Union members appear in pydantic's location as class names; they say nothing to an author.
    names = {"GateItem", "LatentItem", "PoissonCount", "LinearNumber", "ShareOf"}
    return ".".join(str(p) for p in loc if str(p) not in names) or "(top level)"


def parse_population(data: object, source: str = "population.yaml") -> Population:
    """Build a population model from parsed YAML, with a located error for every problem."""
    if not isinstance(data, dict):
        raise PopulationError(f"{source}: expected a mapping of fields, not {type(data).__name__}")
    try:
        return Population.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen: set[str] = set()
        for err in exc.errors():
            where = _location(tuple(err["loc"]))
            if where in seen:
                continue
            seen.add(where)
            problems.append(f"{where}: {err['msg']}")
        raise PopulationError(f"{source}: " + "; ".join(problems[:8])) from None


def load_population(path: Path) -> Population:
    """Read and parse a population file (not yet checked against a study)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PopulationError(f"cannot read the population model {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PopulationError(f"{path.name}: not valid YAML: {exc}") from None
    return parse_population(data, path.name)


def _close_to_one(total: float) -> bool:
    return math.isclose(total, 1.0, abs_tol=1e-6)


def _substantive_codes(study: Study, item: Item) -> list[int]:
    return [c.code for c in study.choices_of(item) if not c.missing]


def check(population: Population, study: Study) -> None:
    """Check every name and value of `population` against `study`; raises `PopulationError`."""
    problems: list[str] = []
    if population.study != study.id:
        problems.append(f"study: the model is for {population.study!r}, not {study.id!r}")
    latents = population.latent_names()
    duplicates = {n for n in latents if latents.count(n) > 1}
    if duplicates:
        problems.append(f"latent variables declared twice: {', '.join(sorted(duplicates))}")
    known = set(latents)
    items: dict[str, Item] = {}
    owner: dict[str, Item] = {}
    for _page, item in study.items():
        items[item.id] = item
        for variable in item.variables():
            owner[variable] = item

    for key in population.correlations:
        try:
            a, b = _pair(key)
        except PopulationError as exc:
            problems.append(str(exc))
            continue
        for name in (a, b):
            if name not in population.exogenous:
                problems.append(f"correlations.{key}: {name!r} is not an exogenous variable")
        if a == b:
            problems.append(f"correlations.{key}: a variable with itself")
    if not problems:
        eigen = np.linalg.eigvalsh(population.correlation_matrix())
        if eigen.min() <= 1e-8:
            problems.append(
                "correlations: the correlation matrix of the exogenous variables is not positive "
                f"definite (smallest eigenvalue {eigen.min():.3f})"
            )
    for name in population.organisations.icc:
        if name not in known:
            problems.append(f"organisations.icc.{name}: unknown latent variable")
    if not _close_to_one(sum(population.organisations.org_type.values())):
        problems.append("organisations.org_type: the probabilities do not add up to 1")

    for outcome, paths in population.structural.items():
        if outcome not in (PROF, PERF):
            problems.append(f"structural.{outcome}: only {PROF} and {PERF} have paths")
        for predictor in paths:
            if predictor not in population.exogenous and not (
                outcome == PERF and predictor == PROF
            ):
                problems.append(f"structural.{outcome}.{predictor}: not a possible predictor")
    for outcome, covariates in population.covariate_paths.items():
        if outcome not in (PROF, PERF):
            problems.append(f"covariate_paths.{outcome}: only {PROF} and {PERF} have paths")
        for path in covariates:
            where = f"covariate_paths.{outcome}.{path.variable}"
            dist = population.background.get(path.variable)
            if dist is None:
                problems.append(f"{where}: not a background variable with a distribution")
                continue
            per = path.per.split()
            if per == ["code", "step"]:
                continue
            if len(per) != 2 or per[0] != "code" or not per[1].lstrip("-").isdigit():
                problems.append(f"{where}: per must be 'code step' or 'code N', not {path.per!r}")
            elif int(per[1]) not in dist:
                problems.append(f"{where}: code {per[1]} is not in its distribution")

    for name in population.dimensions:
        if name in population.exogenous:
            problems.append(f"dimensions.{name}: also an exogenous variable")

    for name, thresholds in population.answer_scales.items():
        if name not in study.choice_lists:
            problems.append(f"answer_scales.{name}: the study has no choice list {name!r}")
        elif list(thresholds) != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            problems.append(f"answer_scales.{name}: thresholds must increase")
        else:
            codes = [c for c in study.choice_lists[name] if not c.missing]
            if len(thresholds) != len(codes) - 1:
                problems.append(
                    f"answer_scales.{name}: {len(codes)} answer codes need "
                    f"{len(codes) - 1} thresholds, not {len(thresholds)}"
                )

    plan = {scale.id: scale for scale in study.scales}
    for name, spec in population.scales.items():
        where = f"scales.{name}"
        scale = plan.get(name)
        if scale is None:
            problems.append(f"{where}: the study's analysis plan has no scale {name!r}")
            continue
        if spec.factor not in known:
            problems.append(f"{where}.factor: unknown latent variable {spec.factor!r}")
        for field in ("loadings", "intercepts"):
            count = len(getattr(spec, field))
            if count != len(scale.items):
                problems.append(
                    f"{where}.{field}: {count} values for the scale's {len(scale.items)} items"
                )
        for variable in scale.items:
            scale_item = owner.get(variable)
            if scale_item is None or scale_item.choices is None:
                problems.append(f"{where}: item {variable} has no answer scale")
            elif scale_item.choices not in population.answer_scales:
                problems.append(
                    f"{where}: no thresholds for {variable}'s answer scale "
                    f"{scale_item.choices!r} (answer_scales)"
                )
    missing_scales = [s for s in plan if s not in population.scales]
    if missing_scales:
        problems.append(f"scales: no model for the plan's scales {', '.join(missing_scales)}")

    for variable, single in population.single_items.items():
        where = f"single_items.{variable}"
        single_item = owner.get(variable)
        if single_item is None:
            problems.append(f"{where}: the study has no variable {variable!r}")
            continue
        try:
            _check_single(population, study, variable, single_item, single, known)
        except PopulationError as exc:
            problems.append(f"{where}: {exc}")

    for variable, dist in population.background.items():
        where = f"background.{variable}"
        if not _close_to_one(sum(dist.values())):
            problems.append(f"{where}: the probabilities do not add up to 1")
        if variable == "language":
            unknown = [str(k) for k in dist if str(k) not in study.languages]
            if unknown:
                problems.append(f"{where}: the study has no language {', '.join(unknown)}")
            continue
        background_item = owner.get(variable)
        if background_item is None:
            problems.append(f"{where}: the study has no variable {variable!r}")
            continue
        allowed = {c.code for c in study.choices_of(background_item)}
        bad = [str(k) for k in dist if not isinstance(k, int) or k not in allowed]
        if bad:
            problems.append(f"{where}: codes {', '.join(bad)} are not in its choice list")

    for variable in population.open_questions:
        open_item = items.get(variable)
        if open_item is None or open_item.type not in (ItemType.TEXT, ItemType.LONGTEXT):
            problems.append(f"open_questions.{variable}: not an open question of the study")
        low, high = population.open_questions[variable].length
        if low > high:
            problems.append(f"open_questions.{variable}.length: the range is reversed")
    if problems:
        raise PopulationError("; ".join(problems))


def _check_single(
    population: Population,
    study: Study,
    variable: str,
    item: Item,
    single: SingleItem,
    known: set[str],
) -> None:
    if isinstance(single, GateItem):
        codes = {c.code for c in study.choices_of(item)}
        if not {0, 1} <= codes:
            raise PopulationError("a yes/no gate needs the codes 1 (yes) and 0 (no)")
        if single.latent not in known:
            raise PopulationError(f"unknown latent variable {single.latent!r}")
        if single.dont_know and not any(c.missing for c in study.choices_of(item)):
            raise PopulationError("dont_know is set but the item has no 'weet ik niet' choice")
    elif isinstance(single, LatentItem):
        if single.factor not in known:
            raise PopulationError(f"unknown latent variable {single.factor!r}")
        if single.answer_scale not in population.answer_scales:
            raise PopulationError(f"no thresholds for answer scale {single.answer_scale!r}")
        if item.choices != single.answer_scale:
            raise PopulationError(f"the item's answer scale is {item.choices!r}")
    elif isinstance(single, PoissonCount):
        if item.type is not ItemType.INTEGER:
            raise PopulationError("a count must be an integer item")
        if population.single_item_factor(variable, single) not in known:
            raise PopulationError("unknown latent variable")
    elif isinstance(single, LinearNumber):
        if item.type not in (ItemType.INTEGER, ItemType.DECIMAL):
            raise PopulationError("a number must be an integer or decimal item")
        if single.latent not in known:
            raise PopulationError(f"unknown latent variable {single.latent!r}")
        if single.min > single.max:
            raise PopulationError("min is above max")
    else:
        base = population.share_base(variable, single)
        if base not in population.single_items:
            raise PopulationError(f"its base {base!r} is not a single item")
        mean, sd = single.share_mean, single.share_sd
        if sd**2 >= mean * (1 - mean):
            raise PopulationError("share_sd is too large for a Beta distribution with this mean")
