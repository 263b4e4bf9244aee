"""Estimation on top of the engine: data checks, start values, the fit itself, standard errors
(expected information for ML, observed information for FIML, Huber-White sandwich for MLR), the
Yuan-Bentler scaled test statistic, the baseline and saturated models, standardised solutions and
defined parameters with delta-method standard errors."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from vakstem.analysis.sem.engine import (
    SCORE_BLOCK_ROWS,
    Array,
    GroupData,
    Model,
    check_information,
    em_saturated,
    group_loglik,
    moment_score_blocks,
    optimise,
    saturated_observed_information,
    vech_indices,
)
from vakstem.analysis.sem.errors import ConvergenceError, DataError, ModelSpecificationError
from vakstem.analysis.sem.partable import ParTable, Row
from vakstem.analysis.sem.syntax import evaluate


@dataclass
class TestResult:
    """Chi-square test of a fitted model against the saturated model."""

    chisq: float
    df: int
    scaling_factor: float = math.nan  # Yuan-Bentler (MLR only)
    trace_h1: float = math.nan
    trace_h0: float = math.nan
    h1_ndat: int = 0

    @property
    def pvalue(self) -> float:
        return float(stats.chi2.sf(self.chisq, self.df)) if self.df > 0 else math.nan


@dataclass
class Estimates:
    model: Model
    theta: Array
    vcov: Array
    information: Array  # unit information used for the standard errors (bread for MLR)
    b0: Array | None  # first-order (meat) information, MLR only
    b0_groups: list[Array] | None
    test: TestResult
    logl: float
    unrestricted_logl: float
    h1_moments: list[tuple[Array, Array]]  # saturated (mean, cov) per group


def prepare_groups(
    data: pd.DataFrame,
    table: ParTable,
    *,
    missing: str,
    group: str | None,
    cluster: str | None = None,
) -> list[GroupData]:
    """Check the data against the model and split it into groups (listwise or FIML), with
    each row's cluster when `cluster` names one (rows without a cluster are left out)."""
    if data.shape[0] == 0:
        raise DataError("the data is empty: it has no rows")
    columns = [str(c) for c in data.columns]
    for name in table.lv:
        if name in columns:
            raise ModelSpecificationError(
                f"latent variable {name!r} has the same name as a column of the data; "
                "rename the latent variable"
            )
    absent = [v for v in table.ov if v not in columns]
    if absent:
        raise DataError(
            "the model uses "
            + ", ".join(repr(v) for v in absent)
            + (" which is" if len(absent) == 1 else " which are")
            + " not a column of the data (columns: "
            + ", ".join(columns[:20])
            + (", ..." if len(columns) > 20 else "")
            + ")"
        )
    if group is not None and group not in columns:
        raise DataError(f"the group variable {group!r} is not a column of the data")
    if cluster is not None and cluster not in columns:
        raise DataError(f"the cluster variable {cluster!r} is not a column of the data")
    extra = [c for c in (group, cluster) if c is not None]
    frame = data.loc[:, [*table.ov, *dict.fromkeys(extra)]].copy()
    for v in table.ov:
        column = frame[v]
        if column.dtype == bool:
            frame[v] = column.astype(float)
            continue
        if not pd.api.types.is_numeric_dtype(column):
            converted = pd.to_numeric(column, errors="coerce")
            bad = column.notna() & converted.isna()
            if bad.any():
                position = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"column {v!r} is not numeric: row {position + 1} holds "
                    f"{column.iloc[position]!r}"
                )
            frame[v] = converted
        frame[v] = frame[v].astype(float)
    if cluster is not None:
        frame = frame[frame[cluster].notna()]
    if group is not None:
        frame = frame[frame[group].notna()]
        labels = list(pd.unique(frame[group]))
    else:
        labels = [None]
    groups: list[GroupData] = []
    for label in labels:
        part = frame if label is None else frame[frame[group] == label]
        values = part[table.ov].to_numpy(dtype=float)
        name = "" if label is None else str(label)
        where = f" in group {name!r}" if label is not None else ""
        if missing == "listwise":
            keep = ~np.isnan(values).any(axis=1)
        else:
            # As lavaan with fixed.x: FIML models the outcomes given the covariates, so rows
            # missing a covariate are dropped; so are rows with nothing observed.
            xs = [i for i, v in enumerate(table.ov) if v in table.ov_x]
            keep = ~np.isnan(values).all(axis=1)
            if xs:
                keep &= ~np.isnan(values[:, xs]).any(axis=1)
        values = values[keep]
        clusters = None
        if cluster is not None:
            clusters = pd.factorize(part[cluster].to_numpy()[keep])[0].astype(np.intp)
            count = int(clusters.max()) + 1 if clusters.size else 0
            if count < 2:
                plural = "s" if count != 1 else ""
                raise DataError(
                    f"the cluster variable {cluster!r} has {count} cluster{plural}"
                    f"{where or ' in the rows used'}; cluster-robust standard errors need at "
                    "least two (and are only trustworthy with many more)"
                )
        n = values.shape[0]
        p = len(table.ov)
        if group is not None and n < 2:
            raise DataError(
                f"group {name!r} of {group!r} has only {n} usable row{'s' if n != 1 else ''}; "
                "every group needs at least two"
            )
        if missing == "listwise" and n < p + 1:
            raise DataError(
                f"too few complete rows{where}: {n} rows without missing values for {p} "
                f"observed variables (at least {p + 1} needed); consider missing='ml'"
            )
        if n < 2:
            raise DataError(f"too few rows{where}: {n} usable row(s)")
        variances = np.nanvar(values, axis=0)
        means = np.nanmean(values, axis=0)
        for v, variance, mean in zip(table.ov, variances, means, strict=True):
            # Zero up to rounding: a standard deviation below 1e-10 of the variable's magnitude
            # (double precision resolves about 1e-16 of it).
            if not variance > max(1e-20, (1e-10 * float(mean)) ** 2):
                raise DataError(
                    f"variable {v!r} has zero variance{where}; the sample covariance matrix is "
                    "not positive definite"
                )
        groups.append(
            GroupData(
                name=name,
                y=values,
                missing=missing == "ml",
                clusters=clusters,
                variables=tuple(table.ov),
            )
        )
    for g in groups:
        if not g.missing:
            eig = np.linalg.eigvalsh(g.cov / np.sqrt(np.outer(np.diag(g.cov), np.diag(g.cov))))
            if eig[0] < 1e-10:
                raise DataError(
                    "the sample covariance matrix"
                    + (f" of group {g.name!r}" if g.name else "")
                    + " is not positive definite: "
                    + _collinear_message(g.cov, table.ov)
                )
    return groups


