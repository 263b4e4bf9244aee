"""The numerical core: RAM model matrices, model-implied moments and their Jacobian, the normal
likelihood for complete data (ML) and by missing-data pattern (FIML), the EM estimate of the
saturated model, and the information matrices lavaan uses for standard errors and robust tests.

Conventions follow lavaan so numbers compare directly: the sample covariance has divisor N, the
fit function is `fmin = sum_g (N_g/N) * 0.5 * F_g` for ML (chi-square = 2 N fmin) and
`-loglik/N` for FIML, and "unit" information matrices are per observation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from vakstem.analysis.sem.errors import ConvergenceError, DataError, ModelSpecificationError
from vakstem.analysis.sem.partable import ParTable

Array = NDArray[np.float64]
LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class Pattern:
    """Cases of one group sharing a missing-data pattern."""

    observed: NDArray[np.intp]
    rows: NDArray[np.intp]
    mean: Array
    cov: Array  # divisor n of the pattern
    block: tuple[NDArray[np.intp], ...] = field(init=False)
    moments: NDArray[np.intp] = field(init=False)

    def __post_init__(self) -> None:
        # np.ix_ is slow next to the small matrix algebra it indexes: build it once.
        self.block = np.ix_(self.observed, self.observed)
        self.moments = np.zeros(0, dtype=np.intp)


@dataclass
class MissingSet:
    """The rows of a group that miss k values: their missing columns (rows x k), the distinct
    sets of missing columns among them (sets x k) and which set each row misses. The inverse
    of Omega_mm depends only on the set, so a pass inverts it once per set, not once per row."""

    rows: NDArray[np.intp]
    columns: NDArray[np.intp]
    sets: NDArray[np.intp]
    which: NDArray[np.intp]


@dataclass
class DrawnSet:
    """The rows of one missing set that carry weight (a bootstrap draw leaves about a third of
    the rows out): their missing columns, centred values and observed mask, their weights,
    the distinct sets of missing columns that occur among them, which of those each row
    misses, and each set's total weight."""

    columns: NDArray[np.intp]
    centred: Array
    observed: Array
    row_w: Array
    sets: NDArray[np.intp]
    which: NDArray[np.intp]
    set_w: Array
    index: NDArray[np.intp] = field(init=False)

    def __post_init__(self) -> None:
        self.index = np.arange(self.columns.shape[0])[:, None]


@dataclass
class WeightedMoments:
    """What a FIML pass needs of a group's rows under their weights, summed once per weighting
    instead of once per pass. With c_i the row centred at `origin` (0 where missing) and o_i
    its observed mask: s1 = sum w c, s = sum w c c', a = sum w c o', pairs = sum w o o',
    counts = sum w o; and the incomplete rows with weight, by missing set."""

    total: float
    s1: Array
    s: Array
    a: Array
    pairs: Array
    counts: Array
    sets: list[DrawnSet]


