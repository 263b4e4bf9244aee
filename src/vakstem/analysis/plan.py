"""Runs a study's declared analysis plan (STUDY.md, steps 1-8) on its tidy response table and
returns one results object: every number of the report, as plain JSON-ready data.

The data always arrive as the csv text of the tidy table (`vakstem.export`), whether read from
the store, from an export file (`--data`) or built from records in memory, so the hash in the
results is the SHA-256 an export manifest would give for the same table. Each step runs on its
own: a step that cannot run (too few rows, a model that does not converge) is reported with its
reason and the other steps still run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sqlalchemy.engine import Engine
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import vakstem
from vakstem.analysis import sem
from vakstem.analysis.multilevel import cluster_robust_ols, icc, random_intercept
from vakstem.analysis.plan_steps import DEFAULT_SEED, STEPS
from vakstem.analysis.quality import QualityResult, assess_quality
from vakstem.analysis.reliability import scale_reliability
from vakstem.analysis.scoring import scale_scores
from vakstem.analysis.sem import api as sem_api
from vakstem.analysis.sem.errors import SemError
from vakstem.analysis.sem.partable import build_partable
from vakstem.analysis.sem.syntax import parse_model
from vakstem.export.api import stream_export
from vakstem.export.database import count_excluded
from vakstem.export.formats import TableData
from vakstem.export.formats.csv_format import iter_csv
from vakstem.export.missing import missing_codes_of
from vakstem.export.relevance import expression_relevance
from vakstem.export.table import ExportOptions, ResponseRecord, TableLayout
from vakstem.instrument.schema import ItemType, ModelSpec, Study, text_in

#: Bootstrap draws when neither the plan nor the caller says.
DEFAULT_BOOTSTRAP = 1000
#: Open-answer themes when the plan declares none: a theme counts an answer when any of its
#: keywords occurs in it (lower case, as a word start), Dutch first with English equivalents.
DEFAULT_THEMES: dict[str, tuple[str, ...]] = {
    "werkdruk_caseload": ("werkdruk", "caseload", "druk", "tijd", "workload", "time"),
    "scholing": ("scholing", "opleiding", "training", "cursus", "leren", "learn"),
    "intervisie_collegas": ("intervisie", "collega", "overleg", "peer", "colleague"),
    "beslisruimte_vertrouwen": ("ruimte", "vertrouw", "beslis", "vrijheid", "room", "trust"),
    "administratie_systemen": ("administratie", "systeem", "systemen", "paperwork", "system"),
    "leidinggevende": ("leidinggevende", "steun", "manager", "back"),
    "samenwerking": ("samenwerk", "werkgever", "partner", "afdeling", "employer"),
    "sturing_op_aantallen": ("aantallen", "target", "cijfers", "numbers"),
}
#: Columns an analysis table must have besides the plan's variables.
META_COLUMNS = ("response_id", "status", "started_at", "completed_at", "is_test")


class PlanError(ValueError):
    """The plan cannot start at all (unknown study, unusable data); the message says why."""


# --- the data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisData:
    """The tidy table as read for the analysis, and where it came from."""

    frame: pd.DataFrame
    sha256: str
    source: str
    filters: dict[str, Any] = field(default_factory=dict)
    #: Responses left out because a researcher excluded them in the console (None: not known,
    #: as for a csv file).
    excluded_by_researchers: int | None = None


def _read_csv_bytes(study: Study, content: bytes, source: str) -> AnalysisData:
    if not content.strip():
        raise PlanError(f"{source} is empty: there are no responses to analyse")
    try:
        frame = pd.read_csv(io.BytesIO(content), low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise PlanError(f"{source} is not a csv table the analysis can read: {exc}") from None
    missing_meta = [c for c in META_COLUMNS if c not in frame.columns]
    if missing_meta:
        raise PlanError(
            f"{source} lacks the metadata column(s) {', '.join(missing_meta)} of a Vakstem "
            "export; export with `vakstem export STUDY --format csv --all --open-text`"
        )
    absent = [v for v in plan_columns(study) if v not in frame.columns]
    if absent:
        raise PlanError(
            f"{source} lacks column(s) the analysis plan of {study.id!r} needs: {', '.join(absent)}"
        )
    return AnalysisData(frame, hashlib.sha256(content).hexdigest(), source)


def plan_columns(study: Study) -> list[str]:
    """The answer columns the plan reads: scale items and every observed model variable."""
    names: list[str] = []
    for scale in study.scales:
        names.extend(scale.items)
    settings = study.analysis.settings
    names.extend(settings.get("single_items", []))
    names.extend(settings.get("model_variables", {}).get("dummies", {}))
    if study.analysis.cluster:
        names.append(study.analysis.cluster)
    names.extend(study.analysis.groups)
    variables = set(study.variables())
    return [n for n in dict.fromkeys(names) if n in variables]


def data_from_csv(study: Study, path: str) -> AnalysisData:
    """An export csv (`vakstem export --format csv`) as analysis data; its hash is the file's."""
    try:
        with open(path, "rb") as fh:
            content = fh.read()
    except OSError as exc:
        raise PlanError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _read_csv_bytes(study, content, path)