def _collinear_message(cov: Array, names: list[str]) -> str:
    _eig, vectors = np.linalg.eigh(cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov))))
    weights = np.abs(vectors[:, 0])
    involved = [names[i] for i in np.argsort(-weights) if weights[i] > 0.1]
    return "the variables " + ", ".join(repr(v) for v in involved) + " are linearly dependent"


def set_fixed_x(table: ParTable, h1: list[tuple[Array, Array]]) -> None:
    """fixed.x: the covariates' variances, covariances and means are the sample values."""
    index = {name: i for i, name in enumerate(table.ov)}
    for row in table.rows:
        if not row.exo:
            continue
        mean, cov = h1[row.group - 1]
        if row.op == "~1":
            row.value = float(mean[index[row.lhs]])
        else:
            row.value = float(cov[index[row.lhs], index[row.rhs]])


def _factor_starts(
    table: ParTable, h1: list[tuple[Array, Array]]
) -> dict[tuple[int, str], tuple[float, dict[str, float]]]:
    """Per group and latent variable: a start for its variance and its loadings on the scale
    of its first indicator. Each indicator's standardised-metric loading comes from triads:
    cov(v,k) cov(v,j) / cov(k,j) estimates its squared loading (median over the pairs of other
    indicators, kept between 5% and 95% of its variance), so a weak first indicator does not
    spoil the others' starts."""
    index = {name: i for i, name in enumerate(table.ov)}
    out: dict[tuple[int, str], tuple[float, dict[str, float]]] = {}
    for g in range(1, table.n_groups + 1):
        _, cov = h1[g - 1]
        for name in table.lv:
            indicators = [
                r.rhs for r in table.rows if r.group == g and r.op == "=~" and r.lhs == name
            ]
            observed = [index[v] for v in indicators if v in index]
            if not observed:
                continue
            loading: dict[int, float] = {}
            for v in observed:
                others = [k for k in observed if k != v]
                triads = [
                    float(cov[v, k] * cov[v, j] / cov[k, j])
                    for a, k in enumerate(others)
                    for j in others[a + 1 :]
                    if abs(cov[k, j]) > 1e-8 * math.sqrt(cov[k, k] * cov[j, j])
                ]
                if triads:
                    squared = float(np.median(triads))
                elif others:
                    squared = abs(float(cov[v, others[0]]))
                else:
                    squared = 0.5 * float(cov[v, v])
                squared = min(max(squared, 0.05 * cov[v, v]), 0.95 * cov[v, v])
                loading[v] = _sign_to_marker(cov, v, observed) * math.sqrt(squared)
            marker = loading[observed[0]]
            psi = marker**2
            out[(g, name)] = (
                psi,
                {table.ov[v]: value / marker for v, value in loading.items()},
            )
    return out


