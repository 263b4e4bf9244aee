"""Percentile bootstrap confidence intervals for defined parameters (`:=`, e.g. indirect
effects) and the free parameters: cases are resampled within groups, the model is refitted from
the original estimates, and the 2.5th and 97.5th percentiles are reported.

Draws run in one process: a single refit of a survey-sized model takes milliseconds, so on the
two cores we share a process pool costs more in start-up and pickling than it saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from vakstem.analysis.sem import estimate as est
from vakstem.analysis.sem.engine import GroupData, Model, optimise
from vakstem.analysis.sem.errors import SemError
from vakstem.analysis.sem.partable import ParTable

if TYPE_CHECKING:
    from vakstem.analysis.sem.api import FitResult


def bootstrap_defined(
    result: FitResult,
    table: ParTable,
    groups: list[GroupData],
    n_boot: int,
    seed: int | None,
    progress: Callable[[], None] | None = None,
) -> None:
    """Add `boot.ci.lower`/`boot.ci.upper` to the defined-parameter rows of `result`."""
    estimates = result._estimates
    if estimates is None:
        raise SemError("the fit has no estimates to bootstrap")
    rng = np.random.default_rng(seed)
    original_h1 = estimates.h1_moments
    theta_hat = estimates.theta
    draws: list[list[float]] = []
    failed = 0
    for _ in range(n_boot):
        resampled = []
        for group in groups:
            rows = rng.integers(0, group.n, size=group.n)
            resampled.append(GroupData(name=group.name, y=group.y[rows], missing=group.missing))
        try:
            h1 = est.saturated_moments(resampled)
            if any(np.linalg.eigvalsh(cov)[0] <= 1e-10 for _, cov in h1):
                raise SemError("singular bootstrap sample")
            est.set_fixed_x(table, h1)
            model = Model(table, resampled)
            theta = optimise(model, theta_hat, max_iter=200)
            values = model.row_values(theta)
            draws.append([*values, *est.defined_values(table, values)])
        except (SemError, np.linalg.LinAlgError, ValueError):
            failed += 1
        if progress is not None:
            progress()
    est.set_fixed_x(table, original_h1)
    frame = result.parameters
    lower_column = np.full(len(frame), np.nan)
    upper_column = np.full(len(frame), np.nan)
    if draws:
        values = np.array(draws)
        # Fixed parameters (standard error 0) get no interval.
        estimated = np.flatnonzero(((frame["se"] > 0) | (frame["op"] == ":=")).to_numpy())
        lower_column[estimated] = np.percentile(values[:, estimated], 2.5, axis=0)
        upper_column[estimated] = np.percentile(values[:, estimated], 97.5, axis=0)
    frame["boot.ci.lower"] = lower_column
    frame["boot.ci.upper"] = upper_column
    result.bootstrap = {
        "draws": n_boot,
        "successful": len(draws),
        "failed": failed,
        "seed": seed,
        "type": "percentile, cases resampled within groups",
    }