def _options() -> ExportOptions:
    # Every response (not only completed ones) so that completion can be reported, test ones
    # too so that the exclusion rule can count them; open answers for step 8, as typed (the
    # csv is read here, not opened in a spreadsheet, so formula protection would only add a ').
    return ExportOptions(completed_only=False, include_test=True, open_text=True, raw_text=True)


def data_from_store(engine: Engine, study: Study) -> AnalysisData:
    """The study's responses in the store, through the csv export's own code."""
    options = _options()
    content = b"".join(stream_export(engine, study.id, "csv", options))
    data = _read_csv_bytes(study, content, f"the database (study {study.id!r})")
    # The export leaves out responses excluded in the console; the quality step reports them.
    excluded = count_excluded(engine, study.id, options)
    return AnalysisData(data.frame, data.sha256, data.source, options.as_dict(), excluded)


def data_from_records(
    study: Study, records: Sequence[ResponseRecord], source: str = "records in memory"
) -> AnalysisData:
    """Responses built in memory (tests, the simulator) through the same table and csv code."""
    options = _options()
    layout = TableLayout(study, options, expression_relevance())
    text = "".join(iter_csv(TableData(layout, iter([layout.rows(records)]), len(records))))
    data = _read_csv_bytes(study, text.encode("utf-8"), source)
    return AnalysisData(data.frame, data.sha256, source, options.as_dict())


#: Fieldwork start of simulated responses (their times are seconds after it).
SIMULATED_START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def simulated_records(
    study: Study, n: int, seed: int, *, mess: bool = True
) -> tuple[list[ResponseRecord], dict[str, Any]]:
    """`n` respondents drawn by the simulator's pure generator, as the records the tidy table
    takes (no database), with the population's true values. Refusals are left out (nothing of
    them is stored); dropouts are responses that are not completed."""
    from vakstem.simulate.api import population_for
    from vakstem.simulate.draw import draw_population
    from vakstem.simulate.truth import true_values

    population = population_for(study)
    frame = draw_population(study, population, n, seed, mess=mess)
    variables = study.variables()
    records = []
    for i, row in enumerate(frame.to_dict("records")):
        if row["_kind"] == "refused":
            continue
        started = SIMULATED_START + dt.timedelta(seconds=float(row["_start_s"]))
        dropped = int(row["_dropout_page"]) >= 0
        finished = started + dt.timedelta(seconds=float(row["_duration_s"]))
        records.append(
            ResponseRecord(
                response_id=f"sim{seed}-{i:05d}",
                instrument_version="simulated",
                language=str(row["_language"]),
                status="active" if dropped else "completed",
                answers={v: row[v] for v in variables if row[v] is not None},
                source=row["_source"] if isinstance(row["_source"], str) else None,
                is_test=row["_kind"] == "test",
                started_at=started,
                completed_at=None if dropped else finished,
            )
        )
    return records, true_values(study, population)


# --- results -------------------------------------------------------------------------------


@dataclass
class StepResult:
    """One step of the plan: `ok`, `skipped` (with the reason) or `failed` (with the error)."""

    id: str
    status: str = "ok"
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "message": self.message, **self.data}


