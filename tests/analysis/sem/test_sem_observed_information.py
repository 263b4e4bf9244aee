"""The observed information differences only the parameters of each group's own matrices:
the others' differences are exact zeros, so the Hessian is the same to the last bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.sem import api, engine

FIXTURES = Path(__file__).parent / "fixtures"
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.mark.parametrize("equal", [(), ("loadings", "intercepts")])
def test_groupwise_differences_give_the_same_hessian(
    equal: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Any, np.ndarray[Any, Any]]] = []
    original = engine.Model.observed_information

    def spy(self: engine.Model, theta: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        seen.append((self, theta.copy()))
        return original(self, theta)

    monkeypatch.setattr(engine.Model, "observed_information", spy)
    data = pd.read_csv(FIXTURES / "hs1939_missing.csv")
    api.fit(HS, data, estimator="MLR", missing="ml", group="school", group_equal=equal)
    assert seen
    model, theta = seen[0]
    groupwise = original(model, theta)
    own = [model.group_parameters(g) for g in range(len(model.groups))]
    # Configural: the groups share no parameter; with equalities they share some.
    assert all(len(p) < model.n_free for p in own)
    assert bool(set(own[0]) & set(own[1])) == bool(equal)
    monkeypatch.setattr(model, "group_parameters", lambda g: list(range(model.n_free)))
    assert np.array_equal(groupwise, original(model, theta))
