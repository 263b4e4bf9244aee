"""The invariance sequence's shortcuts: a more constrained model warm-started from the less
constrained fit ends at the same estimates in fewer steps, a group too small for the
configural model is named before any fit, and an optimiser that stops gaining gives up early."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.plan import (
    GROUP,
    _group_sizes,
    _invariance_sequence,
)
from vakstem.analysis.sem import engine
from vakstem.analysis.sem.api import fit
from vakstem.analysis.sem.errors import ModelSpecificationError
from vakstem.instrument.schema import ModelSpec

FIXTURES = Path(__file__).parent / "fixtures"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "hs1939.csv")


def _gradient_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Optimiser steps: each step's line search starts with one pass giving the objective and
    the gradient at the full step."""
    calls = [0]
    value_and_gradient = engine.Model.value_and_gradient

    def counted(self: engine.Model, theta: engine.Array) -> tuple[float, engine.Array]:
        calls[0] += 1
        return value_and_gradient(self, theta)

    monkeypatch.setattr(engine.Model, "value_and_gradient", counted)
    return calls


def test_warm_started_metric_model_reaches_the_cold_estimates_in_fewer_steps(
    hs: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    configural = fit(HS_MODEL, hs, group="school", estimator="MLR")
    calls = _gradient_calls(monkeypatch)
    cold = fit(HS_MODEL, hs, group="school", group_equal=("loadings",), estimator="MLR")
    cold_steps, calls[0] = calls[0], 0
    warm = fit(
        HS_MODEL,
        hs,
        group="school",
        group_equal=("loadings",),
        estimator="MLR",
        start_from=configural,
    )
    assert calls[0] < cold_steps
    np.testing.assert_allclose(warm.parameters["est"], cold.parameters["est"], atol=1e-6)
    assert warm.fit_measures["chisq"] == pytest.approx(cold.fit_measures["chisq"], rel=1e-8)


def _grouped(hs: pd.DataFrame, small: int, first: int = 0) -> pd.DataFrame:
    frame = hs.copy()
    frame[GROUP] = "big"
    frame.loc[frame.index[first : first + small], GROUP] = "small"
    return frame


@pytest.mark.parametrize("missing", ["ml", "listwise"])
def test_a_group_with_no_more_rows_than_variables_is_named_before_fitting(
    hs: pd.DataFrame, missing: str
) -> None:
    spec = ModelSpec(id="hs", syntax=HS_MODEL, missing=missing)
    message = _group_sizes(spec, _grouped(hs, 9))[0]
    assert message is not None
    assert "group 'small' (9 usable rows)" in message
    assert "with 9 observed variables a group needs more than 9 usable rows" in message
    assert _group_sizes(spec, _grouped(hs, 10))[0] is None


@pytest.mark.parametrize("missing", ["ml", "listwise"])
def test_a_group_with_fewer_rows_than_free_parameters_is_fitted_with_a_caution(
    hs: pd.DataFrame, missing: str
) -> None:
    # Per group: 6 loadings, 9 residual variances, 3 factor variances, 3 covariances and
    # 9 intercepts. Fewer rows than that is little data, not an unidentified model: the
    # configural, metric and scalar models are still estimated (on these 29 rows; on the
    # first 29 neither this engine nor lavaan 0.6.14 converges, and the step says so).
    spec = ModelSpec(id="hs", syntax=HS_MODEL, missing=missing)
    frame = _grouped(hs, 29, first=29).sort_values(GROUP, kind="stable").reset_index(drop=True)
    refusal, caution = _group_sizes(spec, frame)
    assert caution is not None
    assert "group 'small' has 29 usable rows for 30 free parameters per group" in caution
    assert _group_sizes(spec, _grouped(hs, 30)) == (None, None)
    assert refusal is None
    steps = _invariance_sequence(spec, frame)
    assert [step["step"] for step in steps] == ["configural", "metric", "scalar"]
    assert all(step["fit"]["df"] > 0 for step in steps)


def test_rows_missing_an_indicator_do_not_count_for_listwise(hs: pd.DataFrame) -> None:
    frame = _grouped(hs, 20)
    frame.loc[frame.index[:15], "x1"] = np.nan
    listwise = ModelSpec(id="hs", syntax=HS_MODEL, missing="listwise")
    fiml = ModelSpec(id="hs", syntax=HS_MODEL, missing="ml")
    assert "(5 usable rows)" in (_group_sizes(listwise, frame)[0] or "")
    assert _group_sizes(fiml, frame)[0] is None


def test_an_unidentified_model_that_creeps_along_is_given_up_before_max_iter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two factors share c while d measures only the second: their loadings trade off along a
    # ridge the optimiser follows in ever smaller gains.
    rng = np.random.default_rng(3)
    common = rng.normal(size=500)
    data = pd.DataFrame(
        {
            "a": common + rng.normal(size=500),
            "b": common + rng.normal(size=500),
            "c": rng.normal(size=500),
            "d": rng.normal(size=500),
        }
    )
    calls = _gradient_calls(monkeypatch)
    with pytest.raises(ModelSpecificationError, match="not identified"):
        fit("f =~ a + b + c\ng =~ c + d", data)
    assert calls[0] < 400  # all 500 iterations without the stall rule


def test_a_fit_started_from_one_of_the_same_rows_shares_its_saturated_and_baseline_models(
    hs: pd.DataFrame,
) -> None:
    configural = fit(HS_MODEL, hs, group="school", missing="ml", estimator="MLR")
    cold = fit(
        HS_MODEL, hs, group="school", group_equal=("loadings",), missing="ml", estimator="MLR"
    )
    warm = fit(
        HS_MODEL,
        hs,
        group="school",
        group_equal=("loadings",),
        missing="ml",
        estimator="MLR",
        start_from=configural,
    )
    assert configural._estimates is not None and warm._estimates is not None
    assert warm._estimates.model.groups is configural._estimates.model.groups
    assert warm._baseline is configural._baseline
    for measure in ("baseline.chisq", "cfi", "tli", "logl", "unrestricted.logl"):
        assert warm.fit_measures[measure] == pytest.approx(cold.fit_measures[measure], rel=1e-9)
    # Another estimator fits its own baseline model; other rows share nothing.
    ml = fit(
        HS_MODEL, hs, group="school", group_equal=("loadings",), missing="ml", start_from=configural
    )
    assert ml._baseline is not configural._baseline
    fewer = hs.iloc[5:].reset_index(drop=True)
    other = fit(
        HS_MODEL,
        fewer,
        group="school",
        group_equal=("loadings",),
        missing="ml",
        estimator="MLR",
        start_from=configural,
    )
    alone = fit(
        HS_MODEL, fewer, group="school", group_equal=("loadings",), missing="ml", estimator="MLR"
    )
    assert other._baseline is not configural._baseline
    assert other.fit_measures["baseline.chisq"] == pytest.approx(
        alone.fit_measures["baseline.chisq"], rel=1e-9
    )
    assert other.fit_measures["baseline.chisq"] != pytest.approx(
        cold.fit_measures["baseline.chisq"], rel=1e-6
    )
