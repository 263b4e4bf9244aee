"""Scale reliability in plain numpy: Cronbach's alpha (psych::alpha) and McDonald's omega total.

Every number is defined to equal R ``psych`` 2.2.9, so that a methodologist can check it:

* **alpha** follows ``psych::alpha(x, keys = ...)`` with its default ``use = "pairwise"``: the
  item covariance matrix C is computed pairwise (each pair on the rows that answered both,
  with that pair's own means, divisor n - 1); reverse-keyed items enter as sign flips of C.
  Standardised alpha, the average inter-item r, G6 and ``std.r`` use ``R = cov2cor(C)`` -- the
  pairwise *covariance* rescaled by the pairwise variances, which is not the same as the
  pairwise correlation matrix when values are missing. ``raw.r`` is the pairwise correlation
  of each keyed item with the row mean of the answered keyed items. ``r.drop`` (item-rest
  correlation) and alpha if item dropped come from C as well.
* **omega** follows ``psych::omega(x, nfactors = 1, fm = "minres", key = keys)``: one factor is
  extracted by minres from the pairwise *correlation* matrix (as psych::omega does), and
  ``omega.tot = (sum(R) - sum(u2)) / sum(R)`` with ``u2 = 1 - h2``. One factor, because
  psych's default of three group factors makes no sense for scales of three to five items,
  and a single common factor is what a scale score assumes. ``omega_h`` is psych's
  ``(sum of loadings)^2 / sum(R)``, reported because psych reports it.

Every result states its missing-data handling (``missing = "pairwise"``). Rows in which none of
the scale's items is answered are left out before anything is computed: they are not
respondents of the scale (psych would count them in ``n`` and in the standard errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize

from vakstem.analysis.scoring import ScoringError, item_bounds, keyed_items, numeric_items
from vakstem.instrument.schema import Scale, Study, text_in

Matrix = npt.NDArray[np.float64]

#: One common factor is identified from three indicators on.
OMEGA_MIN_ITEMS = 3

#: A uniqueness at psych's lower bound (0.005) or below marks a Heywood case.
HEYWOOD_UNIQUENESS = 0.005 + 1e-6

#: Fewest rows that must answer every pair of items jointly for a covariance to be usable.
MIN_PAIR_ROWS = 3


class ReliabilityError(ValueError):
    """Reliability cannot be computed for a scale; the message names the scale and the problem."""


@dataclass(frozen=True)
class AlphaDrop:
    """Reliability of the scale without one item (a row of psych's ``alpha.drop``)."""

    item: str
    raw_alpha: float
    std_alpha: float
    g6_smc: float
    average_r: float
    s_n: float
    alpha_se: float
    var_r: float
    med_r: float


@dataclass(frozen=True)
class ItemStats:
    """One item's statistics (a row of psych's ``item.stats``); means after reverse-keying."""

    item: str
    reversed: bool
    n: int
    raw_r: float
    std_r: float
    r_cor: float
    r_drop: float
    mean: float
    sd: float


@dataclass(frozen=True)
class AlphaResult:
    """Cronbach's alpha of one scale with psych's companion statistics."""

    scale: str
    items: tuple[str, ...]
    reverse: tuple[str, ...]
    n: int
    raw_alpha: float
    std_alpha: float
    g6_smc: float
    average_r: float
    s_n: float
    ase: float
    mean: float
    sd: float
    median_r: float
    item_stats: tuple[ItemStats, ...]
    alpha_drop: tuple[AlphaDrop, ...]
    missing: Literal["pairwise"] = "pairwise"

    def to_dict(self) -> dict[str, Any]:
        """The result under psych's own names (``raw_alpha``, ``std.alpha``, ``r.drop`` ...)."""
        return {
            "scale": self.scale,
            "items": list(self.items),
            "reverse": list(self.reverse),
            "n": self.n,
            "missing": self.missing,
            "total": {
                "raw_alpha": self.raw_alpha,
                "std.alpha": self.std_alpha,
                "G6(smc)": self.g6_smc,
                "average_r": self.average_r,
                "S/N": self.s_n,
                "ase": self.ase,
                "mean": self.mean,
                "sd": self.sd,
                "median_r": self.median_r,
            },
            "alpha.drop": [
                {
                    "item": d.item,
                    "raw_alpha": d.raw_alpha,
                    "std.alpha": d.std_alpha,
                    "G6(smc)": d.g6_smc,
                    "average_r": d.average_r,
                    "S/N": d.s_n,
                    "alpha se": d.alpha_se,
                    "var.r": d.var_r,
                    "med.r": d.med_r,
                }
                for d in self.alpha_drop
            ],
            "item.stats": [
                {
                    "item": s.item,
                    "reversed": s.reversed,
                    "n": s.n,
                    "raw.r": s.raw_r,
                    "std.r": s.std_r,
                    "r.cor": s.r_cor,
                    "r.drop": s.r_drop,
                    "mean": s.mean,
                    "sd": s.sd,
                }
                for s in self.item_stats
            ],
        }


# --- pairwise moments ---------------------------------------------------------------------


def _pairwise_cov(x: Matrix) -> tuple[Matrix, npt.NDArray[np.int64]]:
    """R's ``cov(x, use = "pairwise")`` and the number of rows behind each entry."""
    k = x.shape[1]
    observed = ~np.isnan(x)
    counts = observed.T.astype(np.int64) @ observed.astype(np.int64)
    cov = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i, k):
            both = observed[:, i] & observed[:, j]
            if both.sum() < 2:
                continue
            a = x[both, i]
            b = x[both, j]
            value = float(np.dot(a - a.mean(), b - b.mean()) / (len(a) - 1))
            cov[i, j] = cov[j, i] = value
    return cov, counts


