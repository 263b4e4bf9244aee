"""The FIML-corrected scaling computed group by group equals lavaan's formula written densely
over all groups' moments (lav_fit_fiml_corrected), to rounding, for both versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import block_diag

from vakstem.analysis.sem import api
from vakstem.analysis.sem import estimate as est

FIXTURES = Path(__file__).parent / "fixtures"
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def dense_kappa(estimates: Any, fitted: Any, version: str) -> float:
    """lavaan 0.6.14's computation: U over all moments, block-diagonal matrices as dense."""
    model = estimates.model
    h1 = estimates.h1_moments
    groups = range(len(model.groups))
    weights = [g.n / model.n_total for g in model.groups]
    wm = [est.h1_information(model, g, h1[g]) for g in groups]
    wm_inv = [np.linalg.inv(w) for w in wm]
    wc = [model.h1_weight(h1[g][1]) for g in groups]
    gamma = [
        wm_inv[g] @ est.h1_first_order(model, g, h1[g]) @ wm_inv[g] / weights[g] for g in groups
    ]
    wm_all = block_diag(*[w * m for w, m in zip(weights, wm, strict=True)])
    wc_all = block_diag(*[w * c for w, c in zip(weights, wc, strict=True)])
    wmi_all = block_diag(*[m / w for w, m in zip(weights, wm_inv, strict=True)])
    gamma_all = block_diag(*gamma)
    delta = np.vstack([fitted.model.delta(fitted.theta, g) for g in groups])
    information = delta.T @ wm_all @ delta
    u = wm_all - wm_all @ delta @ np.linalg.solve(information, delta.T @ wm_all)
    if version == "V6":
        return float(np.trace(wc_all @ wmi_all @ u @ wmi_all))
    return float(np.trace(u @ wmi_all @ wc_all @ wmi_all @ u @ gamma_all))


@pytest.mark.parametrize("equal", [(), ("loadings",), ("loadings", "intercepts")])
def test_groupwise_scaling_equals_the_dense_formula(
    equal: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    original = est.fiml_corrected

    def spy(estimates: Any, baseline: Any, version: str) -> est.FimlCorrected:
        calls.append((estimates, baseline))
        return original(estimates, baseline, version)

    monkeypatch.setattr(est, "fiml_corrected", spy)
    data = pd.read_csv(FIXTURES / "hs1939_missing.csv")
    api.fit(HS, data, estimator="MLR", missing="ml", group="school", group_equal=equal)
    ((estimates, baseline),) = calls
    for version in ("V3", "V6"):
        ours = original(estimates, baseline, version)
        for fitted, scaled, df in (
            (estimates, ours.c_hat3, ours.df3),
            (baseline, ours.c_hat3_null, ours.df3_null),
        ):
            expected = dense_kappa(estimates, fitted, version) / df
            assert scaled == pytest.approx(expected, rel=1e-10), (version, equal)
