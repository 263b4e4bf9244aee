"""The robust (MLR) standard errors and test are built from casewise scores a block of rows at
a time, so that the whole rows x moments matrix is never held (it was the analysis plan's memory
peak: about 1.5 GB at 77,000 responses). Blocks of a few rows, with the cross-products gathered
in buffers of another size, must give what one block gives, for complete data, FIML (blocks
within missing-data patterns), groups and clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.sem import engine, estimate, fit

FIXTURES = Path(__file__).parent / "fixtures"
NESTED = """
ability =~ a1 + a2 + a3
action  =~ p1 + p2 + p3
action ~ ability
"""
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.mark.parametrize(
    ("data", "model", "options"),
    [
        ("hs1939.csv", HS, {}),
        ("hs1939_missing.csv", HS, {"missing": "ml"}),
        ("hs1939.csv", HS, {"group": "school"}),
        ("nested.csv", NESTED, {"cluster": "org"}),
        ("nested_missing.csv", NESTED, {"cluster": "org", "missing": "ml"}),
    ],
)
def test_scores_in_small_blocks_give_the_same_robust_results(
    data: str, model: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pd.read_csv(FIXTURES / data)
    whole = fit(model, frame, estimator="MLR", **options)
    assert frame.shape[0] < engine.SCORE_BLOCK_ROWS  # one block by default
    monkeypatch.setattr(engine, "SCORE_BLOCK_ROWS", 7)
    # The cross-products gather blocks into buffers of their own size: one that fills and
    # flushes many times, across blocks and missing-data patterns.
    monkeypatch.setattr(estimate, "SCORE_BLOCK_ROWS", 5)
    blocked = fit(model, frame, estimator="MLR", **options)
    np.testing.assert_allclose(blocked.parameters["se"], whole.parameters["se"], rtol=1e-10)
    for measure in ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust"):
        expected = whole.fit_measures[measure]
        assert blocked.fit_measures[measure] == pytest.approx(expected, rel=1e-10, nan_ok=True)