def _sign_to_marker(cov: Array, v: int, observed: list[int]) -> float:
    """The sign of indicator v's loading relative to the first indicator's: that of their
    covariance (lambda_v lambda_1 psi), or, where it is about zero, of the products through
    the other indicators. A reverse-keyed item then starts negative; judging each indicator by
    the sum of its covariances (as before) gave a negatively related marker the wrong sign, and
    the optimiser ran off from such starts where lavaan converges."""
    first = observed[0]
    if v == first:
        return 1.0
    if abs(cov[v, first]) > 1e-8 * math.sqrt(cov[v, v] * cov[first, first]):
        return 1.0 if cov[v, first] > 0 else -1.0
    votes = sum(float(cov[v, j] * cov[j, first]) for j in observed if j not in (v, first))
    return 1.0 if votes >= 0 else -1.0


def start_values(table: ParTable, h1: list[tuple[Array, Array]], std_lv: bool) -> Array:
    """Start values: loadings and factor variances from the indicator covariances, residual
    variances half the observed variance, intercepts the sample means, everything else 0."""
    index = {name: i for i, name in enumerate(table.ov)}
    factors = _factor_starts(table, h1)
    theta = np.full(table.n_free, np.nan)
    for row in table.rows:
        if not row.free or not math.isnan(theta[row.free - 1]):
            continue
        mean, cov = h1[row.group - 1]
        value = 0.0
        factor = factors.get((row.group, row.lhs))
        if row.op == "=~":
            if factor is not None and row.rhs in factor[1]:
                psi, loadings = factor
                value = loadings[row.rhs] * math.sqrt(psi) if std_lv else loadings[row.rhs]
            else:
                value = math.sqrt(0.5 * cov[index[row.rhs], index[row.rhs]]) if std_lv else 1.0
        elif row.op == "~~" and row.lhs == row.rhs:
            if row.lhs in index:
                value = 0.5 * cov[index[row.lhs], index[row.lhs]]
            elif std_lv:
                # Only freed in later groups (equal loadings): start from the first group's 1.
                value = 1.0
            elif factor is not None:
                value = factor[0]
            else:
                value = 0.05
        elif row.op == "~1" and row.lhs in index:
            value = float(mean[index[row.lhs]])
        theta[row.free - 1] = value
    return theta


def saturated_moments(groups: list[GroupData]) -> list[tuple[Array, Array]]:
    out = []
    for g in groups:
        if g.missing:
            mu, sigma = em_saturated(g)
            out.append((mu, sigma))
        else:
            out.append((g.mean, g.cov))
    return out


def _cached(group: GroupData, kind: str, model: Model, h1: tuple[Array, Array]) -> Array | None:
    return group.cache.get(_cache_key(kind, model, h1))


def _cache_key(kind: str, model: Model, h1: tuple[Array, Array]) -> tuple[str, bool, bytes]:
    mu, sigma = h1
    return (kind, model.meanstructure, mu.tobytes() + sigma.tobytes())


def h1_information(model: Model, g: int, h1: tuple[Array, Array]) -> Array:
    """Unit information of the saturated model of group g (lavaan's 'unstructured' A1):
    expected for complete data, observed (analytic) for FIML. It depends on the data and the
    saturated moments only, and the model's MLR test, the baseline model's and the
    FIML-corrected fit indices all ask for it: computed once per group (callers must not
    modify it)."""
    group = model.groups[g]
    found = _cached(group, "A1", model, h1)
    if found is not None:
        return found
    mu, sigma = h1
    if not group.missing:
        value = model.h1_weight(sigma)
    else:
        value = saturated_observed_information(group, sigma, mu)
    group.cache[_cache_key("A1", model, h1)] = value
    return value


