"""The FIML pass from weighted moments against the textbook computation case by case (one
Sigma_oo inverse per case), with bootstrap-like integer weights including zeros; and the
bootstrap's Newton refit against the general optimiser on the same draw."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.sem import engine
from vakstem.analysis.sem.api import fit

FIXTURES = Path(__file__).parent / "fixtures"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
COLUMNS = [f"x{i}" for i in range(1, 10)]


def _casewise_discrepancy(y: np.ndarray, w: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> float:
    """-loglik / sum(w), one case at a time."""
    total = 0.0
    for row, weight in zip(y, w, strict=True):
        o = ~np.isnan(row)
        if weight == 0 or not o.any():
            continue
        block = sigma[np.ix_(o, o)]
        d = row[o] - mu[o]
        _sign, logdet = np.linalg.slogdet(block)
        quad = float(d @ np.linalg.solve(block, d))
        total += weight * 0.5 * (o.sum() * math.log(2 * math.pi) + logdet + quad)
    return total / float(w.sum())


@pytest.fixture(scope="module")
def missing_data() -> np.ndarray:
    frame = pd.read_csv(FIXTURES / "hs1939_missing.csv")
    values = frame[COLUMNS].to_numpy(dtype=float)
    return values[~np.isnan(values).all(axis=1)]


@pytest.fixture(scope="module")
def moments() -> tuple[np.ndarray, np.ndarray]:
    # A positive definite Sigma and a mu away from the data's own moments, so the mean terms
    # and the off-diagonal terms all count.
    rng = np.random.default_rng(11)
    loadings = rng.uniform(0.3, 1.0, size=(9, 2))
    sigma = loadings @ loadings.T + np.diag(rng.uniform(0.5, 1.5, size=9))
    mu = rng.uniform(2.0, 6.0, size=9)
    return sigma, mu


@pytest.mark.parametrize("weighted", [False, True])
def test_the_pass_gives_the_casewise_likelihood_and_its_gradient(
    missing_data: np.ndarray, moments: tuple[np.ndarray, np.ndarray], weighted: bool
) -> None:
    sigma, mu = moments
    group = engine.GroupData(name="", y=missing_data, missing=True)
    w = np.ones(missing_data.shape[0])
    if weighted:
        rng = np.random.default_rng(5)
        rows = missing_data.shape[0]
        w = np.bincount(rng.integers(0, rows, size=rows), minlength=rows).astype(float)
        assert (w == 0).any()
        group = group.reweighted(w)
    found = engine.group_discrepancy_and_gradient(group, sigma, mu)
    assert found is not None
    value, g_sigma, g_mu = found
    assert value == pytest.approx(_casewise_discrepancy(missing_data, w, sigma, mu), rel=1e-12)
    assert engine.group_discrepancy(group, sigma, mu) == pytest.approx(value, rel=1e-13)

    def at(s: np.ndarray, m: np.ndarray) -> float:
        return _casewise_discrepancy(missing_data, w, s, m)

    h = 1e-6
    for i in range(9):
        step = np.zeros(9)
        step[i] = h
        numeric = (at(sigma, mu + step) - at(sigma, mu - step)) / (2 * h)
        assert g_mu[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    for i, j in [(0, 0), (3, 3), (0, 1), (2, 7), (5, 8)]:
        bump = np.zeros((9, 9))
        bump[i, j] = bump[j, i] = h
        numeric = (at(sigma + bump, mu) - at(sigma - bump, mu)) / (2 * h)
        # A symmetric bump moves both (i, j) and (j, i).
        analytic = g_sigma[i, j] * (1 if i == j else 2)
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_a_non_positive_definite_sigma_gives_no_pass(
    missing_data: np.ndarray, moments: tuple[np.ndarray, np.ndarray]
) -> None:
    sigma, mu = moments
    group = engine.GroupData(name="", y=missing_data, missing=True)
    broken = sigma.copy()
    broken[0, 1] = broken[1, 0] = 10 * math.sqrt(sigma[0, 0] * sigma[1, 1])
    assert engine.group_discrepancy_and_gradient(group, broken, mu) is None
    assert engine.group_discrepancy(group, broken, mu) == math.inf


def test_em_moments_maximise_the_casewise_likelihood(missing_data: np.ndarray) -> None:
    group = engine.GroupData(name="", y=missing_data, missing=True)
    mu, sigma = engine.em_saturated(group)
    w = np.ones(missing_data.shape[0])
    best = _casewise_discrepancy(missing_data, w, sigma, mu)
    rng = np.random.default_rng(2)
    for _ in range(5):
        noise = rng.normal(scale=1e-3, size=(9, 9))
        moved = sigma + (noise + noise.T) / 2
        assert _casewise_discrepancy(missing_data, w, moved, mu + noise[0]) > best
    found = engine.group_discrepancy_and_gradient(group, sigma, mu)
    assert found is not None
    # EM stops when the log-likelihood changes by under 1e-11 of itself: a gradient near 0.
    assert np.max(np.abs(found[1])) < 1e-5
    assert np.max(np.abs(found[2])) < 1e-5


def test_newton_refit_of_a_draw_ends_where_the_optimiser_does() -> None:
    data = pd.read_csv(FIXTURES / "hs1939_missing.csv")
    fitted = fit(HS_MODEL, data, missing="ml")
    estimates = fitted._estimates
    assert estimates is not None
    model = estimates.model
    rows = model.groups[0].y.shape[0]
    rng = np.random.default_rng(9)
    counts = np.bincount(rng.integers(0, rows, size=rows), minlength=rows).astype(float)
    draw = engine.Model(model.table, [model.groups[0].reweighted(counts)])
    inverse = np.linalg.inv(estimates.information)
    refit = engine.refine(draw, estimates.theta, inverse, tolerance=1e-14)
    reference = engine.optimise(draw, estimates.theta, tolerance=1e-14)
    assert np.max(np.abs(refit - reference)) < 1e-6
    assert np.max(np.abs(refit - estimates.theta)) > 1e-3  # the draw moved the estimates
    # From a poor start the Newton steps hand over to the optimiser and still get there.
    poor = engine.refine(draw, estimates.theta * 1.5, inverse, tolerance=1e-14)
    assert np.max(np.abs(poor - reference)) < 1e-6