@dataclass
class PlanResults:
    study: dict[str, Any]
    reproducibility: dict[str, Any]
    steps: dict[str, StepResult]

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = clean(
            {
                "study": self.study,
                "reproducibility": self.reproducibility,
                "steps": {k: v.to_dict() for k, v in self.steps.items()},
            }
        )
        return result

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def clean(value: Any) -> Any:
    """JSON-ready copy: numpy scalars as Python numbers, NaN and infinities as None."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


@dataclass(frozen=True)
class PlanOptions:
    seed: int = DEFAULT_SEED
    #: Bootstrap draws for the structural model; None takes the plan's declared number.
    bootstrap: int | None = None
    include_test: bool = False
    #: Steps to run (ids of `STEPS`); None runs them all. The others are reported as skipped.
    steps: tuple[str, ...] | None = None
    #: Processes for the bootstrap draws (the numbers do not depend on it).
    processes: int = 1


#: Called as a step starts: (step id, step number, number of steps).
Progress = Callable[[str, int, int], None]
#: Called after each bootstrap draw: (draws done, draws in all).
DrawProgress = Callable[[int, int], None]


def plan_text(study: Study) -> str:
    """The declared plan as text: scales and the analysis section of the study file."""
    plan = {
        "scales": [s.model_dump(mode="json", exclude_defaults=True) for s in study.scales],
        "analysis": study.analysis.model_dump(mode="json", exclude_defaults=True),
    }
    return yaml.safe_dump(plan, sort_keys=False, allow_unicode=True, width=100)


def run_plan(
    study: Study,
    data: AnalysisData,
    options: PlanOptions = PlanOptions(),
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    draw_progress: DrawProgress | None = None,
) -> PlanResults:
    """Run every step of the study's plan on `data` and collect the results."""
    text = plan_text(study)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    reproducibility = {
        "vakstem_version": vakstem.__version__,
        "lavaan_compat": sem_api.LAVAAN_COMPAT,
        "data_sha256": data.sha256,
        "data_source": data.source,
        "data_filters": data.filters,
        "rows_in_data": len(data.frame),
        "plan_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "plan_text": text,
        "seed": options.seed,
        "bootstrap": options.bootstrap,
        "include_test": options.include_test,
        "created_at": moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    study_info = {
        "id": study.id,
        "version_label": study.version,
        "title": {lang: text_in(study.title, lang) for lang in ("nl", "en")},
    }
    unknown = sorted(set(options.steps or ()) - set(STEPS))
    if unknown:
        raise PlanError(f"unknown step(s) {', '.join(unknown)}; the steps are {', '.join(STEPS)}")
    run = _Run(study, data, options, draw_progress)
    steps: dict[str, StepResult] = {}
    # One BLAS thread, as the bootstrap's draws have: the matrices are small (at most a few
    # hundred rows and columns), and OpenBLAS's threads on a small shared machine mostly wait
    # for each other (the invariance step's 252-parameter fit took 24 s of CPU with two
    # threads on a loaded two-core machine, 4.6 s with one).
    with threadpool_limits(limits=1, user_api="blas"):
        for number, step in enumerate(STEPS, start=1):
            if progress is not None:
                progress(step, number, len(STEPS))
            if options.steps is not None and step not in options.steps:
                steps[step] = StepResult(step, "skipped", "not requested in this run")
                continue
            steps[step] = run.step(step)
    return PlanResults(study_info, reproducibility, steps)


# --- the steps -----------------------------------------------------------------------------


def _settings(study: Study, key: str) -> dict[str, Any]:
    value = study.analysis.settings.get(key, {})
    return dict(value) if isinstance(value, Mapping) else {}


def _is_structural(model: ModelSpec) -> bool:
    return bool(re.search(r"(^|[^=~])~(?![~=])", model.syntax)) or ":=" in model.syntax


def _parameters(result: sem_api.FitResult, ops: Sequence[str]) -> list[dict[str, Any]]:
    frame = result.parameters
    rows = frame[frame["op"].isin(list(ops))]
    return [{str(k): v for k, v in r.items()} for r in rows.to_dict(orient="records")]


FIT_KEYS = (
    "npar",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "rmsea.ci.lower",
    "rmsea.ci.upper",
    "srmr",
    "chisq.scaled",
    "pvalue.scaled",
    "chisq.scaling.factor",
    "cfi.scaled",
    "tli.scaled",
    "cfi.robust",
    "tli.robust",
    "rmsea.scaled",
    "rmsea.ci.lower.scaled",
    "rmsea.ci.upper.scaled",
    "rmsea.robust",
    "rmsea.ci.lower.robust",
    "rmsea.ci.upper.robust",
    "aic",
    "bic",
    "logl",
)


def _fit_block(result: sem_api.FitResult) -> dict[str, Any]:
    measures = result.fit_measures
    return {k: measures[k] for k in FIT_KEYS if k in measures}


class _Run:
    """Holds the data as the steps prepare it; each `step` call catches its own failure."""

    def __init__(
        self,
        study: Study,
        data: AnalysisData,
        options: PlanOptions,
        draw_progress: DrawProgress | None = None,
    ) -> None:
        self.draw_progress = draw_progress
        self.study = study
        self.data = data
        self.options = options
        self.quality: QualityResult | None = None
        self.analysis: pd.DataFrame | None = None

    def step(self, name: str) -> StepResult:
        result = StepResult(name)
        try:
            getattr(self, f"_{name}")(result)
        except StepSkipped as exc:
            result.status, result.message = "skipped", str(exc)
        except Exception as exc:
            result.status = "failed"
            result.message = f"{type(exc).__name__}: {exc}"
        return result

    def _frame(self) -> pd.DataFrame:
        if self.analysis is None:
            raise StepSkipped("no analysis data: the data-quality step did not finish")
        return self.analysis

    # step 1
    def _quality(self, result: StepResult) -> None:
        quality = assess_quality(
            self.study, self.data.frame, include_test=self.options.include_test
        )
        self.quality = quality
        result.data.update(quality.to_dict())
        result.data["excluded_by_researchers"] = self.data.excluded_by_researchers
        kept = self.data.frame[quality.analysed_mask].reset_index(drop=True)
        if kept.empty:
            self.analysis = None
            raise StepSkipped(
                "no completed responses remain to analyse "
                f"({quality.completed} completed, {quality.excluded} excluded by the rule)"
            )
        self.analysis = prepare_analysis_frame(self.study, kept)

    # step 2
    def _scores(self, result: StepResult) -> None:
        frame = self._frame()
        rows = []
        for scale in self.study.scales:
            values = frame[scale.id]
            valid = values.dropna()
            rows.append(
                {
                    "scale": scale.id,
                    "label": {lang: text_in(scale.label, lang) for lang in ("nl", "en")},
                    "block": scale.block,
                    "n_items": len(scale.items),
                    "reverse": list(scale.reverse),
                    "n": int(valid.size),
                    "mean": float(valid.mean()) if valid.size else math.nan,
                    "sd": float(valid.std(ddof=1)) if valid.size > 1 else math.nan,
                    "min": float(valid.min()) if valid.size else math.nan,
                    "max": float(valid.max()) if valid.size else math.nan,
                    "min_answered": scale.min_answered,
                }
            )
        result.data["scales"] = rows
        result.data["rule"] = (
            "mean of the answered items after reverse-keying (min + max - x), given when at "
            "least min_answered of the items are answered"
        )

    # step 3
    def _reliability(self, result: StepResult) -> None:
        frame = self._frame()
        rows: list[dict[str, Any]] = []
        for scale in self.study.scales:
            try:
                rel = scale_reliability(self.study, frame, scale, numeric=True)
            except ValueError as exc:
                rows.append({"scale": scale.id, "problem": str(exc)})
                continue
            alpha = rel.alpha
            drops = {d.item: d.raw_alpha for d in alpha.alpha_drop}
            rows.append(
                {
                    "scale": scale.id,
                    "n": alpha.n,
                    "raw_alpha": alpha.raw_alpha,
                    "std_alpha": alpha.std_alpha,
                    "omega_tot": None if rel.omega is None else rel.omega.omega_tot,
                    "items": [
                        {
                            "item": s.item,
                            "reversed": s.reversed,
                            "r_drop": s.r_drop,
                            "alpha_if_dropped": drops.get(s.item, math.nan),
                        }
                        for s in alpha.item_stats
                    ],
                    "problem": None,
                }
            )
        result.data["scales"] = rows
        result.data["missing"] = "pairwise (as psych::alpha)"

    # step 4
    def _measurement(self, result: StepResult) -> None:
        frame = self._frame()
        models = []
        for spec in self.study.analysis.models:
            if _is_structural(spec):
                continue
            entry: dict[str, Any] = {"id": spec.id, "label": _labels(spec.label), "status": "ok"}
            try:
                _enough_rows(spec, frame)
                fitted = sem_api.fit(
                    spec.syntax,
                    frame,
                    estimator="MLR",
                    missing=spec.missing,
                    std_lv=spec.std_lv,
                    cluster=CLUSTER if spec.cluster else None,
                )
                entry.update(
                    {
                        "estimator": "ML and MLR",
                        "missing": spec.missing,
                        "nobs": sum(fitted.n_obs),
                        "cluster": self._cluster_entry(fitted),
                        "fit": _fit_block(fitted),
                        "loadings": _parameters(fitted, ["=~"]),
                        "warnings": fitted.warnings,
                    }
                )
            except (SemError, StepSkipped) as exc:
                entry.update({"status": "failed", "message": str(exc)})
            models.append(entry)
        result.data["models"] = models
        if models and all(m["status"] != "ok" for m in models):
            raise StepSkipped("; ".join(f"{m['id']}: {m['message']}" for m in models))

    def _cluster_entry(self, fitted: sem_api.FitResult) -> dict[str, Any] | None:
        """What a cluster-robust fit was robust to: the plan's cluster variable and how many
        clusters the rows fell in (a respondent without one counts as a cluster of one)."""
        if fitted.cluster is None:
            return None
        settings = _settings(self.study, "multilevel")
        return {
            "variable": settings.get("cluster") or self.study.analysis.cluster,
            "clusters": sum(fitted.n_clusters),
        }

    # step 5
    def _structural(self, result: StepResult) -> None:
        frame = self._frame()
        models = []
        for spec in self.study.analysis.models:
            if not _is_structural(spec):
                continue
            entry: dict[str, Any] = {"id": spec.id, "label": _labels(spec.label), "status": "ok"}
            try:
                _enough_rows(spec, frame)
                fitted = sem_api.fit(
                    spec.syntax,
                    frame,
                    estimator=spec.estimator,
                    missing=spec.missing,
                    std_lv=spec.std_lv,
                    cluster=CLUSTER if spec.cluster else None,
                )
                draws = self.options.bootstrap
                if draws is None:
                    draws = spec.bootstrap or DEFAULT_BOOTSTRAP
                boot = bootstrap_intervals(
                    fitted,
                    draws,
                    self.options.seed,
                    self.draw_progress,
                    processes=self.options.processes,
                )
                delta = {"intervals": standardized_intervals(fitted)}
                regressions = _with_boot(_with_boot(_parameters(fitted, ["~"]), boot), delta)
                defined = _with_boot(_with_boot(_parameters(fitted, [":="]), boot), delta)
                entry.update(
                    {
                        "estimator": spec.estimator,
                        "missing": spec.missing,
                        "nobs": sum(fitted.n_obs),
                        "cluster": self._cluster_entry(fitted),
                        "fit": _fit_block(fitted),
                        "loadings": _parameters(fitted, ["=~"]),
                        "regressions": regressions,
                        "defined": defined,
                        "r2": _r_squared(fitted),
                        "bootstrap": boot["about"],
                        "warnings": fitted.warnings,
                    }
                )
            except (SemError, StepSkipped) as exc:
                entry.update({"status": "failed", "message": str(exc)})
            models.append(entry)
        result.data["models"] = models
        if not models:
            raise StepSkipped("the plan declares no structural model")
        if all(m["status"] != "ok" for m in models):
            raise StepSkipped("; ".join(f"{m['id']}: {m['message']}" for m in models))

    # step 6
    def _multilevel(self, result: StepResult) -> None:
        frame = self._frame()
        settings = _settings(self.study, "multilevel")
        cluster = settings.get("cluster") or self.study.analysis.cluster
        if not cluster:
            raise StepSkipped("the plan declares no cluster variable")
        outcomes = settings.get("icc") or [s.id for s in self.study.scales]
        result.data["cluster"] = cluster
        result.data["clusters"] = int(frame[CLUSTER].nunique())
        iccs = []
        for outcome in outcomes:
            try:
                iccs.append(icc(frame, outcome, CLUSTER).to_dict() | {"outcome": outcome})
            except ValueError as exc:
                iccs.append({"outcome": outcome, "problem": str(exc)})
        result.data["icc"] = iccs
        models = []
        for formula in settings.get("random_intercept", []):
            outcome, predictors = _formula(formula)
            entry: dict[str, Any] = {"formula": formula}
            try:
                mixed = random_intercept(frame, outcome, predictors, CLUSTER)
                robust = cluster_robust_ols(frame, outcome, predictors, CLUSTER)
                entry["random_intercept"] = mixed.to_dict()
                entry["cluster_robust"] = robust.to_dict()
            except ValueError as exc:
                entry["problem"] = str(exc)
            models.append(entry)
        result.data["models"] = models

    # step 7
    def _invariance(self, result: StepResult) -> None:
        frame = self._frame()
        settings = _settings(self.study, "invariance")
        groups = settings.get("groups") or list(self.study.analysis.groups)
        model_ids = settings.get("models") or [
            m.id for m in self.study.analysis.models if not _is_structural(m)
        ]
        min_size = int(settings.get("min_group_size", 50))
        specs = {m.id: m for m in self.study.analysis.models}
        tests = []
        for group in groups:
            for model_id in model_ids:
                spec = specs.get(model_id)
                entry: dict[str, Any] = {"model": model_id, "group": group}
                tests.append(entry)
                if spec is None or group not in frame.columns:
                    what = "model" if spec is None else "grouping variable"
                    entry.update({"status": "skipped", "message": f"unknown {what}"})
                    continue
                values = frame[group].dropna()
                counts = {str(_plain(k)): int(v) for k, v in values.value_counts().items()}
                entry["group_sizes"] = dict(sorted(counts.items()))
                small = {k: v for k, v in counts.items() if v < min_size}
                kept = [k for k, v in counts.items() if v >= min_size]
                entry["left_out"] = small
                if len(kept) < 2:
                    entry.update(
                        {
                            "status": "skipped",
                            "message": f"fewer than two groups of {group!r} have at least "
                            f"{min_size} respondents (sizes: "
                            + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
                            + ")",
                        }
                    )
                    continue
                subset = frame[frame[group].map(lambda v: str(_plain(v))).isin(kept)].copy()
                subset[GROUP] = subset[group].map(lambda v: str(_plain(v)))
                subset = subset.sort_values(GROUP, kind="stable").reset_index(drop=True)
                too_small, caution = _group_sizes(spec, subset)
                if too_small:
                    entry.update({"status": "failed", "message": too_small})
                    continue
                entry["warnings"] = [caution] if caution else []
                try:
                    steps = _invariance_sequence(spec, subset)
                except SemError as exc:
                    entry.update({"status": "failed", "message": str(exc)})
                    continue
                entry.update({"status": "ok", "steps": steps})
        result.data["tests"] = tests
        result.data["min_group_size"] = min_size
        if tests and all(t["status"] != "ok" for t in tests):
            raise StepSkipped(
                "; ".join(f"{t['model']} by {t['group']}: {t['message']}" for t in tests)
            )

    # step 8
    def _open_answers(self, result: StepResult) -> None:
        frame = self._frame()
        settings = _settings(self.study, "open_text")
        k_min = int(settings.get("k_min", self.study.settings.k_min))
        items = settings.get("items") or [
            item.id
            for _p, item in self.study.items()
            if item.type in (ItemType.TEXT, ItemType.LONGTEXT)
        ]
        declared = settings.get("themes")
        themes = (
            {str(k): tuple(str(w).lower() for w in v) for k, v in declared.items()}
            if isinstance(declared, Mapping)
            else DEFAULT_THEMES
        )
        result.data["method"] = (
            "keyword themes declared in the plan"
            if isinstance(declared, Mapping)
            else "Vakstem's built-in Dutch/English keyword list"
        ) + (
            ": an answer counts for a theme when a word in it starts with one of the theme's "
            "keywords (case ignored); an answer can count for several themes"
        )
        result.data["themes"] = {k: list(v) for k, v in themes.items()}
        result.data["k_min"] = k_min
        group: str | None = self.study.analysis.groups[0] if self.study.analysis.groups else None
        questions = []
        for item_id in items:
            if item_id not in frame.columns:
                questions.append({"item": item_id, "problem": "not in the data"})
                continue
            answers = frame[item_id].map(lambda v: v.strip() if isinstance(v, str) else "")
            given = answers[answers != ""]
            entry: dict[str, Any] = {
                "item": item_id,
                "label": _labels(getattr(self.study.item(item_id), "label", None)),
                "answered": int(given.size),
                "respondents": len(frame),
            }
            if given.size < k_min:
                entry["suppressed"] = f"fewer than {k_min} answers"
            else:
                entry["themes"] = {
                    theme: int(sum(_has_theme(text, words) for text in given))
                    for theme, words in themes.items()
                }
            if group and group in frame.columns:
                by_group = []
                for value, sub in frame.groupby(group, sort=True):
                    n = len(sub)
                    row: dict[str, Any] = {"group": str(_plain(value)), "respondents": n}
                    if n < k_min:
                        row["suppressed"] = f"group smaller than {k_min}"
                    else:
                        row["answered"] = int((answers.loc[sub.index] != "").sum())
                    by_group.append(row)
                entry["by_group"] = {"variable": group, "groups": by_group}
            questions.append(entry)
        result.data["questions"] = questions
        result.data["distributions"] = _distributions(self.study, frame, group, k_min)


class StepSkipped(Exception):
    """A step (or a model in it) cannot run on these data; the message says why."""


def _labels(text: Any) -> dict[str, str]:
    if text is None:
        return {}
    return {lang: text_in(text, lang) for lang in ("nl", "en")}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _has_theme(text: str, words: Sequence[str]) -> bool:
    tokens = re.findall(r"[\wÀ-ÿ']+", text.lower())
    return any(token.startswith(word) for token in tokens for word in words)


def _formula(formula: str) -> tuple[str, list[str]]:
    if "~" not in formula:
        raise PlanError(f"random-intercept model {formula!r} has no '~'")
    lhs, rhs = formula.split("~", 1)
    return lhs.strip(), [p.strip() for p in rhs.split("+") if p.strip()]


def _enough_rows(spec: ModelSpec, frame: pd.DataFrame) -> None:
    observed = [
        name
        for name in dict.fromkeys(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", spec.syntax))
        if name in frame.columns
    ]
    usable = int(frame[observed].notna().any(axis=1).sum()) if observed else 0
    if usable <= len(observed):
        raise StepSkipped(
            f"too few responses for model {spec.id!r}: {usable} usable rows for "
            f"{len(observed)} observed variables (a model needs more rows than variables, "
            "and in practice at least 200)"
        )


def _r_squared(fitted: sem_api.FitResult) -> dict[str, float]:
    frame = fitted.parameters
    endogenous = set(frame.loc[frame["op"] == "~", "lhs"])
    out = {}
    for name in sorted(endogenous):
        row = frame[(frame["op"] == "~~") & (frame["lhs"] == name) & (frame["rhs"] == name)]
        if len(row):
            out[name] = 1.0 - float(row["std.all"].iloc[0])
    return out


def _with_boot(rows: list[dict[str, Any]], boot: dict[str, Any]) -> list[dict[str, Any]]:
    intervals = boot["intervals"]
    for row in rows:
        key = f"{row['lhs']} {row['op']} {row['rhs']}"
        if key in intervals:
            row.update(intervals[key])
    return rows


def bootstrap_intervals(
    fitted: sem_api.FitResult,
    draws: int,
    seed: int,
    progress: DrawProgress | None = None,
    processes: int = 1,
) -> dict[str, Any]:
    """Percentile bootstrap intervals of the estimates (`boot.ci.lower/upper`) and of the
    standardised solution (`boot.std.lower/upper`): the SEM engine's bootstrap, whose numbers
    depend on the seed only, not on the number of processes."""
    return sem.bootstrap_intervals(fitted, draws, seed, processes=processes, progress=progress)


def standardized_intervals(fitted: sem_api.FitResult) -> dict[str, dict[str, float]]:
    """Delta-method intervals of the standardised solution (the SEM engine's, as lavaan's
    standardizedSolution)."""
    return sem.standardized_intervals(fitted)


def _group_sizes(spec: ModelSpec, frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """Judged before fitting the configural model, from each group's usable rows (complete
    ones for listwise, any observed value for FIML): why it cannot be estimated in some group,
    and a caution about groups with little data; None for either when there is none (or when
    a model variable is not a column: the fit itself names it).

    A group with no more usable rows than observed variables has a singular covariance matrix,
    so there is no ML estimate (the optimiser would spend all its iterations finding that
    out). A group with fewer rows than the model's free parameters per group is still fitted:
    the model is identified, but its estimates there rest on little data and the difference
    tests lose power."""
    table = build_partable(parse_model(spec.syntax), n_groups=1, meanstructure=True)
    observed = [v for v in table.ov if v in frame.columns]
    if len(observed) < len(table.ov):
        return None, None
    values = frame[observed]
    usable = (
        values.notna().all(axis=1) if spec.missing == "listwise" else values.notna().any(axis=1)
    )
    sizes = {str(g): int(n) for g, n in usable.groupby(frame[GROUP]).sum().items()}
    variables, free = len(observed), table.n_free
    singular = {g: n for g, n in sizes.items() if n <= variables}
    if singular:
        return (
            "the configural model cannot be estimated in "
            + ", ".join(f"group {g!r} ({n} usable rows)" for g, n in singular.items())
            + f": with {variables} observed variables a group needs more than {variables} "
            "usable rows for its covariance matrix; raise min_group_size or leave the group out"
        ), None
    small = {g: n for g, n in sizes.items() if n < free}
    if not small:
        return None, None
    return None, (
        ", ".join(f"group {g!r} has {n} usable rows" for g, n in small.items())
        + f" for {free} free parameters per group: its estimates rest on little data and the "
        "difference tests have little power; read the comparison with care"
    )


def _invariance_sequence(spec: ModelSpec, frame: pd.DataFrame) -> list[dict[str, Any]]:
    fits: dict[str, sem_api.FitResult] = {}
    previous: sem_api.FitResult | None = None
    for name, equal in (
        ("configural", ()),
        ("metric", ("loadings",)),
        ("scalar", ("loadings", "intercepts")),
    ):
        # Each more constrained model starts from the previous one's estimates, a few
        # iterations from its own optimum instead of a cold start.
        previous = fits[name] = sem_api.fit(
            spec.syntax,
            frame,
            estimator=spec.estimator,
            missing=spec.missing,
            group=GROUP,
            group_equal=equal,
            start_from=previous,
        )
    tests = sem_api.lrt(*fits.values())
    steps = []
    for i, (name, fitted) in enumerate(fits.items()):
        row = tests.iloc[i]
        steps.append(
            {
                "step": name,
                "group_equal": list(fitted.group_equal),
                "fit": _fit_block(fitted),
                "chisq_diff": float(row["chisq_diff"]),
                "df_diff": float(row["df_diff"]),
                "pvalue_diff": float(row["pvalue"]),
            }
        )
    return steps


# --- the analysis table ----------------------------------------------------------------------

#: Column names the plan adds for its own bookkeeping (never questionnaire variables).
CLUSTER = "_cluster_id"
GROUP = "_group"


def prepare_analysis_frame(study: Study, frame: pd.DataFrame) -> pd.DataFrame:
    """The tidy table ready for the models: missing codes as NaN, scale scores, the plan's
    model variables (dummies, rescaled numbers) and the cluster id of each respondent."""
    codes = set(missing_codes_of(study).all())
    columns: dict[str, pd.Series] = {}
    variables = set(study.variables())
    for name in frame.columns:
        column = frame[name]
        if name in variables and pd.api.types.is_numeric_dtype(column.dtype):
            column = column.astype("float64").mask(column.isin(codes))
        columns[name] = column
    data = pd.DataFrame(columns, index=frame.index)
    scores = scale_scores(study, data)
    extra: dict[str, pd.Series] = {}
    for scale in study.scales:
        if scale.id not in variables:
            extra[scale.id] = scores[scale.id]
    model_variables = _settings(study, "model_variables")
    for variable, spec in (model_variables.get("dummies") or {}).items():
        source = data[variable]
        for code, name in zip(spec.get("codes", []), spec.get("names", []), strict=False):
            extra[name] = (source == code).astype("float64").where(source.notna())
    for variable, spec in (model_variables.get("rescale") or {}).items():
        extra[variable] = data[variable] * float(spec.get("factor", 1.0))
    extra[CLUSTER] = _cluster_ids(study, data)
    rest = data.drop(columns=[c for c in extra if c in data.columns])
    return pd.concat([rest, pd.DataFrame(extra, index=data.index)], axis=1)


def _cluster_ids(study: Study, data: pd.DataFrame) -> pd.Series:
    settings = _settings(study, "multilevel")
    cluster = settings.get("cluster") or study.analysis.cluster
    if not cluster or cluster not in data.columns:
        return pd.Series(data["response_id"].astype(str), index=data.index)
    other = settings.get("other_code")
    other_var = settings.get("other_cluster_variable")

    def ident(row: pd.Series) -> str:
        value = row[cluster]
        if pd.isna(value):
            return f"respondent:{row['response_id']}"
        if other is not None and float(value) == float(other):
            # "Other organisation" is no organisation: a respondent is their own cluster
            # unless they gave the organisation code the team handed out.
            code = row.get(other_var) if other_var else None
            if code is not None and not pd.isna(code):
                return f"code:{_plain(code)}"
            return f"respondent:{row['response_id']}"
        return f"{cluster}:{_plain(value)}"

    cols = [c for c in (cluster, other_var, "response_id") if c and c in data.columns]
    return data[cols].apply(ident, axis=1).astype(str)


def _distributions(
    study: Study, frame: pd.DataFrame, group: str | None, k_min: int
) -> dict[str, Any]:
    """Five-number summaries of every scale by group (groups under k_min left out)."""
    if not group or group not in frame.columns:
        return {"variable": None, "scales": []}
    item = study.item(group)
    labels = {}
    if item is not None:
        for choice in study.choices_of(item):
            labels[str(choice.code)] = _labels(choice.label)
    scales = []
    for scale in study.scales:
        groups = []
        for value, sub in frame.groupby(group, sort=True):
            key = str(_plain(value))
            scores = sub[scale.id].dropna()
            row: dict[str, Any] = {
                "group": key,
                "label": labels.get(key, {}),
                "n": int(scores.size),
            }
            if scores.size < k_min:
                row["suppressed"] = f"fewer than {k_min} scores"
            else:
                q = np.percentile(scores.to_numpy(), [0, 25, 50, 75, 100])
                row.update(
                    {
                        "min": q[0],
                        "q1": q[1],
                        "median": q[2],
                        "q3": q[3],
                        "max": q[4],
                        "mean": float(scores.mean()),
                    }
                )
            groups.append(row)
        scales.append({"scale": scale.id, "label": _labels(scale.label), "groups": groups})
    return {"variable": group, "scales": scales}


def iter_numbers(value: Any) -> Iterator[float]:
    """Every number in a results dictionary (for tests that compare report and JSON)."""
    if isinstance(value, Mapping):
        for v in value.values():
            yield from iter_numbers(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from iter_numbers(v)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield float(value)