def first_order(blocks: Iterator[tuple[NDArray[np.intp], Array]], group: GroupData) -> Array:
    """The cross-product over N of casewise scores given a block of rows at a time (the
    first-order unit information), summed within clusters first when the group has them
    (see `cluster_sums`): the whole rows x moments matrix is never held."""
    if group.clusters is None:
        # Under FIML the blocks follow the missing-data patterns, most of them a few rows:
        # they are gathered into full blocks first, so that each cross-product is one large
        # matrix product rather than hundreds of small ones.
        total = np.zeros((0, 0))
        buffer = np.zeros((0, 0))
        filled = 0
        for _rows, scores in blocks:
            if not buffer.size:
                buffer = np.empty((SCORE_BLOCK_ROWS, scores.shape[1]))
                total = np.zeros((scores.shape[1], scores.shape[1]))
            start = 0
            while start < scores.shape[0]:
                take = min(scores.shape[0] - start, SCORE_BLOCK_ROWS - filled)
                buffer[filled : filled + take] = scores[start : start + take]
                filled += take
                start += take
                if filled == SCORE_BLOCK_ROWS:
                    total += buffer.T @ buffer
                    filled = 0
        if filled:
            total += buffer[:filled].T @ buffer[:filled]
        return np.asarray(total / group.n, dtype=np.float64)
    count = group.n_clusters
    sums: Array | None = None
    for rows, scores in blocks:
        if sums is None:
            sums = np.zeros((count, scores.shape[1]))
        np.add.at(sums, group.clusters[rows], scores)
    assert sums is not None
    sums *= math.sqrt(count / (count - 1))
    return np.asarray(sums.T @ sums / group.n, dtype=np.float64)


def cluster_sums(scores: Array, group: GroupData) -> Array:
    """The casewise scores summed within each cluster and scaled by sqrt(G / (G - 1)), so that
    their cross-product over N is the cluster-robust first-order information (lavaan's
    robust.cluster, with the small-sample factor of ``sandwich::vcovCL``); without clusters,
    the scores themselves."""
    if group.clusters is None:
        return scores
    count = group.n_clusters
    sums = np.zeros((count, scores.shape[1]))
    np.add.at(sums, group.clusters, scores)
    return sums * math.sqrt(count / (count - 1))


def h1_first_order(model: Model, g: int, h1: tuple[Array, Array]) -> Array:
    """First-order unit information of the saturated model of group g (lavaan's B1 at the
    saturated moments: the casewise scores' cross-product over N), once per group like
    `h1_information` (callers must not modify it)."""
    group = model.groups[g]
    found = _cached(group, "B1", model, h1)
    if found is not None:
        return found
    value = first_order(model_score_blocks_unstructured(model, group, h1), group)
    group.cache[_cache_key("B1", model, h1)] = value
    return value


def _x_moment_mask(model: Model) -> NDArray[np.bool_]:
    """Moments that involve only fixed.x covariates (lavaan leaves them out of the traces)."""
    xs = {i for i, name in enumerate(model.ov) if name in model.table.ov_x}
    rows, cols = vech_indices(model.p)
    mask = [i in xs for i in range(model.p)] if model.meanstructure else []
    mask += [bool(r in xs and c in xs) for r, c in zip(rows, cols, strict=True)]
    return np.array(mask, dtype=bool)


def n_moments(model: Model) -> int:
    p = len(model.table.ov_nox)
    nx = len(model.table.ov_x)
    per_group = p * (p + 1) // 2 + (p if model.meanstructure else 0) + nx * p
    return per_group * len(model.groups)