def _pairwise_cor(x: Matrix) -> Matrix:
    """R's ``cor(x, use = "pairwise")``: each pair standardised on its own joint rows."""
    k = x.shape[1]
    observed = ~np.isnan(x)
    cor = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            both = observed[:, i] & observed[:, j]
            a = x[both, i] - x[both, i].mean()
            b = x[both, j] - x[both, j].mean()
            cor[i, j] = cor[j, i] = float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return cor


def _cov2cor(c: Matrix) -> Matrix:
    d = 1.0 / np.sqrt(np.diag(c))
    return np.asarray(c * np.outer(d, d), dtype=np.float64)


def smc(r: Matrix) -> Matrix:
    """Squared multiple correlations, ``1 - 1/diag(R^-1)`` clipped to [0, 1] as psych::smc."""
    inv = np.linalg.pinv(r)
    out = 1.0 - 1.0 / np.diag(inv)
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)


# --- alpha ------------------------------------------------------------------------------


@dataclass
class _AlphaCore:
    raw: float
    std: float
    g6: float
    av_r: float
    s_n: float
    q: float
    var_r: float
    med_r: float


def _alpha_core(c: Matrix, r: Matrix) -> _AlphaCore:
    """psych's internal ``alpha.1``: the scale-level coefficients of a covariance matrix."""
    n = c.shape[0]
    sum_c = float(c.sum())
    tr_c = float(np.trace(c))
    sum_r = float(r.sum())
    raw = (1.0 - tr_c / sum_c) * (n / (n - 1))
    std = (1.0 - n / sum_r) * (n / (n - 1))
    g6 = 1.0 - (n - float(smc(r).sum())) / sum_r
    av_r = (sum_r - n) / (n * (n - 1))
    lower = r[np.tril_indices(n, -1)]
    var_r = float(np.var(lower, ddof=1)) if lower.size > 1 else float("nan")
    med_r = float(np.median(lower))
    s_n = n * av_r / (1.0 - av_r)
    cc = c @ c
    q = (2.0 * n**2 / ((n - 1) ** 2 * sum_c**3)) * (
        sum_c * (float(np.trace(cc)) + tr_c**2) - 2.0 * (tr_c * float(cc.sum()))
    )
    return _AlphaCore(raw, std, g6, av_r, s_n, q, var_r, med_r)


