"""The pure generator: respondents drawn from a population model into a data frame, without a
database. One row per response, one column per study variable holding the value as the service
stores it (a code, a number, a text, or None), plus metadata columns starting with `_`.

Everything is vectorised over respondents, so 100,000 rows take seconds; the database writer
(`writer.py`) then submits each row page by page through the respondent service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from vakstem.instrument.expressions import compile_expression, references
from vakstem.instrument.schema import Item, ItemType, Study
from vakstem.service import conditions
from vakstem.simulate import texts
from vakstem.simulate.model import Array, LatentModel, build, covariate_vector
from vakstem.simulate.population import (
    GateItem,
    LatentItem,
    LinearNumber,
    PoissonCount,
    Population,
    PopulationError,
    ShareOf,
    check,
)
from vakstem.studies.klantmanagers.organisations import (
    OTHER_ORGANISATION,
    Municipality,
    load_municipalities,
)

#: A column of any dtype (codes as objects, cluster numbers as integers, masks).
Vector = np.ndarray[Any, np.dtype[Any]]

#: Kinds of respondent. Refused, test and dropout are what the database records; speeders,
#: straightliners and duplicates complete the questionnaire in their own way.
KINDS = ("normal", "refused", "test", "dropout", "speeder", "straightliner", "duplicate")
#: Where respondents come from when the study lists sources (newsletter first: the study
#: invites through the professional association's newsletter).
SOURCE_WEIGHTS = {"nieuwsbrief": 0.6, "website": 0.15, "linkedin": 0.15, "direct": 0.1}
#: Days of fieldwork over which starts are spread.
FIELDWORK_DAYS = 28


class SimulationError(ValueError):
    """A simulation cannot be run as asked; the message says why."""


@dataclass(frozen=True)
class ObservedItem:
    """An answer-scale variable drawn by cutting y* = intercept + loading * factor + e."""

    variable: str
    factor: str
    loading: float
    intercept: float
    unique: float
    thresholds: tuple[float, ...]
    codes: tuple[int, ...]


def observed_items(study: Study, population: Population) -> list[ObservedItem]:
    """Every variable drawn from thresholds: the scales' items, single items on a latent
    variable, and yes/no gates (a gate is its latent propensity without error)."""
    owner = {v: item for _p, item in study.items() for v in item.variables()}
    plan = {s.id: s for s in study.scales}
    result: list[ObservedItem] = []
    for name, spec in population.scales.items():
        for variable, loading, intercept in zip(
            plan[name].items, spec.loadings, spec.intercepts, strict=True
        ):
            item = owner[variable]
            assert item.choices is not None
            result.append(
                ObservedItem(
                    variable,
                    spec.factor,
                    loading,
                    intercept,
                    1 - loading**2,
                    tuple(population.answer_scales[item.choices]),
                    tuple(c.code for c in study.choices_of(item) if not c.missing),
                )
            )
    for variable, single in population.single_items.items():
        if isinstance(single, LatentItem):
            codes = tuple(c.code for c in study.choices_of(owner[variable]) if not c.missing)
            result.append(
                ObservedItem(
                    variable,
                    single.factor,
                    single.loading,
                    single.intercept,
                    1 - single.loading**2,
                    tuple(population.answer_scales[single.answer_scale]),
                    codes,
                )
            )
        elif isinstance(single, GateItem):
            result.append(
                ObservedItem(variable, single.latent, 1.0, 0.0, 0.0, (single.threshold,), (0, 1))
            )
    return result


def _draw_codes(rng: np.random.Generator, dist: dict[Any, float], n: int) -> Vector:
    keys = list(dist)
    probs = np.array([dist[k] for k in keys], dtype=float)
    picks = rng.choice(len(keys), size=n, p=probs / probs.sum())
    return np.array(keys, dtype=object)[picks]


def _sqrt_psd(matrix: Array) -> Array:
    """A square root of a positive semi-definite matrix (zero rows for constant sources)."""
    values, vectors = np.linalg.eigh(matrix)
    root: Array = vectors * np.sqrt(np.clip(values, 0, None))
    return root


@dataclass(frozen=True)
class _Organisations:
    codes: list[int]  # the organisatie code of each cluster
    org_codes: list[int | None]  # org_code of "other" clusters, None for municipalities
    types: list[int]
    cluster: Vector  # cluster index of each respondent
    reports_code: Vector  # whether an "other" respondent enters the organisation code


def _organisations(
    rng: np.random.Generator, population: Population, n: int, count: int
) -> _Organisations:
    spec = population.organisations
    municipalities: list[Municipality] = load_municipalities()
    if not 0 < count <= len(municipalities):
        raise SimulationError(
            f"organisations must be between 1 and {len(municipalities)} (the municipality "
            f"list), not {count}"
        )
    weights = np.array([spec.size_weights.get(m.size_class, 1.0) for m in municipalities])
    # Gumbel top-k: K municipalities without replacement, large ones more likely (they employ
    # more klantmanagers and so are more likely to be in a sample).
    keys = np.log(weights) + rng.gumbel(size=len(municipalities))
    chosen = [municipalities[i] for i in np.argsort(-keys)[:count]]
    low, high = spec.other_code_range
    others = list(range(low, high + 1)) if spec.other_share > 0 else []
    codes = [m.code for m in chosen] + [OTHER_ORGANISATION] * len(others)
    org_codes: list[int | None] = [None] * len(chosen) + list(others)
    type_codes = list(spec.org_type)
    probs = np.array([spec.org_type[c] for c in type_codes])
    types = [type_codes[i] for i in rng.choice(len(type_codes), size=len(codes), p=probs)]
    # Unequal cluster sizes: weight by size class, times a log-normal factor per organisation.
    size = np.array([spec.size_weights.get(m.size_class, 1.0) for m in chosen])
    size = size * rng.lognormal(0.0, 0.5, size=len(chosen))
    is_other = rng.random(n) < spec.other_share if others else np.zeros(n, dtype=bool)
    cluster = rng.choice(len(chosen), size=n, p=size / size.sum())
    if others:
        cluster = np.where(is_other, len(chosen) + rng.integers(0, len(others), size=n), cluster)
    reports = rng.random(n) < spec.other_code_share
    return _Organisations(codes, org_codes, types, cluster, reports)


def _cut(ystar: Array, thresholds: tuple[float, ...], codes: tuple[int, ...]) -> Vector:
    index = np.searchsorted(np.asarray(thresholds), ystar, side="left")
    return np.asarray(codes, dtype=np.int64)[index]


def _variables_of_pages(study: Study) -> list[list[str]]:
    return [[v for item in page.items for v in item.variables()] for page in study.pages]


Columns = dict[str, Vector]


def _relevance(study: Study, data: Columns, n: int) -> None:
    """Blank the answers of items a respondent is not shown, using the study's own conditions
    (grouped by the values the conditions read, so each pattern is evaluated once)."""
    refs: set[str] = set()
    for page in study.pages:
        for expr in [page.relevant, *(item.relevant for item in page.items)]:
            if expr is not None:
                refs |= references(compile_expression(expr))
    keys = sorted(r for r in refs if r in data)
    if not keys:
        return
    today = date(2000, 1, 1)
    patterns: dict[tuple[Any, ...], list[int]] = {}
    for row, key in enumerate(zip(*(data[k] for k in keys), strict=True)):
        patterns.setdefault(key, []).append(row)
    for key, rows in patterns.items():
        values = {k: v for k, v in zip(keys, key, strict=True) if v is not None}
        visible, _kept = conditions.clean_answers(study, values, today)
        index = np.asarray(rows)
        for _p, item in study.items():
            if item.id not in visible:
                for v in item.variables():
                    data[v][index] = None


def draw_population(
    study: Study,
    population: Population,
    n: int,
    seed: int,
    *,
    organisations: int | None = None,
    mess: bool = True,
    start: date | None = None,
) -> pd.DataFrame:
    """`n` respondents drawn from `population`, as the answers the service would store.

    With `mess=False` every respondent consents and completes with clean answers (for checking
    the generator against the population's exact values); otherwise the declared rates of
    refusals, test responses, dropouts, speeders, straightliners, duplicates, skipped items and
    *weet ik niet* apply. Metadata columns: `_cluster` (true organisation), `_kind`,
    `_dropout_page`, `_language`, `_source`, `_start_s` (seconds after the fieldwork start) and
    `_duration_s` (planned time to finish). `start`, the first day of fieldwork, places the
    weekends (default: a Monday).
    """
    if n <= 0:
        raise SimulationError(f"n must be at least 1, not {n}")
    check(population, study)
    count = population.organisations.default_count if organisations is None else organisations
    root = np.random.SeedSequence(seed)
    (
        rng_org,
        rng_back,
        rng_latent,
        rng_items,
        rng_mess,
        rng_text,
        rng_time,
        rng_kind,
    ) = (np.random.default_rng(s) for s in root.spawn(8))
    model: LatentModel = build(population)
    owner: dict[str, Item] = {v: item for _p, item in study.items() for v in item.variables()}
    variables = study.variables()
    data: dict[str, Any] = {v: np.full(n, None, dtype=object) for v in variables}

    orgs = _organisations(rng_org, population, n, count)
    cluster = orgs.cluster
    if "organisatie" in data:
        data["organisatie"] = np.array([orgs.codes[c] for c in cluster], dtype=object)
        other = np.array([orgs.codes[c] == OTHER_ORGANISATION for c in cluster])
        if "org_code" in data:
            data["org_code"] = np.array(
                [
                    orgs.org_codes[c] if r and o else None
                    for c, r, o in zip(cluster, orgs.reports_code, other, strict=True)
                ],
                dtype=object,
            )
    if "org_type" in data:
        data["org_type"] = np.array([orgs.types[c] for c in cluster], dtype=object)

    background: dict[str, Array] = {}
    for variable, dist in population.background.items():
        background[variable] = _draw_codes(rng_back, dist, n)
        if variable in data:
            data[variable] = background[variable].copy()
    languages = background.get("language", np.full(n, study.default_language, dtype=object))

    # Latent variables: organisation part + individual part + covariate shift.
    n_clusters = len(orgs.codes)
    root_b = _sqrt_psd(model.between)
    root_w = _sqrt_psd(model.within)
    sources = (rng_latent.standard_normal((n_clusters, root_b.shape[1])) @ root_b.T)[cluster]
    sources = sources + rng_latent.standard_normal((n, root_w.shape[1])) @ root_w.T
    cov = covariate_vector(
        model.covariates, {c.variable: background[c.variable] for c in model.covariates}
    )
    first_covariate = len(population.exogenous)
    sources[:, first_covariate : first_covariate + cov.shape[1]] += cov
    latent = sources @ model.loadings.T

    for spec in observed_items(study, population):
        factor = latent[:, model.index(spec.factor)]
        noise = rng_items.standard_normal(n) * np.sqrt(spec.unique)
        data[spec.variable] = _cut(
            spec.intercept + spec.loading * factor + noise, spec.thresholds, spec.codes
        ).astype(object)
    for variable, single in population.single_items.items():
        item = owner[variable]
        if isinstance(single, GateItem) and single.dont_know:
            missing = [c.code for c in study.choices_of(item) if c.missing]
            dk = rng_items.random(n) < single.dont_know
            data[variable] = np.where(dk, missing[0], data[variable])
        elif isinstance(single, PoissonCount):
            factor = latent[:, model.index(population.single_item_factor(variable, single))]
            counts = rng_items.poisson(np.exp(single.log_mean + single.slope * factor))
            upper = min(single.max, item.max if item.max is not None else single.max)
            data[variable] = np.clip(counts, item.min or 0, upper).astype(object)
        elif isinstance(single, LinearNumber):
            factor = latent[:, model.index(single.latent)]
            low = max(single.min, item.min if item.min is not None else single.min)
            high = min(single.max, item.max if item.max is not None else single.max)
            values = np.clip(np.rint(single.mean + single.sd * factor), low, high)
            data[variable] = values.astype(np.int64).astype(object)
    for variable, single in population.single_items.items():
        if isinstance(single, ShareOf):
            base = np.array(data[population.share_base(variable, single)], dtype=float)
            m, s = single.share_mean, single.share_sd
            k = m * (1 - m) / s**2 - 1
            share = rng_items.beta(m * k, (1 - m) * k, size=n)
            data[variable] = np.rint(base * share).astype(np.int64).astype(object)

    consent = [v for v in variables if owner[v].type is ItemType.CONSENT]
    for v in consent:
        data[v] = np.full(n, 1, dtype=object)

    meta: Columns = {"_cluster": cluster, "_language": languages}
    sources_list = [s for s in SOURCE_WEIGHTS if s in study.sources] or list(study.sources)
    if sources_list:
        weights = np.array([SOURCE_WEIGHTS.get(s, 0.1) for s in sources_list])
        meta["_source"] = np.array(sources_list, dtype=object)[
            rng_back.choice(len(sources_list), size=n, p=weights / weights.sum())
        ]
    else:
        meta["_source"] = np.full(n, None, dtype=object)
    meta["_kind"] = _kinds(rng_kind, population, n) if mess else np.full(n, "normal", dtype=object)
    if mess:
        _apply_mess(rng_mess, study, population, data, meta["_kind"], owner, consent)
    _relevance(study, data, n)
    _open_answers(rng_text, study, population, data, meta)
    meta["_dropout_page"] = _dropouts(rng_mess, study, data, meta["_kind"])
    _timing(rng_time, population, meta, start)
    if mess:
        _duplicates(rng_kind, data, meta)
    frame = pd.DataFrame({v: pd.Series(data[v], dtype=object) for v in variables})
    for name, values in meta.items():
        frame[name] = pd.Series(values, dtype=object if values.dtype == object else None)
    return frame


def _kinds(rng: np.random.Generator, population: Population, n: int) -> Vector:
    m = population.mess
    probs = {
        "refused": m.consent_refused,
        "test": m.test_responses,
        "dropout": m.dropout,
        "speeder": m.speeders,
        "straightliner": m.straightliners,
        "duplicate": m.duplicates,
    }
    total = sum(probs.values())
    if total >= 1:
        raise PopulationError(
            "mess: the rates of refusals, tests, dropouts, speeders, "
            "straightliners and duplicates add up to 1 or more"
        )
    names = ["normal", *probs]
    p = np.array([1 - total, *probs.values()])
    return np.array(names, dtype=object)[rng.choice(len(names), size=n, p=p)]


def _apply_mess(
    rng: np.random.Generator,
    study: Study,
    population: Population,
    data: Columns,
    kinds: Vector,
    owner: dict[str, Item],
    consent: list[str],
) -> None:
    n = len(kinds)
    matrix_vars = [v for v, item in owner.items() if item.type is ItemType.MATRIX]
    speeders = kinds == "speeder"
    if speeders.any():
        # Speeders click anywhere on the answer scales.
        single = [v for v, s in population.single_items.items() if isinstance(s, LatentItem)]
        for v in [*matrix_vars, *single]:
            codes = [c.code for c in study.choices_of(owner[v]) if not c.missing]
            data[v][speeders] = rng.choice(codes, size=int(speeders.sum())).astype(object)
    straight = kinds == "straightliner"
    if straight.any():
        # One column for every row of every matrix: mostly "often" / "agree".
        column = rng.choice(5, size=int(straight.sum()), p=[0.05, 0.1, 0.3, 0.4, 0.15])
        for v in matrix_vars:
            codes = [c.code for c in study.choices_of(owner[v]) if not c.missing]
            data[v][straight] = np.asarray(codes, dtype=object)[np.minimum(column, len(codes) - 1)]
    # Skipped items and "weet ik niet" (never on required items, never on gates that model
    # their own "weet ik niet"; straightliners answer everything).
    m = population.mess
    gates = {v for v, s in population.single_items.items() if isinstance(s, GateItem)}
    for v, item in owner.items():
        if item.type in (ItemType.NOTE, ItemType.CONSENT) or v in gates:
            continue
        if item.type in (ItemType.TEXT, ItemType.LONGTEXT) or item.required is True:
            continue
        draw = rng.random(n)
        data[v][(draw < m.item_nonresponse) & ~straight] = None
        dont_know = [c.code for c in study.choices_of(item) if c.missing]
        if dont_know:
            dk = (draw >= m.item_nonresponse) & (draw < m.item_nonresponse + m.dont_know)
            data[v][dk & ~straight & ~speeders] = dont_know[0]
    # A share of a number nobody gave cannot be checked against it: skip both.
    for v, spec in population.single_items.items():
        if isinstance(spec, ShareOf):
            base = population.share_base(v, spec)
            data[v][np.array([x is None for x in data[base]])] = None
    refused = kinds == "refused"
    for v in data:
        data[v][refused] = 0 if v in consent else None


def _open_answers(
    rng: np.random.Generator,
    study: Study,
    population: Population,
    data: Columns,
    meta: Columns,
) -> None:
    consented = meta["_kind"] != "refused"
    n = len(consented)
    for variable, spec in population.open_questions.items():
        if variable not in data:
            continue
        answers = np.full(n, None, dtype=object)
        writes = consented & (rng.random(n) < spec.answer_rate)
        low, high = spec.length
        item = study.item(variable)
        limit = item.max_length if item is not None and item.max_length else high
        for i in np.flatnonzero(writes):
            length = min(int(rng.integers(low, high + 1)), limit)
            answers[i] = texts.open_answer(rng, variable, str(meta["_language"][i]), length)
        data[variable] = answers


def _dropouts(rng: np.random.Generator, study: Study, data: Columns, kinds: Vector) -> Vector:
    """Page index at which each dropout leaves (-1: does not drop out): a page after consent,
    chosen with probability proportional to its number of variables. What the respondent would
    have answered there and after is blanked, so the frame holds what gets stored."""
    pages = _variables_of_pages(study)
    consent_page = max(
        (
            i
            for i, page in enumerate(study.pages)
            for item in page.items
            if item.type is ItemType.CONSENT
        ),
        default=-1,
    )
    candidates = [i for i in range(consent_page + 1, len(pages)) if pages[i]]
    result = np.full(len(kinds), -1, dtype=np.int64)
    dropouts = np.flatnonzero(kinds == "dropout")
    if not candidates or not len(dropouts):
        return result
    weights = np.array([len(pages[i]) for i in candidates], dtype=float)
    chosen = rng.choice(len(candidates), size=len(dropouts), p=weights / weights.sum())
    result[dropouts] = np.asarray(candidates)[chosen]
    for page in candidates:
        rows = result == page
        for later in pages[page:]:
            for v in later:
                data[v][rows] = None
    return result


def _timing(
    rng: np.random.Generator, population: Population, meta: Columns, start: date | None
) -> None:
    """Planned duration and start time (seconds after the fieldwork start) of each response.

    Starts follow an invitation in the newsletter on day 0 and a reminder on day 14, a third
    as many at weekends (klantmanagers answer at work), mostly in office hours."""
    n = len(meta["_kind"])
    days = np.arange(FIELDWORK_DAYS)
    first_weekday = start.weekday() if start is not None else 0
    weekend = (days + first_weekday) % 7 >= 5
    density = (
        0.55 * np.exp(-days / 3.0) / 3.0
        + 0.30 * np.where(days >= 14, np.exp(-(days - 14) / 2.5) / 2.5, 0.0)
        + 0.15 / FIELDWORK_DAYS
    ) * np.where(weekend, 1 / 3, 1.0)
    day = rng.choice(FIELDWORK_DAYS, size=n, p=density / density.sum())
    hour_peak = rng.choice(np.array([10.0, 14.0, 20.0]), size=n, p=[0.45, 0.45, 0.10])
    hour = np.clip(hour_peak + rng.normal(0, 1.5, size=n), 7.0, 23.0)
    meta["_start_s"] = day * 86_400.0 + hour * 3_600.0
    timing = population.timing
    duration = timing.median_total_seconds * np.exp(rng.normal(0, timing.sdlog, size=n))
    low, high = population.mess.speeder_time_fraction
    fraction = rng.uniform(low, high, size=n)
    speeders = meta["_kind"] == "speeder"
    meta["_duration_s"] = np.where(speeders, timing.median_total_seconds * fraction, duration)


def _duplicates(rng: np.random.Generator, data: Columns, meta: Columns) -> None:
    """A duplicate re-submits the answers of an earlier complete respondent a while later."""
    kinds = meta["_kind"]
    normal = np.flatnonzero(kinds == "normal")
    copied = [*data, "_cluster", "_language", "_source", "_duration_s"]
    for row in np.flatnonzero(kinds == "duplicate"):
        earlier = normal[normal < row]
        if not len(earlier):
            kinds[row] = "normal"
            continue
        original = int(rng.choice(earlier))
        for name in copied:
            columns = data if name in data else meta
            columns[name][row] = columns[name][original]
        later = meta["_start_s"][original] + float(rng.uniform(600, 3 * 86_400))
        meta["_start_s"][row] = min(later, FIELDWORK_DAYS * 86_400.0 - 3_600.0)