def estimate(
    model: Model,
    h1: list[tuple[Array, Array]],
    *,
    estimator: str,
    start: Array,
    names: list[str],
) -> Estimates:
    """Fit the model and compute its standard errors and test statistic."""
    try:
        theta = optimise(model, start)
    except ConvergenceError as failure:
        # A model that wanders off is most often not identified: say so when the information
        # where the optimiser stopped is singular.
        if isinstance(failure.last, np.ndarray) and np.all(np.isfinite(failure.last)):
            with np.errstate(all="ignore"):
                try:
                    # The optimiser's metric (complete-data information): singular where the
                    # exact FIML one is, at a fraction of its cost (one p^2 x p^2 matrix per
                    # missing-data pattern took 14 s at 10,000 rows just for this message).
                    information = model.metric(failure.last)
                except np.linalg.LinAlgError:
                    information = None
            if information is not None and np.all(np.isfinite(information)):
                check_information(model, information, names, tolerance=1e-7)
        raise
    n = model.n_total
    missing = any(g.missing for g in model.groups)
    robust = estimator == "MLR"
    if missing or robust:
        information = model.observed_information(theta)
    else:
        information = model.expected_information(theta)
    check_information(model, information, names)
    e_inv = np.linalg.inv(information)
    b0 = None
    b0_groups = None
    if robust:
        b0_groups = []
        b0 = np.zeros_like(information)
        for g, group in enumerate(model.groups):
            # Delta' B1 Delta with B1 = S'S/n, as (S Delta)'(S Delta)/n: S is n x (moments),
            # Delta (moments) x (parameters), so the n x moments^2 product is never formed,
            # and S itself only a block of rows at a time.
            delta = model.delta(theta, g)
            projected = np.empty((group.y.shape[0], delta.shape[1]))
            for rows, scores in model.casewise_score_blocks(theta, g):
                projected[rows] = scores @ delta
            projected = cluster_sums(projected, group)
            b0_g = projected.T @ projected / group.n
            b0_groups.append(b0_g)
            b0 += group.n / n * b0_g
        vcov = e_inv @ b0 @ e_inv / n
    else:
        vcov = e_inv / n
    # With fixed.x lavaan reports the likelihood conditional on the covariates: the marginal
    # likelihood of the covariates (at their sample moments) is taken out of both.
    x_part = _x_marginal_loglik(model, h1)
    logl = model.loglik(theta) - x_part
    unrestricted = (
        sum(
            group_loglik(group, sigma, mu)
            for group, (mu, sigma) in zip(model.groups, h1, strict=True)
        )
        - x_part
    )
    chisq = 2.0 * (unrestricted - logl) if missing else 2.0 * n * model.objective(theta)
    df = n_moments(model) - model.n_free
    test = TestResult(chisq=max(chisq, 0.0) if chisq > -1e-8 else chisq, df=df)
    if robust and df > 0 and b0_groups is not None:
        mask = _x_moment_mask(model)
        trace_h1 = 0.0
        trace_h0 = 0.0
        h1_ndat = 0
        for g, group in enumerate(model.groups):
            a1 = h1_information(model, g, h1[g])[np.ix_(~mask, ~mask)]
            b1 = h1_first_order(model, g, h1[g])[np.ix_(~mask, ~mask)]
            trace_h1 += float(np.sum(b1 * np.linalg.inv(a1).T))
            trace_h0 += group.n / n * float(np.sum(b0_groups[g] * e_inv.T))
            h1_ndat += int((~mask).sum())
        test.scaling_factor = (trace_h1 - trace_h0) / df
        test.trace_h1 = trace_h1
        test.trace_h0 = trace_h0
        test.h1_ndat = h1_ndat
    return Estimates(
        model=model,
        theta=theta,
        vcov=vcov,
        information=information,
        b0=b0,
        b0_groups=b0_groups,
        test=test,
        logl=logl,
        unrestricted_logl=unrestricted,
        h1_moments=h1,
    )


def _x_marginal_loglik(model: Model, h1: list[tuple[Array, Array]]) -> float:
    xs = [i for i, name in enumerate(model.ov) if name in model.table.ov_x]
    if not xs:
        return 0.0
    total = 0.0
    for group, (mu, sigma) in zip(model.groups, h1, strict=True):
        sub = GroupData(name=group.name, y=group.y[:, xs], missing=group.missing)
        total += group_loglik(sub, sigma[np.ix_(xs, xs)], mu[xs])
    return total


def model_score_blocks_unstructured(
    model: Model, group: GroupData, h1: tuple[Array, Array]
) -> Iterator[tuple[NDArray[np.intp], Array]]:
    """Casewise scores at the saturated (sample or EM) moments, a block of rows at a time."""
    mu, sigma = h1
    return moment_score_blocks(group, sigma, mu, model.meanstructure)


def baseline_table(table: ParTable) -> ParTable:
    """lavaan's independence model: free variances (and intercepts) of the observed variables,
    the fixed.x covariates kept as they are."""
    rows: list[Row] = []
    n_free = 0
    for g in range(1, table.n_groups + 1):
        specs: list[tuple[str, str, str, bool]] = []
        for v in table.ov_nox:
            specs.append((v, "~~", v, False))
        xs = table.ov_x
        for j, xj in enumerate(xs):
            for xi in xs[j:]:
                specs.append((xj, "~~", xi, True))
        if table.meanstructure:
            for v in table.ov_nox:
                specs.append((v, "~1", "", False))
            for v in xs:
                specs.append((v, "~1", "", True))
        for lhs, op, rhs, exo in specs:
            free = 0
            if not exo:
                n_free += 1
                free = n_free
            rows.append(Row(len(rows) + 1, lhs, op, rhs, g, False, free, 0.0, "", exo))
    return ParTable(
        rows=rows,
        definitions=(),
        ov=list(table.ov),
        ov_x=list(table.ov_x),
        lv=[],
        n_groups=table.n_groups,
        meanstructure=table.meanstructure,
        n_free=n_free,
    )


def parameter_names(table: ParTable) -> list[str]:
    names = [""] * table.n_free
    for row in table.rows:
        if row.free and not names[row.free - 1]:
            suffix = f" (group {row.group})" if table.n_groups > 1 else ""
            names[row.free - 1] = f"{row.lhs} {row.op} {row.rhs}".strip() + suffix
    return names