@dataclass(frozen=True)
class _Prepared:
    scale: str
    items: tuple[str, ...]
    reverse: tuple[str, ...]
    x: Matrix
    keys: Matrix


def _prepare(
    x: pd.DataFrame | Matrix,
    items: Sequence[str] | None,
    reverse: Sequence[str],
    scale: str,
) -> _Prepared:
    """Validate an item matrix (already reverse-keyed) and drop rows without any answer."""
    frame = pd.DataFrame(x)
    if items is not None:
        if len(items) != frame.shape[1]:
            raise ReliabilityError(
                f"scale {scale!r}: {len(items)} item names for {frame.shape[1]} columns"
            )
        frame.columns = pd.Index(list(items))
    elif not isinstance(x, pd.DataFrame):
        frame.columns = pd.Index([f"V{i + 1}" for i in range(frame.shape[1])])
    frame.columns = pd.Index([str(c) for c in frame.columns])
    names = tuple(frame.columns)
    if len(names) < 2:
        raise ReliabilityError(
            f"scale {scale!r} has {len(names)} item(s); reliability needs at least 2"
        )
    for name in names:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(
            column.dtype
        ):
            raise ReliabilityError(f"scale {scale!r}: item {name!r} is not numeric")
    values = frame.to_numpy(dtype=np.float64)
    values = values[~np.isnan(values).all(axis=1)]
    if values.shape[0] < MIN_PAIR_ROWS:
        raise ReliabilityError(
            f"scale {scale!r}: only {values.shape[0]} row(s) answer any of its items; "
            f"at least {MIN_PAIR_ROWS} are needed"
        )
    for i, name in enumerate(names):
        col = values[:, i]
        col = col[~np.isnan(col)]
        if col.size < 2 or float(np.ptp(col)) == 0.0:
            shown = "no answers" if col.size == 0 else f"only the value {col[0]:g}"
            raise ReliabilityError(
                f"scale {scale!r}: item {name!r} has zero variance ({shown}); "
                "drop it from the scale or check the data"
            )
    observed = ~np.isnan(values)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            joint = int((observed[:, i] & observed[:, j]).sum())
            if joint < MIN_PAIR_ROWS:
                raise ReliabilityError(
                    f"scale {scale!r}: items {names[i]!r} and {names[j]!r} are answered "
                    f"together in only {joint} row(s); at least {MIN_PAIR_ROWS} are needed"
                )
    unknown = [r for r in reverse if r not in names]
    if unknown:
        raise ReliabilityError(
            f"scale {scale!r}: reverse-keyed item(s) {', '.join(unknown)} not among its items"
        )
    keys = np.array([-1.0 if n in reverse else 1.0 for n in names])
    return _Prepared(scale, names, tuple(reverse), values, keys)