@dataclass
class GroupData:
    """The data of one group in the model's observed-variable order (NaN = missing).

    `weights` counts how often each row is drawn (a bootstrap draw reweights the rows instead
    of copying them, so the missing-data layout below is built once per fit, not per draw)."""

    name: str
    y: Array
    missing: bool  # FIML
    weights: Array | None = None
    #: The observed variables' names, in the columns' order (for messages).
    variables: tuple[str, ...] = ()
    #: The cluster of each row as 0, 1, ... (`fit(cluster=...)`): the robust standard errors
    #: and test then sum the casewise scores within clusters (lavaan's robust.cluster).
    clusters: NDArray[np.intp] | None = None
    n: int = 0
    mean: Array = field(default_factory=lambda: np.zeros(0))
    cov: Array = field(default_factory=lambda: np.zeros((0, 0)))
    #: FIML: the data with 0 for NaN, the observed mask, the data centred at `origin` (the
    #: available-case means, so sums of squares do not cancel) with 0 for NaN, and the rows
    #: grouped by how many values they miss.
    filled: Array = field(default_factory=lambda: np.zeros((0, 0)))
    observed: Array = field(default_factory=lambda: np.zeros((0, 0)))
    centred: Array = field(default_factory=lambda: np.zeros((0, 0)))
    origin: Array = field(default_factory=lambda: np.zeros(0))
    missing_sets: list[MissingSet] = field(default_factory=list)
    _patterns: list[Pattern] | None = field(default=None, repr=False)
    _moments: WeightedMoments | None = field(default=None, repr=False)
    #: What the estimation computes from this data and its saturated moments alone (the
    #: saturated model's information matrices), shared by the model's and the baseline
    #: model's fit and the fit indices; keyed by what it is and the moments.
    cache: dict[tuple[str, bool, bytes], Array] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        w = self.row_weights
        self.n = round(float(w.sum()))
        if not self.missing:
            self.mean = w @ self.y / self.n
            centred = self.y - self.mean
            self.cov = (centred * w[:, None]).T @ centred / self.n
            return
        mask = ~np.isnan(self.y)
        self.observed = mask.astype(float)
        self.filled = np.where(mask, self.y, 0.0)
        absent = (~mask).sum(axis=1)
        for k in np.unique(absent):
            if k == 0:
                continue
            rows = np.flatnonzero(absent == k)
            columns = np.nonzero(~mask[rows])[1].reshape(rows.size, int(k)).astype(np.intp)
            sets, which = np.unique(columns, axis=0, return_inverse=True)
            self.missing_sets.append(MissingSet(rows, columns, sets, which.ravel()))
        # Starting moments: available-case means and variances.
        counts = w @ self.observed
        self.mean = (w @ self.filled) / counts
        centred = (self.filled - self.mean) * self.observed
        self.cov = np.diag((w @ centred**2) / counts)
        self.origin = self.mean.copy()
        self.centred = centred

    @property
    def n_clusters(self) -> int:
        """How many clusters the rows fall in (0 without clusters)."""
        if self.clusters is None or not self.clusters.size:
            return 0
        return int(self.clusters.max()) + 1

    @property
    def row_weights(self) -> Array:
        if self.weights is None:
            return np.ones(self.y.shape[0])
        return self.weights

    def reweighted(self, weights: Array) -> GroupData:
        """The same rows drawn `weights` times each (a bootstrap draw), sharing the layout."""
        if not self.missing:
            return GroupData(
                name=self.name,
                y=self.y,
                missing=False,
                weights=weights,
                clusters=self.clusters,
                variables=self.variables,
            )
        other = GroupData.__new__(GroupData)
        other.__dict__.update(self.__dict__)
        other.weights = weights
        other._patterns = None
        other._moments = None
        other.cache = {}
        other.n = round(float(weights.sum()))
        counts = weights @ self.observed
        with np.errstate(invalid="ignore", divide="ignore"):
            other.mean = (weights @ self.filled) / counts
            centred = (self.filled - other.mean) * self.observed
            other.cov = np.diag((weights @ centred**2) / counts)
        return other

    @property
    def moments(self) -> WeightedMoments:
        """The weighted sums a FIML pass starts from (built on first use)."""
        if self._moments is None:
            w = self.row_weights
            c, o = self.centred, self.observed
            drawn = np.flatnonzero(w > 0) if self.weights is not None else None
            if drawn is not None and drawn.size < w.size:
                c, o, w = c[drawn], o[drawn], w[drawn]
            cw = c * w[:, None]
            sets = []
            incomplete_s1 = np.zeros(c.shape[1])
            a = np.zeros((c.shape[1],) * 2)
            pairs = np.zeros_like(a)
            for missing_set in self.missing_sets:
                rows, columns, which = missing_set.rows, missing_set.columns, missing_set.which
                row_w = self.row_weights[rows]
                if self.weights is not None:
                    keep = row_w > 0
                    rows, columns, which, row_w = (
                        rows[keep],
                        columns[keep],
                        which[keep],
                        row_w[keep],
                    )
                if rows.size == 0:
                    continue
                present, which = np.unique(which, return_inverse=True)
                set_w = np.bincount(which, weights=row_w).astype(np.float64)
                centred = self.centred[rows]
                observed = self.observed[rows]
                sets.append(
                    DrawnSet(
                        columns, centred, observed, row_w, missing_set.sets[present], which, set_w
                    )
                )
                weighted = centred * row_w[:, None]
                incomplete_s1 += weighted.sum(axis=0)
                a += weighted.T @ observed
                pairs += (observed * row_w[:, None]).T @ observed
            # Complete rows add their s1 to every column of a and their total weight to every
            # pair: only the incomplete rows need the products.
            total = float(w.sum())
            s1 = cw.sum(axis=0)
            incomplete_w = sum(float(d.row_w.sum()) for d in sets)
            a += np.outer(s1 - incomplete_s1, np.ones(c.shape[1]))
            pairs += total - incomplete_w
            self._moments = WeightedMoments(
                total=total, s1=s1, s=cw.T @ c, a=a, pairs=pairs, counts=w @ o, sets=sets
            )
        return self._moments

    @property
    def patterns(self) -> list[Pattern]:
        """Cases grouped by missing-data pattern (FIML, unweighted data only)."""
        if self._patterns is None:
            if self.weights is not None:
                raise ValueError("missing-data patterns of a reweighted group are not built")
            self._patterns = []
            mask = ~np.isnan(self.y)
            keys, inverse = np.unique(mask, axis=0, return_inverse=True)
            for k, key in enumerate(keys):
                observed = np.flatnonzero(key)
                if observed.size == 0:
                    continue
                rows = np.flatnonzero(inverse.ravel() == k)
                values = self.y[np.ix_(rows, observed)]
                mean = values.mean(axis=0)
                centred = values - mean
                self._patterns.append(
                    Pattern(observed, rows, mean, centred.T @ centred / rows.size)
                )
        return self._patterns


@dataclass
class CaseState:
    """One pass of the FIML likelihood over the cases at (mu, Sigma). With K_i = Sigma_oo^-1 of
    case i and e_i = Sigma K_i (y_o - mu_o) (full length: the observed deviations, and at the
    missing values minus their conditional deviation, so mu + e_i is the case's conditional
    expectation): the log-likelihood, Omega = Sigma^-1, the weighted sums of e_i (`e_sum`) and
    of e_i e_i' (`e_outer`, None when not asked for), and the weighted sum of the inverse
    conditional covariances of the missing values given the observed ones (`u`). Then
    sum w K_i = (sum w) Omega - Omega u Omega and sum w K_i d_i d_i' K_i = Omega e_outer
    Omega."""

    loglik: float
    omega: Array
    e_sum: Array
    e_outer: Array | None
    u: Array


def fiml_pass(group: GroupData, sigma: Array, mu: Array, outer: bool = True) -> CaseState | None:
    """FIML quantities without inverting a matrix per case or per missing-data pattern, and
    with no pass over the complete cases at all. With Omega = Sigma^-1 and d_i the case's
    deviations (0 where missing), d_o' Sigma_oo^-1 d_o = d' Omega d - t' Omega_mm^-1 t with
    t = Omega_mo d_o, and log|Sigma_oo| = log|Sigma| + log|Omega_mm|. The sum of d' Omega d
    over the cases is tr(Omega sum w d d'), and sum w d d' follows from the group's weighted
    moments (once per weighting); what is left per case is t and s = Omega_mm^-1 t (k values
    for a case missing k), with Omega_mm^-1 inverted once per distinct set of missing columns.
    None unless Sigma is positive definite. `outer=False` skips e_outer (the objective alone
    needs only the log-likelihood)."""
    decomposed = inverse_logdet(sigma)
    if decomposed is None:
        return None
    omega, logdet = decomposed
    stats = group.moments
    p = sigma.shape[0]
    shift = mu - group.origin
    # sum w d d' and sum w d, with d = c - shift * o.
    a_shift = stats.a * shift[None, :]
    dd = stats.s - a_shift - a_shift.T + stats.pairs * np.outer(shift, shift)
    d_sum = stats.s1 - stats.counts * shift
    quad = float(np.sum(omega * dd))
    logdet_total = stats.total * logdet
    u = np.zeros((p, p))
    s_sum = np.zeros(p)
    cross = np.zeros((p, p))
    s_outer = np.zeros((p, p))
    for drawn in stats.sets:
        sets = drawn.sets
        omm = omega[sets[:, :, None], sets[:, None, :]]
        inv_sets = np.linalg.inv(omm)
        _sign, logdet_sets = np.linalg.slogdet(omm)
        logdet_total += float(drawn.set_w @ logdet_sets)
        flat = (sets[:, :, None] * p + sets[:, None, :]).ravel()
        u += np.bincount(
            flat, weights=(drawn.set_w[:, None, None] * inv_sets).ravel(), minlength=p * p
        ).reshape(p, p)
        d = drawn.centred - shift * drawn.observed
        t = np.einsum("nkp,np->nk", omega[drawn.columns], d)
        s = np.einsum("nij,nj->ni", inv_sets[drawn.which], t)
        ws = s * drawn.row_w[:, None]
        quad -= float(np.sum(ws * t))
        if not outer:
            continue
        # e = d - s scattered into the missing columns: sums of e and e e' from those of d.
        scattered = np.zeros(d.shape)
        scattered[drawn.index, drawn.columns] = ws
        s_sum += scattered.sum(axis=0)
        cross += d.T @ scattered
        plain = np.zeros(d.shape)
        plain[drawn.index, drawn.columns] = s
        s_outer += scattered.T @ plain
    loglik = -0.5 * (float(stats.counts.sum()) * LOG_2PI + logdet_total + quad)
    e_outer = dd - cross - cross.T + s_outer if outer else None
    return CaseState(loglik, omega, d_sum - s_sum, e_outer, u)


