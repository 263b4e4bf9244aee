"""Percentile bootstrap of a fitted model and delta-method intervals of its standardised
solution: the public entry points for intervals, so callers (the analysis plan, `vakstem fit`)
need none of the engine's internals.

Cases are resampled within groups (whole clusters when the fit has a `cluster`); a draw
reweights the rows (how often each was drawn) instead of copying them, and is refitted from
the full-sample estimates by Newton steps with the full sample's information as metric
(`engine.refine`: about seven passes over the data, each giving the objective and its gradient
together). Under FIML a draw needs no EM: only the covariates' moments (fixed.x), and
covariates are complete. Draw j takes its random numbers from `SeedSequence(seed,
spawn_key=(j,))`, so the draws, and the intervals, are the same whether they run in one
process or in several.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vakstem.analysis.sem import estimate as est
from vakstem.analysis.sem.engine import Array, GroupData, Model, refine
from vakstem.analysis.sem.errors import SemError
from vakstem.analysis.sem.partable import ParTable

if TYPE_CHECKING:
    from vakstem.analysis.sem.api import FitResult

#: 97.5th percentile of the standard normal.
Z_975 = 1.959963984540054


@dataclass
class BootstrapDraws:
    """The successful draws of a bootstrap: one row per draw, one column per key (every row
    of the parameter table as `lhs op rhs`, then every defined parameter as `name := text`);
    `standardized` holds the std.all values of the same draws when they were asked for."""

    keys: list[str]
    values: Array
    standardized: Array | None
    draws: int
    failed: int
    seed: int | None

    def percentiles(self, standardized: bool = False) -> tuple[Array, Array]:
        """2.5th and 97.5th percentile of every column (NaN without successful draws)."""
        matrix = self.standardized if standardized else self.values
        if matrix is None or matrix.shape[0] == 0:
            empty = np.full(len(self.keys), math.nan)
            return empty, empty.copy()
        return np.percentile(matrix, 2.5, axis=0), np.percentile(matrix, 97.5, axis=0)


@dataclass
class _Context:
    table: ParTable
    groups: list[GroupData]
    theta: Array
    inverse_metric: Array
    x_columns: list[int]
    entropy: int
    standardized: bool


_WORKER: _Context | None = None


def _single_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread while drawing: the matrices are small, a process is one core's worth,
    and OpenBLAS threads on a shared two-core machine only wait for each other (a draw took
    several times longer with them). A float summed in another order would also change the
    draws in the last digits, and with them the intervals."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="blas")
    return limits


def _init_worker(context: _Context) -> None:
    global _WORKER
    _WORKER = context
    _single_blas_thread()


def _draw_in_worker(index: int) -> list[float] | None:
    assert _WORKER is not None
    return _draw(_WORKER, index)


def _draw_moments(group: GroupData, x_columns: list[int]) -> tuple[Array, Array]:
    """The moments a draw needs: sample moments for complete data; under FIML the covariates'
    (complete) moments, with the available-case variances on the diagonal elsewhere."""
    if not group.missing:
        return group.mean, group.cov
    mean = group.mean.copy()
    cov = group.cov.copy()
    if x_columns:
        w = group.row_weights
        x = group.filled[:, x_columns]
        x_mean = w @ x / group.n
        centred = x - x_mean
        cov[np.ix_(x_columns, x_columns)] = (centred * w[:, None]).T @ centred / group.n
        mean[x_columns] = x_mean
    return mean, cov


def _draw(context: _Context, index: int) -> list[float] | None:
    rng = np.random.default_rng(np.random.SeedSequence(context.entropy, spawn_key=(index,)))
    resampled = []
    for group in context.groups:
        if group.clusters is not None:
            # Clustered data: whole clusters are drawn, each row counting as often as its
            # cluster was drawn (rows of one cluster are not independent draws).
            size = group.n_clusters
            drawn = np.bincount(rng.integers(0, size, size=size), minlength=size)
            counts = drawn[group.clusters].astype(float)
        else:
            rows = group.y.shape[0]
            counts = np.bincount(rng.integers(0, rows, size=rows), minlength=rows).astype(float)
        resampled.append(group.reweighted(counts))
    table = context.table
    try:
        h1 = [_draw_moments(g, context.x_columns) for g in resampled]
        for _mean, cov in h1:
            if not np.all(np.isfinite(cov)) or np.linalg.eigvalsh(cov)[0] <= 1e-10:
                raise SemError("singular bootstrap sample")
        est.set_fixed_x(table, h1)
        model = Model(table, resampled)
        # Percentiles over draws need no more than 1e-4 standard errors of precision.
        theta = refine(model, context.theta, context.inverse_metric, tolerance=1e-8)
        values = model.row_values(theta)
        row = [*values, *est.defined_values(table, values)]
        if context.standardized:
            std = est.standardized(model, theta, "std.all")
            row += [*std, *est.defined_values(table, std)]
        return [float(v) for v in row]
    except (SemError, np.linalg.LinAlgError, ValueError):
        return None


def _keys(table: ParTable) -> list[str]:
    return [f"{r.lhs} {r.op} {r.rhs}" for r in table.rows] + [
        f"{d.name} := {d.text}" for d in table.definitions
    ]


def bootstrap_draws(
    result: FitResult,
    draws: int,
    seed: int | None,
    *,
    standardized: bool = False,
    processes: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> BootstrapDraws:
    """Refit `result`'s model on `draws` case-resampled data sets. `progress(done, draws)` is
    called after each draw, in order; `processes` > 1 spreads the draws over a process pool
    with the same results."""
    estimates = result._estimates
    if estimates is None:
        raise SemError("the fit has no estimates to bootstrap")
    if draws < 0:
        raise SemError("bootstrap draws must be zero or a positive number")
    model = estimates.model
    table = model.table
    entropy = int(np.random.SeedSequence(seed).entropy)  # type: ignore[arg-type]
    x_columns = [i for i, name in enumerate(model.ov) if name in table.ov_x]
    # Newton steps of every draw use the full sample's information as their metric.
    inverse_metric = np.asarray(np.linalg.inv(estimates.information), dtype=np.float64)
    context = _Context(
        table, model.groups, estimates.theta, inverse_metric, x_columns, entropy, standardized
    )
    rows: list[list[float]] = []
    failed = 0
    processes = max(1, min(processes, draws))
    try:
        for done, row in enumerate(_run(context, draws, processes), start=1):
            if row is None:
                failed += 1
            else:
                rows.append(row)
            if progress is not None:
                progress(done, draws)
    finally:
        est.set_fixed_x(table, estimates.h1_moments)
    keys = _keys(table)
    width = len(keys)
    matrix = np.array(rows, dtype=float).reshape(len(rows), -1)
    return BootstrapDraws(
        keys=keys,
        values=matrix[:, :width],
        standardized=matrix[:, width:] if standardized else None,
        draws=draws,
        failed=failed,
        seed=seed,
    )


def _run(context: _Context, draws: int, processes: int) -> Iterator[list[float] | None]:
    if processes <= 1:
        with _single_blas_thread():
            for index in range(draws):
                yield _draw(context, index)
        return
    methods = multiprocessing.get_all_start_methods()
    # fork shares the data with the workers without pickling it; elsewhere spawn.
    mp_context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    chunk = max(1, min(25, draws // (4 * processes)))
    with ProcessPoolExecutor(
        max_workers=processes,
        mp_context=mp_context,
        initializer=_init_worker,
        initargs=(context,),
    ) as pool:
        yield from pool.map(_draw_in_worker, range(draws), chunksize=chunk)


def default_processes() -> int:
    """Processes for bootstrap draws when the caller does not say: the cores, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def bootstrap_intervals(
    result: FitResult,
    draws: int,
    seed: int,
    *,
    processes: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Percentile intervals of every parameter and defined parameter, for the estimates
    (`boot.ci.lower/upper`) and the standardised solution (`boot.std.lower/upper`), keyed by
    `lhs op rhs` (the first group's row where groups share a key), with `about` the draws."""
    about: dict[str, Any] = {"draws": draws, "seed": seed, "type": "percentile, cases resampled"}
    if result._estimates is None or draws <= 0:
        return {"about": about | {"successful": 0}, "intervals": {}}
    boot = bootstrap_draws(
        result, draws, seed, standardized=True, processes=processes, progress=progress
    )
    about |= {"successful": boot.values.shape[0], "failed": boot.failed}
    if boot.values.shape[0] == 0:
        return {"about": about, "intervals": {}}
    lower, upper = boot.percentiles()
    std_lower, std_upper = boot.percentiles(standardized=True)
    intervals: dict[str, dict[str, float]] = {}
    for i, key in enumerate(boot.keys):
        if key in intervals:
            continue
        intervals[key] = {
            "boot.ci.lower": float(lower[i]),
            "boot.ci.upper": float(upper[i]),
            "boot.std.lower": float(std_lower[i]),
            "boot.std.upper": float(std_upper[i]),
        }
    return {"about": about, "intervals": intervals}


def standardized_intervals(result: FitResult) -> dict[str, dict[str, float]]:
    """Delta-method standard errors and 95% Wald intervals of the standardised solution
    (std.all) of every parameter and defined parameter, as lavaan's standardizedSolution gives
    them: the Jacobian of the standardisation (central differences) times the estimates'
    covariance matrix. Keyed as `bootstrap_intervals`."""
    estimates = result._estimates
    if estimates is None:
        return {}
    model = estimates.model
    table = model.table
    theta = estimates.theta

    def values(point: Array) -> Array:
        std = est.standardized(model, point, "std.all")
        return np.array([*std, *est.defined_values(table, std)])

    base = values(theta)
    jacobian = np.empty((base.size, theta.size))
    for j in range(theta.size):
        step = 1e-6 * max(1.0, abs(float(theta[j])))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        jacobian[:, j] = (values(up) - values(down)) / (2 * step)
    cov = jacobian @ estimates.vcov @ jacobian.T
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    out: dict[str, dict[str, float]] = {}
    for i, key in enumerate(_keys(table)):
        if key not in out:
            out[key] = {
                "std.se": float(se[i]),
                "std.ci.lower": float(base[i] - Z_975 * se[i]),
                "std.ci.upper": float(base[i] + Z_975 * se[i]),
            }
    return out


def bootstrap_defined(
    result: FitResult,
    n_boot: int,
    seed: int | None,
    progress: Callable[[], None] | None = None,
    processes: int = 1,
) -> None:
    """Add `boot.ci.lower`/`boot.ci.upper` to the rows of `result.parameters` (free and defined
    parameters; fixed ones get none) and describe the draws in `result.bootstrap`."""
    boot = bootstrap_draws(
        result,
        n_boot,
        seed,
        processes=processes,
        progress=(lambda _done, _total: progress()) if progress is not None else None,
    )
    frame = result.parameters
    lower_column = np.full(len(frame), np.nan)
    upper_column = np.full(len(frame), np.nan)
    if boot.values.shape[0]:
        lower, upper = boot.percentiles()
        estimated = np.flatnonzero(((frame["se"] > 0) | (frame["op"] == ":=")).to_numpy())
        lower_column[estimated] = lower[estimated]
        upper_column[estimated] = upper[estimated]
    frame["boot.ci.lower"] = lower_column
    frame["boot.ci.upper"] = upper_column
    result.bootstrap = {
        "draws": n_boot,
        "successful": int(boot.values.shape[0]),
        "failed": boot.failed,
        "seed": seed,
        "type": "percentile, cases resampled within groups",
    }