def cronbach_alpha(
    x: pd.DataFrame | Matrix,
    *,
    items: Sequence[str] | None = None,
    reverse: Sequence[str] = (),
    scale: str = "scale",
) -> AlphaResult:
    """Cronbach's alpha as ``psych::alpha`` computes it, for an already reverse-keyed matrix.

    `x` holds one column per item, NaN where unanswered, with reverse-keyed items already
    recoded (`vakstem.analysis.scoring.keyed_items` does that). `reverse` only labels those
    items in the result; it does not flip them again.
    """
    p = _prepare(x, items, reverse, scale)
    k = len(p.items)
    c, counts = _pairwise_cov(p.x)
    r = _cov2cor(c)
    n_rows = p.x.shape[0]
    total = _alpha_core(c, r)

    drops: list[AlphaDrop] = []
    for i, name in enumerate(p.items):
        keep = [j for j in range(k) if j != i]
        if k > 2:
            d = _alpha_core(c[np.ix_(keep, keep)], r[np.ix_(keep, keep)])
            se = float(np.sqrt(d.q / n_rows)) if n_rows > k else float("nan")
            drops.append(AlphaDrop(name, d.raw, d.std, d.g6, d.av_r, d.s_n, se, d.var_r, d.med_r))
        else:
            # Alpha of a single remaining item is not defined; psych prints a covariance
            # ratio here, which is not a reliability and would only mislead.
            nan = float("nan")
            drops.append(AlphaDrop(name, nan, nan, nan, nan, nan, nan, nan, nan))

    sum_r = float(r.sum())
    std_r = r.sum(axis=0) / np.sqrt(sum_r)
    rc = r.copy()
    np.fill_diagonal(rc, smc(r))
    # With few responses the sum can be negative: NaN then, as psych's (R says "NaNs produced").
    with np.errstate(invalid="ignore"):
        r_cor = rc.sum(axis=0) / np.sqrt(float(rc.sum()))
    r_drop = np.empty(k)
    for i in range(k):
        keep = [j for j in range(k) if j != i]
        v_drop = float(c[np.ix_(keep, keep)].sum())
        c_drop = float(c[:, i].sum() - c[i, i])
        r_drop[i] = c_drop / np.sqrt(c[i, i] * v_drop)

    row_mean = np.nanmean(p.x, axis=1)
    stats: list[ItemStats] = []
    for i, name in enumerate(p.items):
        col = p.x[:, i]
        ok = ~np.isnan(col)
        raw_r = float(np.corrcoef(col[ok], row_mean[ok])[0, 1])
        stats.append(
            ItemStats(
                item=name,
                reversed=name in p.reverse,
                n=int(counts[i, i]),
                raw_r=raw_r,
                std_r=float(std_r[i]),
                r_cor=float(r_cor[i]),
                r_drop=float(r_drop[i]),
                mean=float(col[ok].mean()),
                sd=float(col[ok].std(ddof=1)),
            )
        )

    return AlphaResult(
        scale=p.scale,
        items=p.items,
        reverse=p.reverse,
        n=n_rows,
        raw_alpha=total.raw,
        std_alpha=total.std,
        g6_smc=total.g6,
        average_r=total.av_r,
        s_n=total.s_n,
        ase=float(np.sqrt(total.q / n_rows)),
        mean=float(row_mean.mean()),
        sd=float(row_mean.std(ddof=1)),
        median_r=total.med_r,
        item_stats=tuple(stats),
        alpha_drop=tuple(drops),
    )


# --- omega ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinresSolution:
    """A minres (unweighted least squares) factor solution of a correlation matrix."""

    loadings: Matrix
    uniquenesses: Matrix
    objective: float
    converged: bool
    iterations: int


def _top_loadings(s: Matrix, nfactors: int) -> Matrix:
    values, vectors = np.linalg.eigh(s)
    order = np.argsort(values)[::-1][:nfactors]
    return np.asarray(vectors[:, order] * np.sqrt(np.maximum(values[order], 0.0)))


