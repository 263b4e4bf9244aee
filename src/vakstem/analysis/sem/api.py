"""The public entry point: `fit(model, data, ...)` returns a `FitResult` whose parameter table and
fit measures use lavaan's names (`parameterEstimates`, `fitMeasures`), plus `lrt` for
chi-square difference tests between nested fits (invariance sequences).

`fit` does its numerical work with one thread in every BLAS library loaded (numpy's and scipy's
own OpenBLAS are separate libraries) and gives the caller's thread settings back afterwards."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from vakstem.analysis.sem import estimate as est
from vakstem.analysis.sem.engine import Array, GroupData, Model
from vakstem.analysis.sem.errors import DataError, ModelSpecificationError, SemError
from vakstem.analysis.sem.partable import ParTable, build_partable
from vakstem.analysis.sem.syntax import parse_model

LAVAAN_COMPAT = "0.6.14"
PARAMETER_COLUMNS = [
    "lhs",
    "op",
    "rhs",
    "group",
    "label",
    "est",
    "se",
    "z",
    "pvalue",
    "ci.lower",
    "ci.upper",
    "std.lv",
    "std.all",
]


class _OneBlasThread:
    """One BLAS thread while a fit runs, the caller's settings back when it ends. The models'
    matrices are small (a few hundred rows and columns at most) and OpenBLAS's threads on a
    small shared machine mostly wait for each other: a 252-parameter fit took 24 s of CPU with
    two threads on a loaded two-core machine, 4.6 s with one.

    Fits nest (an invariance sequence's fits inside a plan's step, a bootstrap inside a fit):
    only the outermost one in a thread limits and restores. OpenBLAS's limit is process-wide,
    and threadpoolctl lets only one Python thread (the first to set it, usually the main one)
    change it; in other threads its calls do nothing, so a fit there neither limits nor leaves
    a limit behind. Reading the loaded libraries costs about 2 ms (threadpoolctl walks them
    all), far more than a small fit of the invariance step, so the controller is kept and
    rebuilt only when modules were imported since (a new BLAS library comes with a new
    module); limiting and restoring with it costs some 20 microseconds."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._controller: Any = None
        self._modules = -1

    def _current_controller(self) -> Any:
        with self._lock:
            if self._controller is None or len(sys.modules) != self._modules:
                self._modules = len(sys.modules)
                self._controller = ThreadpoolController()
            return self._controller

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if getattr(self._local, "inside", False):
            yield
            return
        limiter = self._current_controller().limit(limits=1, user_api="blas")
        self._local.inside = True
        try:
            yield
        finally:
            self._local.inside = False
            limiter.restore_original_limits()


one_blas_thread = _OneBlasThread()