def label_values(table: ParTable, row_values: Array) -> dict[str, float]:
    values: dict[str, float] = {}
    for label, index in table.label_rows.items():
        values[label] = float(row_values[index])
    return values


def defined_values(table: ParTable, row_values: Array) -> list[float]:
    values = label_values(table, row_values)
    out = []
    for definition in table.definitions:
        value = evaluate(definition.expression, values)
        values[definition.name] = value
        out.append(value)
    return out


def defined_jacobian(model: Model, theta: Array) -> Array:
    k = len(model.table.definitions)
    jac = np.zeros((k, theta.size))
    for i in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[i]))
        up = theta.copy()
        down = theta.copy()
        up[i] += h
        down[i] -= h
        f_up = np.array(defined_values(model.table, model.row_values(up)))
        f_down = np.array(defined_values(model.table, model.row_values(down)))
        jac[:, i] = (f_up - f_down) / (2 * h)
    return jac


def standardized(model: Model, theta: Array, kind: str) -> Array:
    """std.lv or std.all for every row of the parameter table."""
    values = model.row_values(theta)
    out = values.copy()
    lv = set(model.table.lv)
    index = {name: i for i, name in enumerate(model.variables)}
    for g in range(len(model.groups)):
        _, cov, _ = model.implied_all(theta, g)
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        if kind == "std.lv":
            sd = np.array([sd[i] if name in lv else 1.0 for i, name in enumerate(model.variables)])
        # Covariances are standardised by the (residual) variance parameters, as lavaan does:
        # a residual covariance becomes a residual correlation.
        own_variance = {
            row.lhs: values[r]
            for r, row in enumerate(model.table.rows)
            if row.group == g + 1 and row.op == "~~" and row.lhs == row.rhs
        }
        for r, row in enumerate(model.table.rows):
            if row.group != g + 1:
                continue
            lhs = sd[index[row.lhs]]
            with np.errstate(divide="ignore", invalid="ignore"):
                if row.op == "=~":
                    out[r] = values[r] * lhs / sd[index[row.rhs]]
                elif row.op == "~":
                    out[r] = values[r] * sd[index[row.rhs]] / lhs
                elif row.op == "~~" and row.lhs != row.rhs:
                    scaled = kind == "std.all" or (row.lhs in lv and row.rhs in lv)
                    if scaled:
                        product = own_variance.get(row.lhs, np.nan) * own_variance.get(
                            row.rhs, np.nan
                        )
                        out[r] = values[r] / math.sqrt(product) if product > 0 else math.nan
                    else:
                        out[r] = values[r] / (lhs * sd[index[row.rhs]])
                elif row.op == "~~":
                    out[r] = values[r] / (lhs * sd[index[row.rhs]])
                elif row.op == "~1":
                    out[r] = values[r] / lhs
    return out


def fit_baseline(
    table: ParTable,
    groups: list[GroupData],
    h1: list[tuple[Array, Array]],
    estimator: str,
) -> Estimates:
    base = baseline_table(table)
    set_fixed_x(base, h1)
    model = Model(base, groups)
    start = start_values(base, h1, std_lv=False)
    # The independence model's estimates are (nearly) the sample variances and means.
    index = {name: i for i, name in enumerate(base.ov)}
    for row in base.rows:
        if row.free:
            mean, cov = h1[row.group - 1]
            if row.op == "~~":
                start[row.free - 1] = cov[index[row.lhs], index[row.lhs]]
            else:
                start[row.free - 1] = mean[index[row.lhs]]
    return estimate(model, h1, estimator=estimator, start=start, names=parameter_names(base))


def rmsea_ci(x2: float, df: float, n: int, g: int, c_hat: float = 1.0) -> tuple[float, float]:
    """lavaan's 90% interval: the noncentrality parameters where the observed statistic sits at
    the 95th and 5th percentile of the noncentral chi-square."""
    if not (math.isfinite(x2) and math.isfinite(df)):
        return (math.nan, math.nan)
    if df < 1:
        return (0.0, 0.0)

    def at(ncp: float) -> float:
        return float(stats.ncx2.cdf(x2, df, ncp)) if ncp > 0 else float(stats.chi2.cdf(x2, df))

    from scipy.optimize import brentq

    if at(0.0) - 0.95 < 0:
        lower = 0.0
    else:
        lam = brentq(lambda v: at(v) - 0.95, 0.0, x2)
        lower = math.sqrt(c_hat * lam / (n * df)) * math.sqrt(g)
    n_rmsea = max(n, x2 * 4)
    if at(n_rmsea) - 0.05 > 0 or at(0.0) - 0.05 < 0:
        upper = 0.0
    else:
        lam = brentq(lambda v: at(v) - 0.05, 0.0, n_rmsea)
        upper = math.sqrt(c_hat * lam / (n * df)) * math.sqrt(g)
    return lower, upper


