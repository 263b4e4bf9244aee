"""Nesting of respondents in clusters: ICCs, random-intercept models, cluster-robust OLS.

Every number is defined to equal R, so a methodologist can check it by name:

* `random_intercept` fits ``y ~ x1 + x2 + (1 | g)`` as ``lme4::lmer`` does (REML by default,
  ML on request): lme4's profiled deviance, a function of theta = tau / sigma alone, minimised
  by Brent's method, in closed form per cluster (a random intercept makes every cluster's
  covariance block compound symmetric). statsmodels ``MixedLM`` (Powell), used before, gave
  the same estimates to about 1e-6 but loops over the clusters in Python at every evaluation:
  13 fits on 7,700 rows in 400 clusters took 11 s, now 0.1 s. Fixed-effect standard errors
  are lme4's, ``sigma^2 (X' V^-1 X)^-1`` at the estimated variances. Log-likelihood, AIC and
  BIC are lme4's (``logLik`` is the REML criterion's likelihood for a REML fit; npar = fixed
  effects + 2). A cluster variance of 0 is reported as lme4's boundary (singular) fit.
* `icc` is the intraclass correlation ``tau^2 / (tau^2 + sigma^2)`` of the REML null model
  ``lmer(y ~ 1 + (1 | g), REML = TRUE)``.
* `cluster_robust_ols` is OLS with ``sandwich::vcovCL(m, cluster = g)`` standard errors (the
  default HC1-type adjustment ``G/(G-1) * (N-1)/(N-K)``), t tests on N - K degrees of freedom
  as ``lmtest::coeftest`` reports them.

Rows with a missing value in any variable of a model are left out (``missing = "listwise"``),
and the result says how many. Bad input (a missing column, a non-numeric outcome, a single
cluster, too few rows, a constant or collinear predictor) raises `MultilevelError` with a
message naming the problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats
from statsmodels.regression.linear_model import OLS

Matrix = npt.NDArray[np.float64]

INTERCEPT = "(Intercept)"


class MultilevelError(ValueError):
    """A multilevel model cannot be fitted to the data given; the message says why."""


@dataclass(frozen=True)
class Coefficient:
    """One fixed effect (lme4 / lm names in `to_dict`: Estimate, Std. Error, t value)."""

    term: str
    estimate: float
    se: float
    t: float
    #: Mixed models: Wald z test (normal); OLS: t test on the residual degrees of freedom.
    p: float

    def to_dict(self, p_name: str) -> dict[str, Any]:
        return {
            "term": self.term,
            "Estimate": self.estimate,
            "Std. Error": self.se,
            "t value": self.t,
            p_name: self.p,
        }


@dataclass(frozen=True)
class _Data:
    y: Matrix
    x: Matrix
    groups: npt.NDArray[np.int64]
    terms: tuple[str, ...]
    nobs: int
    ngroups: int
    dropped: int


@dataclass(frozen=True)
class MixedResult:
    """A random-intercept model ``outcome ~ predictors + (1 | cluster)``."""

    outcome: str
    predictors: tuple[str, ...]
    cluster: str
    reml: bool
    nobs: int
    ngroups: int
    n_dropped: int
    coefficients: tuple[Coefficient, ...]
    group_var: float
    residual_var: float
    #: tau^2 / (tau^2 + sigma^2) given the predictors (the "adjusted" ICC).
    icc_adjusted: float
    loglik: float
    aic: float
    bic: float
    converged: bool
    messages: tuple[str, ...] = ()
    optimizer: str = "profiled deviance, Brent"
    missing: Literal["listwise"] = "listwise"

    def coefficient(self, term: str) -> Coefficient:
        for c in self.coefficients:
            if c.term == term:
                return c
        raise KeyError(term)

    def to_dict(self) -> dict[str, Any]:
        """lme4's names: ``fixef``, ``se``, ``t``, ``logLik``, ``AIC``, ``BIC``, ``REML``."""
        return {
            "model": f"{self.outcome} ~ {' + '.join(self.predictors) or '1'}"
            f" + (1 | {self.cluster})",
            "REML": self.reml,
            "fixef": {c.term: c.estimate for c in self.coefficients},
            "se": {c.term: c.se for c in self.coefficients},
            "t": {c.term: c.t for c in self.coefficients},
            "coefficients": [c.to_dict("Pr(>|z|)") for c in self.coefficients],
            "group_var": self.group_var,
            "residual_var": self.residual_var,
            "icc_adjusted": self.icc_adjusted,
            "logLik": self.loglik,
            "AIC": self.aic,
            "BIC": self.bic,
            "nobs": self.nobs,
            "ngroups": self.ngroups,
            "n_dropped": self.n_dropped,
            "converged": self.converged,
            "messages": list(self.messages),
            "optimizer": self.optimizer,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class ICCResult:
    """The intraclass correlation of an outcome from the REML null model."""

    outcome: str
    cluster: str
    icc: float
    group_var: float
    residual_var: float
    intercept: float
    loglik: float
    nobs: int
    ngroups: int
    n_dropped: int
    converged: bool
    method: Literal["REML"] = "REML"
    missing: Literal["listwise"] = "listwise"

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "cluster": self.cluster,
            "icc": self.icc,
            "group_var": self.group_var,
            "residual_var": self.residual_var,
            "intercept": self.intercept,
            "logLik": self.loglik,
            "nobs": self.nobs,
            "ngroups": self.ngroups,
            "n_dropped": self.n_dropped,
            "converged": self.converged,
            "method": self.method,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class RobustResult:
    """OLS with cluster-robust (``sandwich::vcovCL``, HC1-type) standard errors."""

    outcome: str
    predictors: tuple[str, ...]
    cluster: str
    nobs: int
    nclusters: int
    n_dropped: int
    df_resid: int
    coefficients: tuple[Coefficient, ...]
    #: The ordinary (non-robust) OLS standard errors, for comparison.
    se_ols: tuple[float, ...]
    r_squared: float
    vcov_type: Literal["HC1"] = "HC1"
    missing: Literal["listwise"] = "listwise"

    def coefficient(self, term: str) -> Coefficient:
        for c in self.coefficients:
            if c.term == term:
                return c
        raise KeyError(term)

    def to_dict(self) -> dict[str, Any]:
        """R's names: ``coef``, ``se``, ``t``, ``p`` (coeftest), ``df_resid``, ``se_ols``."""
        return {
            "model": f"{self.outcome} ~ {' + '.join(self.predictors) or '1'}",
            "cluster": self.cluster,
            "coef": {c.term: c.estimate for c in self.coefficients},
            "se": {c.term: c.se for c in self.coefficients},
            "t": {c.term: c.t for c in self.coefficients},
            "p": {c.term: c.p for c in self.coefficients},
            "coefficients": [c.to_dict("Pr(>|t|)") for c in self.coefficients],
            "se_ols": {c.term: s for c, s in zip(self.coefficients, self.se_ols, strict=True)},
            "r_squared": self.r_squared,
            "df_resid": self.df_resid,
            "nobs": self.nobs,
            "nclusters": self.nclusters,
            "n_dropped": self.n_dropped,
            "vcov_type": self.vcov_type,
            "missing": self.missing,
        }


# --- data preparation ---------------------------------------------------------------------


def _numeric(df: pd.DataFrame, name: str, role: str) -> pd.Series:
    column = df[name]
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("float64")
    if not pd.api.types.is_numeric_dtype(column.dtype):
        sample = column.dropna()
        shown = f" (e.g. {sample.iloc[0]!r})" if len(sample) else ""
        raise MultilevelError(
            f"{role} {name!r} is not numeric{shown}; code it as numbers "
            "(or as 0/1 dummy variables for categories)"
        )
    return column.astype("float64")


def _prepare(
    df: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    cluster: str,
    *,
    need_within: bool,
) -> _Data:
    if df.shape[0] == 0:
        raise MultilevelError("the data has no rows")
    used = [outcome, *predictors, cluster]
    absent = [c for c in dict.fromkeys(used) if c not in df.columns]
    if absent:
        raise MultilevelError(f"column(s) {', '.join(map(repr, absent))} not in the data")
    if outcome in predictors or cluster in predictors or cluster == outcome:
        raise MultilevelError("outcome, predictors and cluster must be different columns")
    if len(set(predictors)) != len(predictors):
        raise MultilevelError("a predictor is named twice")
    y = _numeric(df, outcome, "outcome")
    xs = {p: _numeric(df, p, "predictor") for p in predictors}
    g = df[cluster]
    frame = pd.DataFrame({"__y": y, **{f"__x{i}": xs[p] for i, p in enumerate(predictors)}})
    complete = frame.notna().all(axis=1) & g.notna()
    frame = frame[complete]
    g = g[complete]
    nobs = int(frame.shape[0])
    dropped = int(df.shape[0] - nobs)
    k = len(predictors) + 1
    # A residual degree of freedom beyond the parameters: OLS estimates k coefficients and
    # sigma^2, a random-intercept model k coefficients and two variances.
    needed = k + (3 if need_within else 2)
    if nobs < needed:
        raise MultilevelError(
            f"too few complete rows: {nobs} (of {df.shape[0]}) have {outcome!r}, every "
            f"predictor and {cluster!r}; at least {needed} are needed for this model"
        )
    codes, uniques = pd.factorize(g, sort=True)
    ngroups = len(uniques)
    if ngroups < 2:
        only = f" ({uniques[0]!r})" if ngroups == 1 else ""
        raise MultilevelError(
            f"cluster variable {cluster!r} has only one cluster{only} among the complete "
            "rows; clustering needs at least two"
        )
    if need_within and int(np.bincount(codes).max()) < 2:
        raise MultilevelError(
            f"every cluster of {cluster!r} has a single row: the cluster variance cannot "
            "be told apart from the residual variance"
        )
    yv = frame["__y"].to_numpy(dtype=np.float64)
    if float(np.ptp(yv)) == 0.0:
        raise MultilevelError(f"outcome {outcome!r} has zero variance (only {yv[0]:g})")
    x = np.column_stack(
        [np.ones(nobs)] + [frame[f"__x{i}"].to_numpy(np.float64) for i in range(len(predictors))]
    )
    for i, p in enumerate(predictors):
        if float(np.ptp(x[:, i + 1])) == 0.0:
            raise MultilevelError(f"predictor {p!r} is constant ({x[0, i + 1]:g}) in the data")
    if np.linalg.matrix_rank(x) < x.shape[1]:
        # Blame the first predictor that adds nothing to the intercept and those before it.
        for i, p in enumerate(predictors):
            if np.linalg.matrix_rank(x[:, : i + 2]) < i + 2:
                raise MultilevelError(
                    f"predictor {p!r} is a linear combination of the intercept and the "
                    "predictors named before it"
                )
    return _Data(
        y=yv,
        x=x,
        groups=codes.astype(np.int64),
        terms=(INTERCEPT, *predictors),
        nobs=nobs,
        ngroups=ngroups,
        dropped=dropped,
    )


# --- random-intercept models -----------------------------------------------------------------


@dataclass(frozen=True)
class _MixedFit:
    beta: Matrix
    vcov: Matrix
    tau2: float
    sigma2: float
    loglik: float
    converged: bool
    messages: tuple[str, ...]


#: Where the search for theta = tau / sigma starts: 0 and a log-spaced grid up to this, then
#: Brent's method between the grid neighbours of the best point.
THETA_GRID = np.concatenate([[0.0], np.logspace(-4.0, 3.0, 36)])


class _Profile:
    """lme4's profiled deviance of ``y ~ x + (1 | g)`` as a function of theta = tau / sigma
    alone: with gamma = theta^2 the marginal covariance is sigma^2 V, V = I + gamma Z Z', whose
    cluster blocks are compound symmetric, so V^-1 and log|V| are closed-form per cluster
    (c_g = gamma / (1 + n_g gamma)): X' V^-1 X = X'X - sum_g c_g s_g s_g' with s_g the
    cluster's column sums, and the generalised least squares fit, sigma^2 and the deviance
    follow without a pass over the rows per cluster. lme4: -2 logLik = log|V|
    (+ log|X' V^-1 X| for REML) + nu (1 + log(2 pi r' V^-1 r / nu)), nu = n - p for REML, n
    for ML."""

    def __init__(self, data: _Data, reml: bool) -> None:
        self.data = data
        self.reml = reml
        groups = data.groups
        self.counts = np.bincount(groups, minlength=data.ngroups).astype(np.float64)
        self.sums = np.stack(
            [np.bincount(groups, weights=c, minlength=data.ngroups) for c in data.x.T], axis=1
        )
        self.y_sums = np.bincount(groups, weights=data.y, minlength=data.ngroups)
        self.xtx = data.x.T @ data.x
        self.xty = data.x.T @ data.y
        n, p = data.x.shape
        self.nu = n - p if reml else n

    def solve(self, theta: float) -> tuple[float, Matrix, float, Matrix]:
        """Deviance, fixed effects, sigma^2 and X' V^-1 X at theta."""
        gamma = theta * theta
        c = gamma / (1.0 + self.counts * gamma)
        info = self.xtx - (self.sums * c[:, None]).T @ self.sums
        beta = np.linalg.solve(info, self.xty - self.sums.T @ (c * self.y_sums))
        # r' V^-1 r from the residuals themselves: no cancellation against y'y.
        residuals = self.data.y - self.data.x @ beta
        cluster_sums = np.bincount(self.data.groups, weights=residuals, minlength=c.size)
        quadratic = float(residuals @ residuals - c @ cluster_sums**2)
        sigma2 = quadratic / self.nu
        deviance = float(np.sum(np.log1p(self.counts * gamma)))
        deviance += self.nu * (1.0 + math.log(2.0 * math.pi * sigma2))
        if self.reml:
            deviance += float(np.linalg.slogdet(info)[1])
        return deviance, np.asarray(beta, dtype=np.float64), sigma2, info

    def deviance(self, theta: float) -> float:
        return self.solve(theta)[0]


def _fit_mixed(data: _Data, reml: bool) -> _MixedFit:
    profile = _Profile(data, reml)
    try:
        values = [profile.deviance(float(t)) for t in THETA_GRID]
        best = int(np.argmin(values))
        theta = float(THETA_GRID[best])
        if best > 0:
            # The profiled deviance of one variance ratio: Brent between the best grid point's
            # neighbours, to far below the precision lme4 reports.
            upper = THETA_GRID[min(best + 1, THETA_GRID.size - 1)]
            found = optimize.minimize_scalar(
                profile.deviance,
                bounds=(float(THETA_GRID[best - 1]), float(upper)),
                method="bounded",
                options={"xatol": 1e-10 * max(1.0, theta)},
            )
            if float(found.fun) < values[best]:
                theta = float(found.x)
        deviance, beta, sigma2, info = profile.solve(theta)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise MultilevelError(f"the random-intercept model could not be fitted: {exc}") from exc
    tau2 = theta * theta * sigma2
    messages: tuple[str, ...] = ()
    if theta == 0.0:
        messages = ("boundary (singular) fit: the cluster variance is estimated as 0",)
    if not (math.isfinite(tau2) and math.isfinite(sigma2) and np.all(np.isfinite(beta))):
        raise MultilevelError("the random-intercept model did not converge to finite estimates")
    # lme4's fixed-effect covariance: sigma^2 (X' V^-1 X)^-1 at the estimated variances.
    vcov = sigma2 * np.linalg.inv(info)
    return _MixedFit(
        beta=beta,
        vcov=np.asarray(vcov, dtype=np.float64),
        tau2=tau2,
        sigma2=sigma2,
        loglik=-0.5 * deviance,
        converged=True,
        messages=messages,
    )


def random_intercept(
    df: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    cluster: str,
    *,
    reml: bool = True,
) -> MixedResult:
    """``lmer(outcome ~ predictors + (1 | cluster), REML = reml)`` on numeric columns of `df`."""
    data = _prepare(df, outcome, predictors, cluster, need_within=True)
    fit = _fit_mixed(data, reml)
    se = np.sqrt(np.diag(fit.vcov))
    coefficients = tuple(
        Coefficient(
            term=term,
            estimate=float(b),
            se=float(s),
            t=float(b / s),
            p=float(2 * stats.norm.sf(abs(b / s))),
        )
        for term, b, s in zip(data.terms, fit.beta, se, strict=True)
    )
    npar = len(data.terms) + 2
    return MixedResult(
        outcome=outcome,
        predictors=tuple(predictors),
        cluster=cluster,
        reml=reml,
        nobs=data.nobs,
        ngroups=data.ngroups,
        n_dropped=data.dropped,
        coefficients=coefficients,
        group_var=fit.tau2,
        residual_var=fit.sigma2,
        icc_adjusted=fit.tau2 / (fit.tau2 + fit.sigma2),
        loglik=fit.loglik,
        aic=-2 * fit.loglik + 2 * npar,
        bic=-2 * fit.loglik + npar * math.log(data.nobs),
        converged=fit.converged,
        messages=fit.messages,
    )


def icc(df: pd.DataFrame, outcome: str, cluster: str) -> ICCResult:
    """ICC(1) of `outcome` within `cluster` from ``lmer(outcome ~ 1 + (1 | cluster))`` (REML)."""
    data = _prepare(df, outcome, (), cluster, need_within=True)
    fit = _fit_mixed(data, reml=True)
    return ICCResult(
        outcome=outcome,
        cluster=cluster,
        icc=fit.tau2 / (fit.tau2 + fit.sigma2),
        group_var=fit.tau2,
        residual_var=fit.sigma2,
        intercept=float(fit.beta[0]),
        loglik=fit.loglik,
        nobs=data.nobs,
        ngroups=data.ngroups,
        n_dropped=data.dropped,
        converged=fit.converged,
    )


def icc_table(df: pd.DataFrame, outcomes: Sequence[str], cluster: str) -> pd.DataFrame:
    """One row per outcome: ICC, variance components, n and clusters (for a report table)."""
    rows = [icc(df, outcome, cluster).to_dict() for outcome in outcomes]
    return pd.DataFrame(rows)


# --- cluster-robust OLS ---------------------------------------------------------------------


def cluster_robust_ols(
    df: pd.DataFrame, outcome: str, predictors: Sequence[str], cluster: str
) -> RobustResult:
    """OLS of `outcome` on `predictors` with ``sandwich::vcovCL`` (HC1) cluster-robust SEs."""
    data = _prepare(df, outcome, predictors, cluster, need_within=False)
    fit = OLS(data.y, data.x).fit(cov_type="cluster", cov_kwds={"groups": data.groups})
    beta = np.asarray(fit.params, dtype=np.float64)
    se = np.asarray(fit.bse, dtype=np.float64)
    df_resid = data.nobs - data.x.shape[1]
    # statsmodels' default correction is sandwich's HC1-type G/(G-1) * (N-1)/(N-K); the t
    # tests use N - K degrees of freedom as lmtest::coeftest does for an lm.
    t = beta / se
    p = 2 * stats.t.sf(np.abs(t), df_resid)
    residuals = data.y - data.x @ beta
    sigma2 = float(residuals @ residuals) / df_resid
    se_ols = np.sqrt(np.diag(sigma2 * np.linalg.inv(data.x.T @ data.x)))
    centred = data.y - data.y.mean()
    r_squared = 1.0 - float(residuals @ residuals) / float(centred @ centred)
    return RobustResult(
        outcome=outcome,
        predictors=tuple(predictors),
        cluster=cluster,
        nobs=data.nobs,
        nclusters=data.ngroups,
        n_dropped=data.dropped,
        df_resid=df_resid,
        coefficients=tuple(
            Coefficient(term, float(b), float(s), float(tt), float(pp))
            for term, b, s, tt, pp in zip(data.terms, beta, se, t, p, strict=True)
        ),
        se_ols=tuple(float(v) for v in se_ols),
        r_squared=r_squared,
    )