@dataclass
class FitResult:
    """A fitted model. `parameters` has lavaan's parameterEstimates columns (plus std.lv and
    std.all, and boot.ci.lower/upper when bootstrapped); `fit_measures` uses fitMeasures names."""

    model: str
    estimator: str
    missing: str
    group: str | None
    group_labels: list[str]
    group_equal: tuple[str, ...]
    group_partial: tuple[str, ...]
    n_obs: list[int]
    parameters: pd.DataFrame
    fit_measures: dict[str, float]
    bootstrap: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: The column nesting the rows, and the number of clusters per group (0 without).
    cluster: str | None = None
    n_clusters: list[int] = field(default_factory=list)
    _estimates: est.Estimates | None = field(default=None, repr=False)
    _baseline: est.Estimates | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float | np.floating):
                return float(value) if math.isfinite(float(value)) else None
            if isinstance(value, np.integer):
                return int(value)
            return value

        rows = [
            {key: clean(value) for key, value in record.items()}
            for record in self.parameters.to_dict(orient="records")
        ]
        return {
            "lavaan_compat": LAVAAN_COMPAT,
            "model": self.model,
            "options": {
                "estimator": self.estimator,
                "missing": self.missing,
                "group": self.group,
                "group_equal": list(self.group_equal),
                "group_partial": list(self.group_partial),
                "cluster": self.cluster,
            },
            "groups": self.group_labels,
            "nobs": self.n_obs,
            "nclusters": self.n_clusters if self.cluster is not None else None,
            "fit": {key: clean(value) for key, value in self.fit_measures.items()},
            "parameters": rows,
            "bootstrap": self.bootstrap,
            "warnings": self.warnings,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        from vakstem.analysis.sem.summary import render_summary

        return render_summary(self)


def fit(
    model: str,
    data: pd.DataFrame,
    *,
    estimator: str = "ML",
    missing: str = "listwise",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    std_lv: bool = False,
    bootstrap: int = 0,
    seed: int | None = None,
    progress: Callable[[], None] | None = None,
    processes: int = 1,
    start_from: FitResult | None = None,
    cluster: str | None = None,
) -> FitResult:
    """Fit a lavaan-syntax model to a data frame, with lavaan's `sem()` defaults.

    `cluster` names a column whose values nest the rows (klantmanagers in organisations): as
    lavaan's ``cluster =`` for a single-level model, the standard errors and the scaled test
    are made robust to the nesting (casewise scores summed within clusters), the model gets
    a mean structure, and bootstrap draws resample whole clusters. It needs estimator MLR.

    `bootstrap` draws percentile intervals for the defined (`:=`) parameters, reproducibly for
    a given `seed` (whatever the number of `processes` the draws run in); `progress` is called
    after each draw (for progress bars). `start_from`, a fit of a less constrained model of the
    same data (the configural fit for the metric model), supplies the start values: its
    estimates of the same parameters (averaged over the rows now constrained equal).

    Runs with one BLAS thread (see `one_blas_thread`); the caller's limits are restored."""
    with one_blas_thread():
        return _fit(
            model,
            data,
            estimator=estimator,
            missing=missing,
            group=group,
            group_equal=group_equal,
            group_partial=group_partial,
            std_lv=std_lv,
            bootstrap=bootstrap,
            seed=seed,
            progress=progress,
            processes=processes,
            start_from=start_from,
            cluster=cluster,
        )


def _fit(
    model: str,
    data: pd.DataFrame,
    *,
    estimator: str,
    missing: str,
    group: str | None,
    group_equal: Sequence[str],
    group_partial: Sequence[str],
    std_lv: bool,
    bootstrap: int,
    seed: int | None,
    progress: Callable[[], None] | None,
    processes: int,
    start_from: FitResult | None,
    cluster: str | None = None,
) -> FitResult:
    estimator = estimator.upper()
    if estimator not in ("ML", "MLR"):
        raise ModelSpecificationError(f"estimator must be 'ML' or 'MLR', not {estimator!r}")
    if cluster is not None and estimator != "MLR":
        raise ModelSpecificationError(
            f"cluster={cluster!r} gives cluster-robust standard errors and test, which are "
            "MLR's: use estimator='MLR'"
        )
    if missing not in ("listwise", "ml"):
        raise ModelSpecificationError(f"missing must be 'listwise' or 'ml', not {missing!r}")
    if isinstance(group_equal, str):
        group_equal = [part.strip() for part in group_equal.split(",") if part.strip()]
    if isinstance(group_partial, str):
        group_partial = [part.strip() for part in group_partial.split(",") if part.strip()]
    if bootstrap < 0:
        raise ModelSpecificationError("bootstrap must be zero or a positive number of draws")
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame")
    parsed = parse_model(model)
    n_groups = 1
    group_labels = [""]
    if group is not None:
        if group not in data.columns:
            raise DataError(f"the group variable {group!r} is not a column of the data")
        group_labels = [str(v) for v in pd.unique(data[group].dropna())]
        n_groups = len(group_labels)
        if n_groups < 1:
            raise DataError(f"the group variable {group!r} has no values")
    table = build_partable(
        parsed,
        n_groups=n_groups,
        std_lv=std_lv,
        # lavaan adds the mean structure for clustered data too (the means' scores enter the
        # cluster sums).
        meanstructure=missing == "ml" or n_groups > 1 or cluster is not None,
        group_equal=tuple(group_equal) if n_groups > 1 else (),
        group_partial=tuple(group_partial),
    )
    groups = est.prepare_groups(data, table, missing=missing, group=group, cluster=cluster)
    shared = _same_data(start_from, groups, table)
    if shared is not None:
        # The same rows as the fit we start from (an invariance sequence): its groups, with
        # what they cache, its saturated moments (EM under FIML) and its baseline model.
        groups, h1 = shared
    else:
        h1 = est.saturated_moments(groups)
    result = _fit_table(
        table,
        groups,
        h1,
        estimator=estimator,
        std_lv=std_lv,
        start_from=start_from,
        baseline=_same_baseline(start_from, table, estimator) if shared is not None else None,
    )
    estimates, parameters, measures, warnings, baseline = result
    fit_result = FitResult(
        model=model,
        estimator=estimator,
        missing=missing,
        group=group,
        group_labels=[g.name for g in groups],
        group_equal=tuple(group_equal),
        group_partial=tuple(group_partial),
        n_obs=[g.n for g in groups],
        cluster=cluster,
        n_clusters=[g.n_clusters for g in groups],
        parameters=parameters,
        fit_measures=measures,
        warnings=warnings,
        _estimates=estimates,
        _baseline=baseline,
    )
    if bootstrap > 0:
        from vakstem.analysis.sem.bootstrap import bootstrap_defined

        bootstrap_defined(fit_result, bootstrap, seed, progress, processes=processes)
    return fit_result


def _fit_table(
    table: ParTable,
    groups: list[GroupData],
    h1: list[tuple[Array, Array]],
    *,
    estimator: str,
    std_lv: bool,
    with_baseline: bool = True,
    start_from: FitResult | None = None,
    baseline: est.Estimates | None = None,
) -> tuple[est.Estimates, pd.DataFrame, dict[str, float], list[str], est.Estimates | None]:
    est.set_fixed_x(table, h1)
    model = Model(table, groups)
    start = est.start_values(table, h1, std_lv)
    if start_from is not None and start_from._estimates is not None:
        warm = _warm_start(table, start_from._estimates, start)
        # A start the model cannot evaluate (an implied covariance matrix that is not positive
        # definite) would end the fit; the default start values are always usable.
        if math.isfinite(model.objective(warm)):
            start = warm
    estimates = est.estimate(
        model, h1, estimator=estimator, start=start, names=est.parameter_names(table)
    )
    parameters, warnings = _parameter_frame(estimates)
    measures: dict[str, float] = {}
    if with_baseline:
        if baseline is None:
            baseline = est.fit_baseline(table, groups, h1, estimator)
        measures = _fit_measures(estimates, baseline, estimator)
    return estimates, parameters, measures, warnings, baseline


def _same_data(
    previous: FitResult | None, groups: list[GroupData], table: ParTable
) -> tuple[list[GroupData], list[tuple[Array, Array]]] | None:
    """The previous fit's groups and saturated moments when it was fitted to the same rows in
    the same groups and variables; otherwise None."""
    if previous is None or previous._estimates is None:
        return None
    before = previous._estimates.model
    if before.table.ov != table.ov or before.table.ov_x != table.ov_x:
        return None
    if len(before.groups) != len(groups):
        return None
    for old, new in zip(before.groups, groups, strict=True):
        if (old.name, old.missing) != (new.name, new.missing) or old.weights is not None:
            return None
        if old.clusters is None or new.clusters is None:
            if old.clusters is not new.clusters:
                return None
        elif not np.array_equal(old.clusters, new.clusters):
            return None
        if old.y.shape != new.y.shape or not np.array_equal(old.y, new.y, equal_nan=True):
            return None
    return before.groups, previous._estimates.h1_moments


def _same_baseline(
    previous: FitResult | None, table: ParTable, estimator: str
) -> est.Estimates | None:
    """The previous fit's baseline model when this model's would be the same (same variables,
    covariates, mean structure and groups, same estimator) and it is fitted to the same
    data."""
    if previous is None or previous._baseline is None or previous.estimator != estimator:
        return None
    before = previous._baseline.model.table
    if (before.ov, before.ov_x, before.meanstructure, before.n_groups) != (
        table.ov,
        table.ov_x,
        table.meanstructure,
        table.n_groups,
    ):
        return None
    return previous._baseline


def _warm_start(table: ParTable, previous: est.Estimates, default: Array) -> Array:
    """Start values from the estimates of a less constrained fit: each free parameter takes
    the mean of the previous estimates of its rows (the same lhs, op, rhs and group), so
    loadings constrained equal start at their mean over the groups."""
    old_table = previous.model.table
    old_values = previous.model.row_values(previous.theta)
    known = {
        (row.lhs, row.op, row.rhs, row.group): float(old_values[r])
        for r, row in enumerate(old_table.rows)
    }
    sums = np.zeros(table.n_free)
    counts = np.zeros(table.n_free)
    for row in table.rows:
        value = known.get((row.lhs, row.op, row.rhs, row.group))
        if row.free and value is not None and math.isfinite(value):
            sums[row.free - 1] += value
            counts[row.free - 1] += 1
    return np.where(counts > 0, sums / np.maximum(counts, 1), default)


def _parameter_frame(estimates: est.Estimates) -> tuple[pd.DataFrame, list[str]]:
    model = estimates.model
    table = model.table
    theta = estimates.theta
    values = model.row_values(theta)
    se_free = np.sqrt(np.clip(np.diag(estimates.vcov), 0.0, None))
    std_lv = est.standardized(model, theta, "std.lv")
    std_all = est.standardized(model, theta, "std.all")
    z_crit = float(stats.norm.ppf(0.975))
    records: list[dict[str, Any]] = []
    warnings: list[str] = []
    for r, row in enumerate(table.rows):
        if row.free:
            se = float(se_free[row.free - 1])
            z = values[r] / se if se > 0 else math.nan
            pvalue = 2 * float(stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan
            lower, upper = values[r] - z_crit * se, values[r] + z_crit * se
        elif row.pinned:
            se = z = pvalue = lower = upper = math.nan
        else:
            se, z, pvalue = 0.0, math.nan, math.nan
            lower = upper = values[r]
        records.append(
            {
                "lhs": row.lhs,
                "op": row.op,
                "rhs": row.rhs,
                "group": row.group,
                "label": row.label,
                "est": float(values[r]),
                "se": se,
                "z": z,
                "pvalue": pvalue,
                "ci.lower": lower,
                "ci.upper": upper,
                "std.lv": float(std_lv[r]),
                "std.all": float(std_all[r]),
            }
        )
        if row.op == "~~" and row.lhs == row.rhs and row.free and values[r] < 0:
            where = f" in group {row.group}" if table.n_groups > 1 else ""
            warnings.append(
                f"the variance of {row.lhs!r}{where} is negative ({values[r]:.4g}): "
                "an improper solution (Heywood case)"
            )
    if table.definitions:
        defined = est.defined_values(table, values)
        jac = est.defined_jacobian(model, theta)
        vcov = jac @ estimates.vcov @ jac.T
        defined_lv = est.defined_values(table, std_lv)
        defined_all = est.defined_values(table, std_all)
        for i, definition in enumerate(table.definitions):
            se = math.sqrt(max(float(vcov[i, i]), 0.0))
            z = defined[i] / se if se > 0 else math.nan
            records.append(
                {
                    "lhs": definition.name,
                    "op": ":=",
                    "rhs": definition.text,
                    "group": 0,
                    "label": definition.name,
                    "est": defined[i],
                    "se": se,
                    "z": z,
                    "pvalue": 2 * float(stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan,
                    "ci.lower": defined[i] - z_crit * se,
                    "ci.upper": defined[i] + z_crit * se,
                    "std.lv": defined_lv[i],
                    "std.all": defined_all[i],
                }
            )
    return pd.DataFrame.from_records(records, columns=PARAMETER_COLUMNS), warnings


def _fit_measures(
    estimates: est.Estimates, baseline: est.Estimates, estimator: str
) -> dict[str, float]:
    model = estimates.model
    n = model.n_total
    g = len(model.groups)
    test = estimates.test
    base = baseline.test
    npar = model.n_free
    x2, df = test.chisq, test.df
    x2_null, df_null = base.chisq, base.df
    logl = estimates.logl
    out: dict[str, float] = {
        "npar": float(npar),
        "fmin": x2 / (2 * n),
        "chisq": x2,
        "df": float(df),
        "pvalue": test.pvalue,
    }
    robust = estimator == "MLR"
    c = test.scaling_factor
    c0 = base.scaling_factor
    if robust:
        # With df = 0 there is nothing to scale: lavaan reports the statistic itself.
        out["chisq.scaled"] = x2 / c if df > 0 else x2
        out["df.scaled"] = float(df)
        out["pvalue.scaled"] = (
            float(stats.chi2.sf(x2 / c, df)) if df > 0 and math.isfinite(c) else math.nan
        )
        out["chisq.scaling.factor"] = c
    out["baseline.chisq"] = x2_null
    out["baseline.df"] = float(df_null)
    out["baseline.pvalue"] = base.pvalue
    if robust:
        out["baseline.chisq.scaled"] = x2_null / c0
        out["baseline.df.scaled"] = float(df_null)
        out["baseline.pvalue.scaled"] = float(stats.chi2.sf(x2_null / c0, df_null))
        out["baseline.chisq.scaling.factor"] = c0
    out["cfi"] = est.cfi(x2, df, x2_null, df_null)
    out["tli"] = est.tli(x2, df, x2_null, df_null)
    missing = any(grp.missing for grp in model.groups)
    if robust:
        x2s = out["chisq.scaled"]
        out["cfi.scaled"] = est.cfi(x2s, df, x2_null / c0, df_null)
        out["tli.scaled"] = est.tli(x2s, df, x2_null / c0, df_null)
    # Robust CFI/TLI/RMSEA (Brosseau-Liard & Savalei; with missing data the FIML-corrected
    # version, which lavaan also reports for plain ML with missing='ml').
    robust_indices = robust or missing
    x3, df3, c3, x3_null, df3_null, c3_null = x2, df, c, x2_null, df_null, c0
    if missing:
        corrected = est.fiml_corrected(estimates, baseline, "V3" if robust else "V6")
        x3, df3, c3 = corrected.xx3, corrected.df3, corrected.c_hat3
        x3_null, df3_null, c3_null = corrected.xx3_null, corrected.df3_null, corrected.c_hat3_null
        if df3 == 0:
            # A saturated model has nothing to scale; lavaan then falls back to the plain formulas.
            c3 = c3_null = 1.0
    if robust_indices:
        out["cfi.robust"] = est.cfi(x3, df3, x3_null, df3_null, c3, c3_null)
        out["tli.robust"] = est.tli(x3, df3, x3_null, df3_null, c3, c3_null)
        out["nnfi.robust"] = out["tli.robust"]
        out["rni.robust"] = est.rni(x3, df3, x3_null, df3_null, c3, c3_null)
    out["nnfi"] = out["tli"]
    out["rfi"] = max(0.0, (x2_null / df_null - x2 / df) / (x2_null / df_null)) if df > 0 else 1.0
    out["nfi"] = (x2_null - x2) / x2_null if x2_null > 0 else math.nan
    out["pnfi"] = (df / df_null) * out["nfi"] if df_null > 0 else math.nan
    out["ifi"] = (x2_null - x2) / (x2_null - df) if x2_null - df != 0 else math.nan
    out["rni"] = 1.0 - (x2 - df) / (x2_null - df_null) if x2_null != df_null else math.nan
    out["logl"] = logl
    out["unrestricted.logl"] = estimates.unrestricted_logl
    out["aic"] = -2 * logl + 2 * npar
    out["bic"] = -2 * logl + npar * math.log(n)
    out["ntotal"] = float(n)
    out["bic2"] = -2 * logl + npar * math.log((n + 2) / 24)
    if robust:
        out["scaling.factor.h1"] = test.trace_h1 / test.h1_ndat if test.h1_ndat else math.nan
    out["rmsea"] = est.rmsea(x2, df, n, g)
    out["rmsea.ci.lower"], out["rmsea.ci.upper"] = est.rmsea_ci(x2, df, n, g)
    out["rmsea.ci.level"] = 0.90
    out["rmsea.pvalue"] = est.rmsea_pvalue(x2, df, n, g, 0.05, close=True)
    out["rmsea.close.h0"] = 0.05
    out["rmsea.notclose.pvalue"] = est.rmsea_pvalue(x2, df, n, g, 0.08, close=False)
    out["rmsea.notclose.h0"] = 0.08
    if robust:
        # lavaan's scaled RMSEA keeps the unscaled statistic and uses tr(U Gamma) = c * df as
        # the degrees of freedom.
        df2 = c * df
        out["rmsea.scaled"] = est.rmsea(x2, df2, n, g) if df > 0 else math.nan
        low, up = est.rmsea_ci(x2, df2, n, g) if df > 0 else (math.nan, math.nan)
        out["rmsea.ci.lower.scaled"], out["rmsea.ci.upper.scaled"] = low, up
        out["rmsea.pvalue.scaled"] = est.rmsea_pvalue(x2, df2, n, g, 0.05, close=True)
        out["rmsea.notclose.pvalue.scaled"] = est.rmsea_pvalue(x2, df2, n, g, 0.08, close=False)
    if robust_indices:
        if df3 == 0:
            out["rmsea.robust"] = 0.0
            out["rmsea.ci.lower.robust"] = out["rmsea.ci.upper.robust"] = 0.0
            out["rmsea.pvalue.robust"] = out["rmsea.notclose.pvalue.robust"] = math.nan
        else:
            out["rmsea.robust"] = est.rmsea(x3, df3, n, g, c_hat=c3)
            low, up = est.rmsea_ci(x3 / c3, df3, n, g, c_hat=c3)
            out["rmsea.ci.lower.robust"], out["rmsea.ci.upper.robust"] = low, up
            out["rmsea.pvalue.robust"] = est.rmsea_pvalue(
                x3 / c3, df3, n, g, 0.05, close=True, c_hat=c3
            )
            out["rmsea.notclose.pvalue.robust"] = est.rmsea_pvalue(
                x3 / c3, df3, n, g, 0.08, close=False, c_hat=c3
            )
    srmr, srmr_nomean = est.srmr(model, estimates.theta, estimates.h1_moments)
    out["srmr"] = srmr
    out["srmr_bentler"] = srmr
    out["srmr_bentler_nomean"] = srmr_nomean
    return out


@dataclass
class LRTRow:
    df: int
    chisq: float
    chisq_diff: float
    df_diff: int
    pvalue: float


def lrt(*fits: FitResult) -> pd.DataFrame:
    """Chi-square difference tests between nested fits, ordered by degrees of freedom as lavaan's
    `lavTestLRT`; with MLR the Satorra-Bentler (2001) scaled difference."""
    if len(fits) < 2:
        raise SemError("lrt needs at least two fitted models")
    ordered = sorted(fits, key=lambda f: f.fit_measures["df"])
    estimators = {f.estimator for f in ordered}
    if len(estimators) > 1:
        raise SemError("all models in a difference test must use the same estimator")
    if len({sum(f.n_obs) for f in ordered}) > 1:
        raise SemError("the models were fitted on different numbers of rows")
    robust = estimators == {"MLR"}
    rows = []
    for i, f in enumerate(ordered):
        chisq = f.fit_measures["chisq"]
        df = int(f.fit_measures["df"])
        if i == 0:
            rows.append(
                {
                    "df": df,
                    "chisq": chisq,
                    "chisq_diff": math.nan,
                    "df_diff": math.nan,
                    "pvalue": math.nan,
                }
            )
            continue
        prev = ordered[i - 1]
        d_chisq = chisq - prev.fit_measures["chisq"]
        d_df = df - int(prev.fit_measures["df"])
        if robust:
            c1 = f.fit_measures["chisq.scaling.factor"]
            c0 = prev.fit_measures["chisq.scaling.factor"]
            cd = (df * c1 - int(prev.fit_measures["df"]) * c0) / d_df
            d_chisq = d_chisq / cd
        pvalue = float(stats.chi2.sf(d_chisq, d_df)) if d_df > 0 else math.nan
        rows.append(
            {"df": df, "chisq": chisq, "chisq_diff": d_chisq, "df_diff": d_df, "pvalue": pvalue}
        )
    return pd.DataFrame(rows)