def rmsea(x2: float, df: float, n: int, g: int, c_hat: float = 1.0) -> float:
    if not math.isfinite(x2) or not math.isfinite(df):
        return math.nan
    if df <= 0:
        return 0.0
    return math.sqrt(max(x2 / n / df - c_hat / n, 0.0)) * math.sqrt(g)


def rmsea_pvalue(
    x2: float, df: float, n: int, g: int, h0: float, close: bool, c_hat: float = 1.0
) -> float:
    if not (math.isfinite(x2) and math.isfinite(c_hat) and df > 0):
        return math.nan
    ncp = n * df / c_hat * h0**2 / g
    cdf = float(stats.ncx2.cdf(x2, df, ncp))
    return 1.0 - cdf if close else cdf


def cfi(x2: float, df: float, x2_null: float, df_null: float, c: float = 1, c0: float = 1) -> float:
    values = [x2, df, x2_null, df_null, c, c0]
    if any(not math.isfinite(v) for v in values):
        return math.nan
    if df > 0 and c != 1 and c0 != 1:
        t1 = max(x2 - c * df, 0.0)
        t2 = max(x2 - c * df, x2_null - c0 * df_null, 0.0)
    else:
        t1 = max(x2 - df, 0.0)
        t2 = max(x2 - df, x2_null - df_null, 0.0)
    if abs(t1) < 1e-12 and abs(t2) < 1e-12:
        return 1.0
    return 1.0 - t1 / t2


def rni(x2: float, df: float, x2_null: float, df_null: float, c: float = 1, c0: float = 1) -> float:
    values = [x2, df, x2_null, df_null, c, c0]
    if any(not math.isfinite(v) for v in values):
        return math.nan
    if df > 0 and c != 1 and c0 != 1:
        t1, t2 = x2 - c * df, x2_null - c0 * df_null
    else:
        t1, t2 = x2 - df, x2_null - df_null
    return 1.0 - t1 / t2 if t2 != 0 else math.nan


def tli(x2: float, df: float, x2_null: float, df_null: float, c: float = 1, c0: float = 1) -> float:
    values = [x2, df, x2_null, df_null, c, c0]
    if any(not math.isfinite(v) for v in values):
        return math.nan
    if df > 0 and c != 1 and c0 != 1:
        t1 = (x2 - c * df) * df_null
        t2 = (x2_null - c0 * df_null) * df
    else:
        t1 = (x2 - df) * df_null
        t2 = (x2_null - df_null) * df
    if df > 0 and abs(t2) > 0:
        return 1.0 - t1 / t2
    return 1.0


def srmr(model: Model, theta: Array, h1: list[tuple[Array, Array]]) -> tuple[float, float]:
    """Bentler's SRMR (with mean residuals when there is a mean structure) and without means,
    averaged over groups with weights N_g/N."""
    total = 0.0
    nomean = 0.0
    rows, cols = vech_indices(model.p)
    for group, (sigma, mu), (m, s) in zip(model.groups, model.implied(theta), h1, strict=True):
        sd = np.sqrt(np.diag(s))
        residual = (s - sigma) / np.outer(sd, sd)
        cov_part = residual[rows, cols]
        value_nomean = math.sqrt(float(np.mean(cov_part**2)))
        if model.meanstructure:
            mean_part = (m - mu) / sd
            value = math.sqrt(
                float((np.sum(cov_part**2) + np.sum(mean_part**2)) / (cov_part.size + model.p))
            )
        else:
            value = value_nomean
        weight = group.n / model.n_total
        total += weight * value
        nomean += weight * value_nomean
    return total, nomean


@dataclass
class FimlCorrected:
    """lavaan's FIML-corrected quantities behind the robust CFI/TLI/RMSEA with missing data
    (the complete-data statistic at the EM moments and its scaling factors)."""

    xx3: float
    df3: int
    c_hat3: float
    xx3_null: float
    df3_null: int
    c_hat3_null: float


def _complete_data_chisq(model: Model, theta: Array, h1: list[tuple[Array, Array]]) -> float:
    """The ML statistic of the model at `theta` if the EM moments were complete-data moments."""
    total = 0.0
    for group, (sigma, mu), (m, s) in zip(model.groups, model.implied(theta), h1, strict=True):
        inv = np.linalg.inv(sigma)
        d = m - mu
        _, logdet = np.linalg.slogdet(sigma)
        _, logdet_s = np.linalg.slogdet(s)
        value = logdet + np.trace(s @ inv) - logdet_s - s.shape[0] + d @ inv @ d
        total += group.n * float(value)
    return total