def minres(r: Matrix, nfactors: int = 1) -> MinresSolution:
    """Minres factoring as ``psych::fa(r, nfactors, fm = "minres")`` does it (unrotated).

    The uniquenesses psi minimise the sum of squared off-diagonal residuals of
    ``R - L L'``, where L are the leading eigenvectors of R with 1 - psi on its diagonal,
    scaled by the square roots of their eigenvalues. Like psych: start at 1 - smc,
    bounds [0.005, max(1, smc)], L-BFGS-B with psych's analytic gradient; loadings from the
    final psi; each factor's sign chosen so its loadings sum to a positive number.
    """
    k = r.shape[0]
    eps = float(np.finfo(np.float64).eps)
    s_smc = smc(r)
    upper = max(float(s_smc.max()), 1.0)
    lower_tri = np.tril_indices(k, -1)

    def objective(psi: Matrix) -> float:
        s = r.copy()
        np.fill_diagonal(s, 1.0 - psi)
        values, vectors = np.linalg.eigh(s)
        order = np.argsort(values)[::-1][:nfactors]
        top = np.where(values[order] < eps, 100 * eps, values[order])
        load = vectors[:, order] * np.sqrt(top)
        residual = (s - load @ load.T)[lower_tri]
        return float(np.sum(residual**2))

    def gradient(psi: Matrix) -> Matrix:
        load = _top_loadings(r - np.diag(psi), nfactors)
        g = load @ load.T + np.diag(psi) - r
        return np.asarray(np.diag(g), dtype=np.float64)

    start = np.diag(r) - s_smc
    fit = minimize(
        objective,
        start,
        jac=gradient,
        method="L-BFGS-B",
        bounds=[(0.005, upper)] * k,
        options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-10},
    )
    psi = np.asarray(fit.x, dtype=np.float64)
    s = r.copy()
    np.fill_diagonal(s, np.diag(r) - psi)
    loadings = _top_loadings(s, nfactors)
    signs = np.where(loadings.sum(axis=0) < 0, -1.0, 1.0)
    loadings = loadings * signs
    return MinresSolution(
        loadings=loadings,
        uniquenesses=psi,
        objective=float(fit.fun),
        converged=bool(fit.success),
        iterations=int(fit.nit),
    )


@dataclass(frozen=True)
class OmegaResult:
    """McDonald's omega total from a one-factor minres solution (``psych::omega``, 1 factor)."""

    scale: str
    items: tuple[str, ...]
    reverse: tuple[str, ...]
    n: int
    omega_tot: float
    omega_h: float
    alpha: float
    g6: float
    loadings: tuple[float, ...]
    h2: tuple[float, ...]
    u2: tuple[float, ...]
    #: A uniqueness at the 0.005 bound, i.e. a communality of about 1 or more (Heywood case):
    #: the one-factor model does not fit and omega should not be reported as is.
    heywood: bool
    converged: bool
    fm: Literal["minres"] = "minres"
    nfactors: int = 1
    missing: Literal["pairwise"] = "pairwise"

    def to_dict(self) -> dict[str, Any]:
        """The result under psych's names (``omega.tot``, ``omega_h``, ``G6``; per item h2, u2)."""
        return {
            "scale": self.scale,
            "items": list(self.items),
            "reverse": list(self.reverse),
            "n": self.n,
            "missing": self.missing,
            "fm": self.fm,
            "nfactors": self.nfactors,
            "omega.tot": self.omega_tot,
            "omega_h": self.omega_h,
            "alpha": self.alpha,
            "G6": self.g6,
            "loadings": list(self.loadings),
            "h2": list(self.h2),
            "u2": list(self.u2),
            "heywood": self.heywood,
            "converged": self.converged,
        }


def mcdonald_omega(
    x: pd.DataFrame | Matrix,
    *,
    items: Sequence[str] | None = None,
    reverse: Sequence[str] = (),
    scale: str = "scale",
) -> OmegaResult:
    """Omega total as ``psych::omega(x, nfactors = 1, fm = "minres", key = keys)`` gives it.

    `x` is the already reverse-keyed item matrix (as for `cronbach_alpha`). The factor is
    fitted to the pairwise correlation matrix (``cor(x, use = "pairwise")``), as psych does.
    """
    p = _prepare(x, items, reverse, scale)
    if len(p.items) < OMEGA_MIN_ITEMS:
        raise ReliabilityError(
            f"scale {scale!r} has {len(p.items)} items; omega needs at least "
            f"{OMEGA_MIN_ITEMS} (one factor on two items is not identified)"
        )
    r = _pairwise_cor(p.x)
    if not np.all(np.isfinite(r)):
        raise ReliabilityError(f"scale {scale!r}: the item correlations could not be computed")
    k = len(p.items)
    solution = minres(r, 1)
    load = solution.loadings[:, 0]
    h2 = load**2
    u2 = 1.0 - h2
    vt = float(r.sum())
    tr = float(np.trace(r))
    return OmegaResult(
        scale=p.scale,
        items=p.items,
        reverse=p.reverse,
        n=p.x.shape[0],
        omega_tot=(vt - float(u2.sum())) / vt,
        omega_h=float(load.sum()) ** 2 / vt,
        alpha=((vt - tr) / vt) * (k / (k - 1)),
        g6=(vt + float(smc(r).sum()) - tr) / vt,
        loadings=tuple(float(v) for v in load),
        h2=tuple(float(v) for v in h2),
        u2=tuple(float(v) for v in u2),
        heywood=bool(np.any(u2 <= HEYWOOD_UNIQUENESS)),
        converged=solution.converged,
    )


