"""The public bootstrap and standardised-interval API: draws depend on the seed only (one
process or two give the same numbers), FIML draws reweight rows, and each draw is a fit of the
resampled data (the same rows drawn by hand and fitted give the same estimates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis import sem

FIXTURES = Path(__file__).parent / "fixtures"
MEDIATION = """
M ~ a*X
Y ~ b*M + c*X
ab := a*b
"""


@pytest.fixture(scope="module")
def fiml_fit() -> sem.FitResult:
    data = pd.read_csv(FIXTURES / "mediation_missing.csv")
    return sem.fit(MEDIATION, data, missing="ml")


def test_bootstrap_gives_the_same_numbers_in_one_process_or_two(fiml_fit: sem.FitResult) -> None:
    one = sem.bootstrap_intervals(fiml_fit, 24, 5, processes=1)
    two = sem.bootstrap_intervals(fiml_fit, 24, 5, processes=2)
    other_seed = sem.bootstrap_intervals(fiml_fit, 24, 6, processes=2)
    assert one["about"]["successful"] == 24
    assert one["intervals"] == two["intervals"]
    assert one["intervals"] != other_seed["intervals"]


def test_progress_is_reported_in_order_from_a_process_pool(fiml_fit: sem.FitResult) -> None:
    calls: list[tuple[int, int]] = []
    sem.bootstrap_draws(fiml_fit, 9, 1, processes=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 9) for i in range(1, 10)]


def test_a_draw_is_the_fit_of_the_rows_it_drew() -> None:
    # A listwise fit resamples complete rows: refit the same rows by hand and compare.
    data = pd.read_csv(FIXTURES / "mediation_missing.csv").dropna().reset_index(drop=True)
    fitted = sem.fit(MEDIATION, data)
    draws = sem.bootstrap_draws(fitted, 2, 3)
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(1,)))
    rows = rng.integers(0, len(data), size=len(data))
    refit = sem.fit(MEDIATION, data.iloc[rows].reset_index(drop=True))
    column = draws.keys.index("ab := a*b")
    ab = float(refit.parameters.query("op == ':='")["est"].iloc[0])
    assert draws.values[1, column] == pytest.approx(ab, rel=1e-5)
    assert draws.values[0, column] != pytest.approx(ab, rel=1e-3)


def test_standardized_intervals_contain_the_standardized_estimate(
    fiml_fit: sem.FitResult,
) -> None:
    intervals = sem.standardized_intervals(fiml_fit)
    row = fiml_fit.parameters.query("lhs == 'M' and op == '~'").iloc[0]
    path = intervals["M ~ X"]
    assert path["std.ci.lower"] < row["std.all"] < path["std.ci.upper"]
    assert path["std.se"] > 0