def fiml_corrected(estimates: Estimates, baseline: Estimates, version: str) -> FimlCorrected:
    """Savalei's FIML-corrected scaling (version V3 with a scaled test, V6 without), as lavaan
    0.6.14's lav_fit_fiml_corrected computes it: all information matrices are the saturated
    ('h1', unstructured) ones at the EM moments.

    lavaan forms U = W - W D (D'W D)^-1 D'W over all groups' moments at once and multiplies
    it with block-diagonal matrices as dense ones: O(M^3) for M moments in all (thousands in
    an invariance test of a 19-item scale over several groups). Here the block-diagonal
    factors stay per group and U is never formed: the trace is expanded into per-group
    products and q x q matrices (q free parameters), the same number to rounding."""
    model = estimates.model
    h1 = estimates.h1_moments
    n = model.n_total
    groups = range(len(model.groups))
    weights = [g.n / n for g in model.groups]
    wm = [h1_information(model, g, h1[g]) for g in groups]
    wm_inv = [np.linalg.inv(w) for w in wm]
    wc = [model.h1_weight(h1[g][1]) for g in groups]
    # Per group: W = w·Wm (the weighted information), B = Wm^-1 Wc Wm^-1 / w (the blocks of
    # lavaan's Wmi Wc Wmi with Wmi = Wm^-1 / w and Wc = w·Wc), Gamma = Wm^-1 J Wm^-1 / w.
    w_blocks = [w * m for w, m in zip(weights, wm, strict=True)]
    b_blocks = [
        (m_inv / w) @ (w * c) @ (m_inv / w) for w, m_inv, c in zip(weights, wm_inv, wc, strict=True)
    ]
    gamma = [wm_inv[g] @ h1_first_order(model, g, h1[g]) @ wm_inv[g] / weights[g] for g in groups]
    # What does not depend on the fitted model, once for both fits: tr(W B) (V6), and for V3
    # tr(W B W Gamma) and the middle factors of the two cross terms, Gamma W B + B W Gamma.
    if version == "V6":
        whole = sum(float(np.sum(w * b.T)) for w, b in zip(w_blocks, b_blocks, strict=True))
    else:
        wb = [w @ b for w, b in zip(w_blocks, b_blocks, strict=True)]
        wg = [w @ gm for w, gm in zip(w_blocks, gamma, strict=True)]
        whole = sum(float(np.sum(x * y.T)) for x, y in zip(wb, wg, strict=True))
        middle = [gm @ x + x.T @ gm for x, gm in zip(wb, gamma, strict=True)]

    def kappa(fitted: Estimates) -> float:
        fitted_model = fitted.model
        deltas = [fitted_model.delta(fitted.theta, g) for g in groups]
        # A = W D, per group; the information D'W D and S = its inverse, applied by solving.
        a = [w @ d for w, d in zip(w_blocks, deltas, strict=True)]
        information = sum(d.T @ ag for d, ag in zip(deltas, a, strict=True))

        def solved(blocks: list[Array]) -> Array:
            """S A'M A for the block-diagonal M with these blocks."""
            inner = sum(ag.T @ (m @ ag) for ag, m in zip(a, blocks, strict=True))
            return np.asarray(np.linalg.solve(information, inner), dtype=np.float64)

        s_b = solved(b_blocks)
        if version == "V6":
            # tr(U B) = tr(W B) - tr(S A'B A)
            return whole - float(np.trace(s_b))
        # tr(U B U Gamma) = tr(W B W Gamma) - tr(S A'(Gamma W B + B W Gamma) A)
        #                   + tr(S A'B A S A'Gamma A); B, W and Gamma are symmetric.
        s_cross, s_gamma = solved(middle), solved(gamma)
        return whole - float(np.trace(s_cross)) + float(np.sum(s_b * s_gamma.T))

    xx3 = _complete_data_chisq(model, estimates.theta, h1)
    xx3_null = _complete_data_chisq(baseline.model, baseline.theta, h1)
    df3 = estimates.test.df
    df3_null = baseline.test.df
    return FimlCorrected(
        xx3=xx3,
        df3=df3,
        c_hat3=kappa(estimates) / df3 if df3 > 0 else math.nan,
        xx3_null=xx3_null,
        df3_null=df3_null,
        c_hat3_null=kappa(baseline) / df3_null if df3_null > 0 else math.nan,
    )