# --- study level ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleReliability:
    """Alpha and omega of one declared scale (omega is None for a two-item scale)."""

    scale: str
    label: str
    alpha: AlphaResult
    omega: OmegaResult | None
    missing: Literal["pairwise"] = "pairwise"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "label": self.label,
            "missing": self.missing,
            "alpha": self.alpha.to_dict(),
            "omega": None if self.omega is None else self.omega.to_dict(),
        }


def scale_reliability(
    study: Study, df: pd.DataFrame, scale: Scale, *, numeric: bool = False
) -> ScaleReliability:
    """Alpha and omega of one declared scale on the tidy response table.

    `numeric=True` says `df` has already been through `numeric_items` (saves the copy).
    """
    data = df if numeric else numeric_items(study, df)
    try:
        x = keyed_items(data, scale, item_bounds(study))
    except ScoringError as exc:
        raise ReliabilityError(str(exc)) from exc
    return ScaleReliability(
        scale=scale.id,
        label=text_in(scale.label, study.default_language),
        alpha=cronbach_alpha(x, reverse=scale.reverse, scale=scale.id),
        omega=(
            mcdonald_omega(x, reverse=scale.reverse, scale=scale.id)
            if len(scale.items) >= OMEGA_MIN_ITEMS
            else None
        ),
    )


TABLE_COLUMNS = (
    "scale",
    "label",
    "n_items",
    "n",
    "raw_alpha",
    "std_alpha",
    "omega_tot",
    "average_r",
    "min_r_drop",
    "missing",
    "problem",
)


def reliability_table(
    study: Study, df: pd.DataFrame, *, on_error: Literal["raise", "note"] = "raise"
) -> pd.DataFrame:
    """One row per scale of the study: n, alpha raw and standardised, omega, weakest item.

    With ``on_error="note"`` a scale that cannot be assessed (one item, zero variance, too
    few rows) gets a row with its reason in ``problem`` instead of stopping the whole table.
    """
    numeric = numeric_items(study, df)
    rows: list[dict[str, Any]] = []
    for scale in study.scales:
        label = text_in(scale.label, study.default_language)
        try:
            rel = scale_reliability(study, numeric, scale, numeric=True)
        except ReliabilityError as exc:
            if on_error == "raise":
                raise
            rows.append(
                {
                    "scale": scale.id,
                    "label": label,
                    "n_items": len(scale.items),
                    "missing": "pairwise",
                    "problem": str(exc),
                }
            )
            continue
        a = rel.alpha
        rows.append(
            {
                "scale": scale.id,
                "label": label,
                "n_items": len(a.items),
                "n": a.n,
                "raw_alpha": a.raw_alpha,
                "std_alpha": a.std_alpha,
                "omega_tot": float("nan") if rel.omega is None else rel.omega.omega_tot,
                "average_r": a.average_r,
                "min_r_drop": min(s.r_drop for s in a.item_stats),
                "missing": "pairwise",
                "problem": None,
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