def _add_columns(target: Array, free: NDArray[np.intp], values: Array, distinct: bool) -> None:
    """target[:, free[j]] += values[:, j], summing columns that share a parameter (equality
    constraints). np.add.at does this ten times slower than a plain fancy-index addition,
    which is right whenever the parameters are `distinct`."""
    if distinct:
        target[:, free] += values
        return
    for j, column in enumerate(free):
        target[:, column] += values[:, j]


@functools.cache
def vech_indices(p: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Lower-triangle (including the diagonal) indices, column by column as R's vech.
    Cached: callers must not modify the arrays."""
    cols, rows = np.triu_indices(p)
    return rows, cols


def normal_weight(sigma: Array, meanstructure: bool) -> Array:
    """Normal-theory unit information of (mu, vech Sigma) at Sigma: Sigma^-1 for the means and
    0.5 * D'(Sigma^-1 kron Sigma^-1)D for the covariances, built without the p^2 x p^2
    Kronecker product."""
    inv = np.linalg.inv(sigma)
    p = sigma.shape[0]
    r, c = vech_indices(p)
    pair = inv[np.ix_(r, r)] * inv[np.ix_(c, c)] + inv[np.ix_(r, c)] * inv[np.ix_(c, r)]
    factor = np.where(r == c, 1.0, 2.0)
    w_cov: Array = 0.25 * pair * np.outer(factor, factor)
    if not meanstructure:
        return w_cov
    w = np.zeros((p + w_cov.shape[0],) * 2)
    w[:p, :p] = inv
    w[p:, p:] = w_cov
    return w


def pattern_moments(pattern: Pattern, p: int) -> NDArray[np.intp]:
    """Positions of a pattern's (mu_o, vech Sigma_oo) in the full (mu, vech Sigma) vector."""
    if pattern.moments.size == 0:
        rows, cols = vech_indices(p)
        position = np.zeros((p, p), dtype=np.intp)
        position[rows, cols] = np.arange(rows.size)
        position[cols, rows] = np.arange(rows.size)
        o = pattern.observed
        sub_rows, sub_cols = vech_indices(o.size)
        pattern.moments = np.concatenate([o, p + position[o[sub_rows], o[sub_cols]]])
    return pattern.moments


def central_differences(
    function: Callable[[Array], Array],
    theta: Array,
    k: int,
    columns: Iterable[int] | None = None,
) -> Array:
    """The k x k Jacobian of a vector function of theta by central differences, with a step
    relative to each parameter's size; only the `columns` given (the others stay zero: the
    caller knows the function does not depend on those parameters)."""
    jacobian = np.zeros((k, k))
    for i in range(k) if columns is None else columns:
        h = 1e-5 * max(1.0, abs(theta[i]))
        up = theta.copy()
        down = theta.copy()
        up[i] += h
        down[i] -= h
        jacobian[:, i] = (function(up) - function(down)) / (2 * h)
    return jacobian


def vech_gradient(matrix: Array) -> Array:
    """Derivative with respect to vech(Sigma) of a function whose derivative with respect to a
    symmetric Sigma (treated elementwise) is `matrix`: off-diagonal elements count twice."""
    rows, cols = vech_indices(matrix.shape[0])
    out = matrix[rows, cols].copy()
    out[rows != cols] *= 2.0
    return out


@dataclass
class _FreeEntries:
    """The free entries of one model matrix in one group: positions (i, j), the free
    parameter of each, and whether those parameters are distinct (no equality constraints)."""

    i: NDArray[np.intp]
    j: NDArray[np.intp]
    free: NDArray[np.intp]
    distinct: bool
    off_diagonal: Array = field(init=False)

    def __post_init__(self) -> None:
        self.off_diagonal = np.where(self.i != self.j, 1.0, 0.0)


class Model:
    """A model ready to evaluate: the parameter table mapped onto RAM matrices per group."""

    def __init__(self, table: ParTable, groups: list[GroupData]) -> None:
        self.table = table
        self.groups = groups
        self.ov = table.ov
        self.variables = table.ov + table.lv
        self.p = len(table.ov)
        self.nv = len(self.variables)
        self.n_free = table.n_free
        self.meanstructure = table.meanstructure
        self.n_total = sum(g.n for g in groups)
        index = {name: i for i, name in enumerate(self.variables)}
        self.entries: list[list[tuple[int, int, int, int, int]]] = []  # kind, i, j, free, row
        for g in range(table.n_groups):
            entries = []
            for r, row in enumerate(table.rows):
                if row.group != g + 1:
                    continue
                if row.op == "=~":
                    entries.append((0, index[row.rhs], index[row.lhs], row.free - 1, r))
                elif row.op == "~":
                    entries.append((0, index[row.lhs], index[row.rhs], row.free - 1, r))
                elif row.op == "~~":
                    entries.append((1, index[row.lhs], index[row.rhs], row.free - 1, r))
                elif row.op == "~1":
                    entries.append((2, index[row.lhs], 0, row.free - 1, r))
            self.entries.append(entries)
        self.values = np.array([row.value for row in table.rows], dtype=float)
        self.vech_rows, self.vech_cols = vech_indices(self.p)
        self.row_free = np.array([row.free - 1 for row in table.rows], dtype=np.intp)
        # Per group and matrix kind: index arrays (i, j, free index or -1, table row), so the
        # matrices and the Jacobian are built with array operations, not Python loops.
        self.kind_index: list[list[tuple[NDArray[np.intp], ...]]] = []
        for entries in self.entries:
            per_kind = []
            for kind in range(3):
                chosen = [e for e in entries if e[0] == kind]
                per_kind.append(
                    tuple(np.array([e[k] for e in chosen], dtype=np.intp) for k in range(1, 5))
                )
            self.kind_index.append(per_kind)
        # The free entries of each kind for the Jacobian, built once per model (it is needed
        # at every optimiser step), with whether their parameters are distinct.
        self.delta_index: list[tuple[_FreeEntries, _FreeEntries, _FreeEntries]] = []
        for per_kind in self.kind_index:
            free_entries: list[_FreeEntries] = []
            for i, j, free, _row in per_kind:
                keep = free >= 0
                distinct = bool(np.unique(free[keep]).size == keep.sum())
                free_entries.append(_FreeEntries(i[keep], j[keep], free[keep], distinct))
            self.delta_index.append((free_entries[0], free_entries[1], free_entries[2]))
        self._group_parameters: dict[int, list[int]] = {}

    # -- parameters ---------------------------------------------------------------------
    def row_values(self, theta: Array) -> Array:
        values = self.values.copy()
        free = self.row_free >= 0
        values[free] = theta[self.row_free[free]]
        return values

    def matrices(self, theta: Array, g: int) -> tuple[Array, Array, Array]:
        values = self.row_values(theta)
        a = np.zeros((self.nv, self.nv))
        s = np.zeros((self.nv, self.nv))
        m = np.zeros(self.nv)
        (ai, aj, _, ar), (si, sj, _, sr), (mi, _, _, mr) = self.kind_index[g]
        a[ai, aj] = values[ar]
        s[si, sj] = values[sr]
        s[sj, si] = values[sr]
        m[mi] = values[mr]
        return a, s, m

    def implied_all(self, theta: Array, g: int) -> tuple[Array, Array, Array]:
        """(I - A)^-1, covariance and mean of all variables (observed and latent)."""
        a, s, m = self.matrices(theta, g)
        b = np.asarray(np.linalg.inv(np.eye(self.nv) - a), dtype=np.float64)
        return b, np.asarray(b @ s @ b.T, dtype=np.float64), np.asarray(b @ m, dtype=np.float64)

    def implied(self, theta: Array) -> list[tuple[Array, Array]]:
        return [
            self._observed_moments(self.implied_all(theta, g), g) for g in range(len(self.groups))
        ]

    def _observed_moments(self, implied: tuple[Array, Array, Array], g: int) -> tuple[Array, Array]:
        """The observed variables' implied covariance and mean from `implied_all`."""
        _, cov, mean = implied
        sigma = cov[: self.p, : self.p]
        mu = mean[: self.p] if self.meanstructure else self.groups[g].mean.copy()
        return sigma, mu

    def delta(
        self, theta: Array, g: int, implied: tuple[Array, Array, Array] | None = None
    ) -> Array:
        """Jacobian of (mu if meanstructure, vech Sigma) with respect to the free parameters;
        `implied` is `implied_all(theta, g)` when the caller has it already."""
        b, cov, mean = implied if implied is not None else self.implied_all(theta, g)
        p = self.p
        bo = b[:p, :]
        r, c = self.vech_rows, self.vech_cols
        n_mean = p if self.meanstructure else 0
        out = np.zeros((n_mean + r.size, self.n_free))
        a_free, s_free, m_free = self.delta_index[g]
        if a_free.free.size:
            # d Sigma / d A_ij = B e_i (Sigma_all e_j)' + transpose, restricted to observed rows.
            left = bo[:, a_free.i]
            right = cov[a_free.j][:, :p].T
            d_vech = left[r] * right[c] + left[c] * right[r]
            _add_columns(out[n_mean:], a_free.free, d_vech, a_free.distinct)
            if n_mean:
                # B m is the mean of all variables.
                _add_columns(out[:n_mean], a_free.free, left * mean[a_free.j], a_free.distinct)
        if s_free.free.size:
            left = bo[:, s_free.i]
            right = bo[:, s_free.j]
            d_vech = left[r] * right[c] + s_free.off_diagonal * left[c] * right[r]
            _add_columns(out[n_mean:], s_free.free, d_vech, s_free.distinct)
        if n_mean and m_free.free.size:
            _add_columns(
                out[:n_mean],
                m_free.free,
                np.asarray(bo[:, m_free.i], dtype=np.float64),
                m_free.distinct,
            )
        return out

    # -- likelihood ---------------------------------------------------------------------
    def objective(self, theta: Array) -> float:
        """lavaan's fmin: ML discrepancy (complete data) or -loglik/N (FIML); inf if the
        implied covariance is not positive definite."""
        total = 0.0
        for group, (sigma, mu) in zip(self.groups, self.implied(theta), strict=True):
            weight = group.n / self.n_total
            value = group_discrepancy(group, sigma, mu)
            if not math.isfinite(value):
                return math.inf
            total += weight * value
        return total

    def gradient(self, theta: Array) -> Array:
        grad = np.zeros(self.n_free)
        for g, group in enumerate(self.groups):
            implied = self.implied_all(theta, g)
            sigma, mu = self._observed_moments(implied, g)
            weight = group.n / self.n_total
            g_sigma, g_mu = group_discrepancy_gradient(group, sigma, mu)
            parts = [g_mu] if self.meanstructure else []
            parts.append(vech_gradient(g_sigma))
            grad += weight * (self.delta(theta, g, implied).T @ np.concatenate(parts))
        return grad

    def value_and_gradient(self, theta: Array) -> tuple[float, Array]:
        """`objective` and `gradient` from one pass over the data (inf and a NaN gradient unless
        every implied covariance matrix is positive definite): under FIML the pass that gives
        the gradient gives the log-likelihood too, so a Newton step needs one pass, not two."""
        total = 0.0
        grad = np.zeros(self.n_free)
        for g, group in enumerate(self.groups):
            implied = self.implied_all(theta, g)
            sigma, mu = self._observed_moments(implied, g)
            weight = group.n / self.n_total
            found = group_discrepancy_and_gradient(group, sigma, mu)
            if found is None:
                return math.inf, np.full(self.n_free, math.nan)
            value, g_sigma, g_mu = found
            total += weight * value
            parts = [g_mu] if self.meanstructure else []
            parts.append(vech_gradient(g_sigma))
            grad += weight * (self.delta(theta, g, implied).T @ np.concatenate(parts))
        return total, grad

    def loglik(self, theta: Array) -> float:
        return sum(
            group_loglik(group, sigma, mu)
            for group, (sigma, mu) in zip(self.groups, self.implied(theta), strict=True)
        )

    # -- information --------------------------------------------------------------------
    def h1_weight(self, sigma: Array) -> Array:
        """Normal-theory unit information of (mu, vech Sigma) at Sigma (expected)."""
        return normal_weight(sigma, self.meanstructure)

    def expected_information(self, theta: Array) -> Array:
        """Expected unit information; with missing data summed over the missing-data patterns
        (each pattern informs only the moments of its observed variables)."""
        return self._information(theta, exact_missing=True)

    def metric(self, theta: Array) -> Array:
        """The optimiser's metric: the expected information, with missing data approximated
        by the complete-data one (the exact one sums a p^2 x p^2 matrix per missing-data
        pattern; the BFGS updates correct the approximation within a few steps)."""
        return self._information(theta, exact_missing=False)

    def _information(self, theta: Array, exact_missing: bool) -> Array:
        info = np.zeros((self.n_free, self.n_free))
        for g, (group, (sigma, _)) in enumerate(zip(self.groups, self.implied(theta), strict=True)):
            d = self.delta(theta, g)
            if group.missing and exact_missing:
                for pattern in group.patterns:
                    rows = pattern_moments(pattern, self.p)
                    weight = normal_weight(sigma[pattern.block], True)
                    sub = d[rows]
                    info += pattern.rows.size / self.n_total * sub.T @ weight @ sub
                continue
            info += group.n / self.n_total * self._normal_information(d, sigma)
        return info

    def _normal_information(self, d: Array, sigma: Array) -> Array:
        """d' W d for the normal-theory weight W at Sigma, as 0.5 tr(K dSigma_j K dSigma_k)
        (+ dmu_j' K dmu_k) from the p x p derivative matrices: the vech x vech weight matrix
        costs p^4 to build, this k^2 p^2."""
        rows, cols = self.vech_rows, self.vech_cols
        n_mean = self.p if self.meanstructure else 0
        inv = np.linalg.inv(sigma)
        d_sigma = np.zeros((self.n_free, self.p, self.p))
        d_sigma[:, rows, cols] = d[n_mean:].T
        d_sigma[:, cols, rows] = d[n_mean:].T
        product = inv @ d_sigma
        flat = product.reshape(self.n_free, -1)
        part: Array = 0.5 * flat @ product.transpose(0, 2, 1).reshape(self.n_free, -1).T
        if n_mean:
            part += d[:n_mean].T @ inv @ d[:n_mean]
        return part

    def group_parameters(self, g: int) -> list[int]:
        """The free parameters that enter group g's matrices, in order."""
        found = self._group_parameters.get(g)
        if found is None:
            entries = np.concatenate([kind.free for kind in self.delta_index[g]])
            found = self._group_parameters[g] = sorted(set(entries.tolist()))
        return found

    def observed_information(self, theta: Array) -> Array:
        """Hessian of fmin: per group Delta' A1 Delta + sum_m g_m d2m/dtheta2, with A1 the
        analytic Hessian of the group's discrepancy in its moments (at the model-implied
        ones) and g its gradient; only the second term, which needs nothing but the model's
        matrices, is differenced numerically (a FIML pass over the cases costs far more)."""
        if any(group.weights is not None for group in self.groups):
            # Bootstrap draws keep no missing-data patterns (rarely needed: a draw converges
            # long before the optimiser turns to the observed information).
            return self.numerical_information(theta)
        k = self.n_free
        hessian = np.zeros((k, k))
        n_mean = self.p if self.meanstructure else 0
        for g, (group, (sigma, mu)) in enumerate(
            zip(self.groups, self.implied(theta), strict=True)
        ):
            a1 = saturated_observed_information(group, sigma, mu)
            if not n_mean:
                a1 = a1[self.p :, self.p :]
            d = self.delta(theta, g)
            g_sigma, g_mu = group_discrepancy_gradient(group, sigma, mu)
            moments = np.concatenate([g_mu[:n_mean], vech_gradient(g_sigma)])

            def delta_moments(at: Array, g: int = g, moments: Array = moments) -> Array:
                return self.delta(at, g).T @ moments

            # Only the parameters of this group's matrices move its moments: differencing the
            # others gives exact zeros, at the cost of two Jacobians each (most of an
            # invariance test's time with many groups).
            second = central_differences(delta_moments, theta, k, self.group_parameters(g))
            hessian += group.n / self.n_total * (d.T @ a1 @ d + second)
        return (hessian + hessian.T) / 2

    def numerical_information(self, theta: Array) -> Array:
        """Hessian of fmin by central differences of the analytic gradient (a check)."""
        hessian = central_differences(self.gradient, theta, self.n_free)
        return (hessian + hessian.T) / 2

    def casewise_score_blocks(
        self, theta: Array, g: int
    ) -> Iterator[tuple[NDArray[np.intp], Array]]:
        """Per-case gradient of the loglik with respect to (mu, vech Sigma) of group g at the
        model-implied moments, a block of rows at a time (`moment_score_blocks`)."""
        group = self.groups[g]
        sigma, mu = self.implied(theta)[g]
        if not self.meanstructure and not group.missing:
            mu = group.mean
        return moment_score_blocks(group, sigma, mu, self.meanstructure)


def inverse_logdet(sigma: Array) -> tuple[Array, float] | None:
    """Inverse and log-determinant of a positive definite matrix; None if it is not positive
    definite (a determinant test alone would pass two negative eigenvalues)."""
    try:
        factor = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * float(np.sum(np.log(np.diag(factor))))
    lower_inv = np.linalg.inv(factor)
    return np.asarray(lower_inv.T @ lower_inv, dtype=np.float64), logdet


def group_discrepancy(group: GroupData, sigma: Array, mu: Array) -> float:
    """0.5 * F_ML for complete data; -loglik/n for FIML; inf unless Sigma is positive
    definite."""
    if group.missing:
        value = -group_loglik(group, sigma, mu) / group.n
        return value
    decomposed = inverse_logdet(sigma)
    if decomposed is None:
        return math.inf
    inv, logdet = decomposed
    d = group.mean - mu
    _, logdet_s = np.linalg.slogdet(group.cov)
    p = sigma.shape[0]
    return 0.5 * float(logdet + np.trace(group.cov @ inv) - logdet_s - p + d @ inv @ d)


def group_discrepancy_gradient(group: GroupData, sigma: Array, mu: Array) -> tuple[Array, Array]:
    """Derivatives of `group_discrepancy` with respect to Sigma (elementwise) and mu."""
    if not group.missing:
        return _complete_gradient(group, sigma, mu)
    found = group_discrepancy_and_gradient(group, sigma, mu)
    if found is None:
        raise np.linalg.LinAlgError("the model-implied covariance matrix is not positive definite")
    return found[1], found[2]


def _complete_gradient(group: GroupData, sigma: Array, mu: Array) -> tuple[Array, Array]:
    inv = np.linalg.inv(sigma)
    d = group.mean - mu
    g_sigma = 0.5 * (inv - inv @ (group.cov + np.outer(d, d)) @ inv)
    return np.asarray(g_sigma, dtype=np.float64), np.asarray(-inv @ d, dtype=np.float64)


def group_discrepancy_and_gradient(
    group: GroupData, sigma: Array, mu: Array
) -> tuple[float, Array, Array] | None:
    """`group_discrepancy` and its derivatives with respect to Sigma (elementwise) and mu; under
    FIML from one pass over the cases. None unless Sigma is positive definite."""
    if not group.missing:
        value = group_discrepancy(group, sigma, mu)
        if not math.isfinite(value):
            return None
        return value, *_complete_gradient(group, sigma, mu)
    state = fiml_pass(group, sigma, mu)
    if state is None:
        return None
    omega = state.omega
    assert state.e_outer is not None
    weighted_inverse = group.moments.total * omega - omega @ state.u @ omega
    g_sigma = 0.5 * (weighted_inverse - omega @ state.e_outer @ omega)
    g_mu = -omega @ state.e_sum
    return (
        -state.loglik / group.n,
        np.asarray(g_sigma / group.n, dtype=np.float64),
        np.asarray(g_mu / group.n, dtype=np.float64),
    )


def group_loglik(group: GroupData, sigma: Array, mu: Array) -> float:
    """Normal log-likelihood of a group (by missing-data pattern under FIML); -inf unless Sigma
    is positive definite."""
    if group.missing:
        state = fiml_pass(group, sigma, mu, outer=False)
        return -math.inf if state is None else state.loglik
    decomposed = inverse_logdet(sigma)
    if decomposed is None:
        return -math.inf
    inv, logdet = decomposed
    d = group.mean - mu
    p = sigma.shape[0]
    return -0.5 * group.n * float(p * LOG_2PI + logdet + np.trace(group.cov @ inv) + d @ inv @ d)


def saturated_observed_information(group: GroupData, sigma: Array, mu: Array) -> Array:
    """Observed unit information of (mu, vech Sigma) under FIML: the Hessian of -loglik/n,
    analytic. Per pattern with K = Sigma_oo^-1, d = ybar - mu_o and W = S + d d' it is K for
    the means, K E K d for means x Sigma and 0.5 D'(K kron K(2W - Sigma)K)D for Sigma; the
    sums over patterns of the Kronecker terms are one matrix product over the stacked
    patterns instead of a p^2 x p^2 matrix per pattern."""
    p = sigma.shape[0]
    patterns = group.patterns
    count = len(patterns)
    weighted_k = np.zeros((count, p, p))
    m_matrix = np.zeros((count, p, p))
    v = np.zeros((count, p))
    for i, pattern in enumerate(patterns):
        o = pattern.observed
        k = np.linalg.inv(sigma[pattern.block])
        d = pattern.mean - mu[o]
        w = pattern.cov + np.outer(d, d)
        share = pattern.rows.size / group.n
        weighted_k[i][pattern.block] = share * k
        m_matrix[i][pattern.block] = k @ (2.0 * w - sigma[pattern.block]) @ k
        v[i, o] = k @ d
    rows, cols = vech_indices(p)
    half = np.where(rows == cols, 0.5, 1.0)
    a_mean = weighted_k.sum(axis=0)
    # X[a, r, c] = sum over patterns of n_p/n K[a, r] v[c]
    x = np.einsum("iar,ic->arc", weighted_k, v)
    a_cross = (x[:, rows, cols] + x[:, cols, rows]) * half
    # T[(a, b), (c, d)] = sum over patterns of n_p/n K[a, b] M[c, d]
    t = weighted_k.reshape(count, p * p).T @ m_matrix.reshape(count, p * p)
    ri, ci = rows[:, None], cols[:, None]
    rj, cj = rows[None, :], cols[None, :]
    a_cov = (
        t[ci * p + cj, ri * p + rj]
        + t[ci * p + rj, ri * p + cj]
        + t[ri * p + cj, ci * p + rj]
        + t[ri * p + rj, ci * p + cj]
    )
    a_cov *= 0.5 * np.outer(half, half)
    out = np.zeros((p + rows.size, p + rows.size))
    out[:p, :p] = a_mean
    out[:p, p:] = a_cross
    out[p:, :p] = a_cross.T
    out[p:, p:] = a_cov
    return out


#: Rows per block of casewise scores. A block is rows x (p + p(p+1)/2) doubles plus the few
#: temporaries of its computation: about 13 MB at 38 variables, where the whole matrix with its
#: temporaries took about 1.5 GB at 77,000 rows (the MLR steps' memory peak).
SCORE_BLOCK_ROWS = 2048


def moment_score_blocks(
    group: GroupData, sigma: Array, mu: Array, meanstructure: bool
) -> Iterator[tuple[NDArray[np.intp], Array]]:
    """Casewise scores of the normal loglik with respect to (mu, vech Sigma), a block of rows
    at a time: (the rows' indices in the group, their scores)."""
    p = sigma.shape[0]
    rows, cols = vech_indices(p)
    half_factor = 0.5 * np.where(rows == cols, 1.0, 2.0)
    n_mean = p if meanstructure else 0
    if not group.missing:
        patterns = [(np.arange(p), np.arange(group.y.shape[0]))]
    else:
        patterns = [(pt.observed, pt.rows) for pt in group.patterns]
    for o, case_rows in patterns:
        inv = np.linalg.inv(sigma[np.ix_(o, o)])
        full_inv = np.zeros((p, p))
        full_inv[np.ix_(o, o)] = inv
        constant = full_inv[rows, cols]
        for start in range(0, case_rows.size, SCORE_BLOCK_ROWS):
            block = case_rows[start : start + SCORE_BLOCK_ROWS]
            zf = np.zeros((block.size, p))
            zf[:, o] = (group.y[np.ix_(block, o)] - mu[o]) @ inv
            scores = np.empty((block.size, n_mean + rows.size))
            if n_mean:
                scores[:, :n_mean] = zf
            outer = zf[:, rows] * zf[:, cols]
            outer -= constant
            outer *= half_factor
            scores[:, n_mean:] = outer
            yield block, scores


def _fewest_answers(group: GroupData, shown: int = 4) -> str:
    """'; fewest answers: pa_2 in 15, pa_5 in 15 of 63 rows': the variables observed least
    often, which tell the researcher where the data run out (empty when none is missing)."""
    if not group.variables or group.observed.size == 0:
        return ""
    counts = group.row_weights @ group.observed
    order = [i for i in np.argsort(counts, kind="stable") if counts[i] < group.n][:shown]
    if not order:
        return ""
    named = ", ".join(f"{group.variables[i]} in {round(float(counts[i]))}" for i in order)
    return f"; fewest answers: {named} of {group.n} rows"


def em_saturated(group: GroupData, tol: float = 1e-11, max_iter: int = 5000) -> tuple[Array, Array]:
    """Saturated mean and covariance of a group with missing values, by EM: the E-step's
    conditional means are mu + e_i, its conditional covariances sum to the pass's u; the
    M-step needs only the pass's sums of e_i and e_i e_i'."""
    mu = group.mean.copy()
    sigma = group.cov.copy()
    total = group.moments.total
    previous = -math.inf
    for _ in range(max_iter):
        state = fiml_pass(group, sigma, mu)
        if state is None:
            # The saturated estimate runs to the boundary: too few cases observe some pairs
            # of variables together for an unrestricted covariance matrix.
            where = f" of group {group.name!r}" if group.name else ""
            raise DataError(
                f"the saturated model{where} has no positive definite covariance matrix: "
                f"{group.n} rows with missing values are too few to estimate the covariances "
                f"of {sigma.shape[0]} variables (EM reached a singular matrix)"
                + _fewest_answers(group)
            )
        if abs(state.loglik - previous) < tol * max(1.0, abs(state.loglik)):
            break
        previous = state.loglik
        assert state.e_outer is not None
        shift = state.e_sum / group.n
        mu = mu + shift
        # sum w (e_i - shift)(e_i - shift)': the conditional expectations centred at the new mu.
        scatter = (
            state.e_outer
            - np.outer(state.e_sum, shift)
            - np.outer(shift, state.e_sum)
            + total * np.outer(shift, shift)
        )
        sigma = (scatter + state.u) / group.n
    return mu, sigma


#: The optimiser gives up when, after STALL_AFTER iterations, the last STALL_WINDOW of them
#: together lowered the objective by less than STALL_GAIN chi-square units (2N fmin) without
#: meeting the convergence criteria: a converging run gains far more per step (or stops).
STALL_AFTER = 100
STALL_WINDOW = 25
STALL_GAIN = 1e-3


def optimise(model: Model, start: Array, max_iter: int = 500, tolerance: float = 1e-14) -> Array:
    """Minimise fmin: Fisher scoring (the expected information as metric) for the first steps,
    then BFGS updates of that metric, which turn the linear convergence of scoring on misfitting
    models into superlinear convergence; a numerical Hessian only as a last resort. Steps are
    halved until the objective decreases, so the implied covariance stays positive definite.
    `tolerance` bounds decrement * N (chi-square units): 1e-14 puts the estimates within about
    1e-7 standard errors; a bootstrap draw needs far less."""
    theta = start.copy()
    value = model.objective(theta)
    if not math.isfinite(value):
        raise ConvergenceError(
            "the starting values give a model-implied covariance matrix that is not positive "
            "definite; the model may be misspecified"
        )
    converged = False
    metric = model.metric(theta)
    previous: tuple[Array, Array] | None = None
    # Objective values of recent iterations, to notice a run that creeps along without
    # converging (a factor variance drifting to zero in an empirically unidentified model
    # takes all max_iter iterations to gain a thousandth of a chi-square point).
    history: list[float] = []
    iteration = 0
    known_grad: Array | None = None
    for iteration in range(1, max_iter + 1):
        history.append(value)
        if (
            iteration > STALL_AFTER
            and 2.0 * model.n_total * (history[-STALL_WINDOW - 1] - value) < STALL_GAIN
        ):
            break
        # A full step accepted at the first trial brought its gradient along.
        grad = model.gradient(theta) if known_grad is None else known_grad
        known_grad = None
        if np.max(np.abs(grad)) < 1e-12:
            converged = True
            break
        if iteration > 50 and np.max(np.abs(grad)) < 1e-5:
            metric = model.observed_information(theta)
            eig = np.linalg.eigvalsh(metric)
            if eig[0] <= 1e-12 * max(1.0, eig[-1]):
                metric = model.metric(theta)
        elif iteration <= 3 or previous is None:
            metric = model.metric(theta)
        else:
            s_step = theta - previous[0]
            y_step = grad - previous[1]
            sy = float(s_step @ y_step)
            hs = metric @ s_step
            shs = float(s_step @ hs)
            if sy > 1e-12 * math.sqrt(float(s_step @ s_step) * float(y_step @ y_step)) and shs > 0:
                metric = metric + np.outer(y_step, y_step) / sy - np.outer(hs, hs) / shs
            else:
                metric = model.metric(theta)
        previous = (theta, grad)
        try:
            step = np.linalg.solve(metric + 1e-12 * np.eye(len(theta)), grad)
        except np.linalg.LinAlgError:
            step = grad
        if not np.all(np.isfinite(step)) or step @ grad <= 0:
            step = grad
        # The decrement g' I^-1 g is in units of fmin (chi-square / 2N); the estimates are then
        # off by about sqrt(decrement * N) standard errors: stop at 1e-7 of a standard error.
        decrement = float(step @ grad)
        # Below about 1e-14 of the objective a decrease cannot be measured in floating point:
        # as close as the objective can tell (within ~1e-4 standard errors at N = 10,000).
        if decrement * model.n_total < tolerance or decrement < 1e-14 * max(1.0, abs(value)):
            converged = True
            break
        t = 1.0
        accepted = False
        trial_grad: Array | None = None
        for trial in range(40):
            candidate = theta - t * step
            if trial == 0:
                # The full step is accepted most of the time: the same pass over the data
                # gives the objective and the next iteration's gradient.
                new_value, trial_grad = model.value_and_gradient(candidate)
            else:
                new_value, trial_grad = model.objective(candidate), None
            # Strictly lower: a step too small to change the value is not progress.
            if math.isfinite(new_value) and new_value < value - 1e-4 * t * decrement:
                accepted = True
                break
            t /= 2
        if not accepted:
            # No decrease is measurable any more: converged if the decrement says so.
            converged = decrement < 1e-10
            break
        theta, value = candidate, new_value
        known_grad = trial_grad
    if not converged:
        grad = model.gradient(theta)
        if np.max(np.abs(grad)) < 1e-6:
            return theta
        raise ConvergenceError(
            "the model did not converge (largest gradient element "
            f"{np.max(np.abs(grad)):.2g} after {iteration} iterations); the model may be "
            "misspecified, not identified, or need a different parameterisation",
            last=theta,
        )
    return theta


def refine(
    model: Model,
    start: Array,
    inverse_metric: Array,
    tolerance: float,
    max_steps: int = 25,
) -> Array:
    """Minimise fmin from a start close to the minimum (a bootstrap draw from the full-sample
    estimates) by Newton steps with a fixed metric: the full sample's information, whose
    inverse is `inverse_metric`. A draw's Hessian differs from it by sampling noise, so each
    step shrinks the distance to the minimum by about that much: a handful of steps, one pass
    over the data each (value and gradient together), and no metric to rebuild. `tolerance`
    bounds the decrement * N as in `optimise`, which takes over if a step does not decrease
    the objective or the steps run out."""
    theta = start.copy()
    value, grad = model.value_and_gradient(theta)
    if not math.isfinite(value):
        return optimise(model, start, max_iter=200, tolerance=tolerance)
    inverse = inverse_metric
    for _ in range(max_steps):
        step = inverse @ grad
        decrement = float(step @ grad)
        if not math.isfinite(decrement) or decrement <= 0:
            break
        if decrement * model.n_total < tolerance or decrement < 1e-14 * max(1.0, abs(value)):
            return theta
        candidate = theta - step
        new_value, new_grad = model.value_and_gradient(candidate)
        if not (math.isfinite(new_value) and new_value < value - 1e-4 * decrement):
            break
        # BFGS update of the inverse metric: what the steps learn of the draw's own Hessian
        # (its eigenvalues relative to the full sample's spread by about 2 sqrt(k / n))
        # saves a step or two of the plain fixed-metric iteration.
        s_step = candidate - theta
        y_step = new_grad - grad
        sy = float(s_step @ y_step)
        if sy > 0:
            hy = inverse @ y_step
            rho = 1.0 / sy
            inverse = (
                inverse
                - rho * (np.outer(s_step, hy) + np.outer(hy, s_step))
                + (rho * rho * float(y_step @ hy) + rho) * np.outer(s_step, s_step)
            )
        theta, value, grad = candidate, new_value, new_grad
    return optimise(model, theta, max_iter=200, tolerance=tolerance)


def check_information(
    model: Model, info: Array, names: list[str], tolerance: float = 1e-10
) -> None:
    """A singular information matrix means some parameters are not identified: name them."""
    # Judged on the information rescaled to unit diagonal, so parameters measured on very
    # different scales (a loading of 100, a variance of 1e-4) do not look singular.
    diagonal = np.diag(info)
    if np.any(diagonal <= 0):
        zero = int(np.argmin(diagonal))
        raise ModelSpecificationError(
            f"the model is not identified: the data carry no information on '{names[zero]}'"
        )
    scale = 1.0 / np.sqrt(diagonal)
    eig, vectors = np.linalg.eigh(info * np.outer(scale, scale))
    if eig[0] > tolerance * max(1.0, abs(eig[-1])):
        return
    weights = np.abs(vectors[:, 0])
    involved = [names[i] for i in np.argsort(-weights)[:3] if weights[i] > 0.1]
    raise ModelSpecificationError(
        "the model is not identified (or the data identify it too weakly): the information "
        "matrix is singular; involved parameters: " + ", ".join(involved)
    )
