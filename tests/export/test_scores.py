"""Scale scores of a chunk in numpy: the same numbers as `analysis.scoring.scale_scores`, to the
last bit, and the same errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vakstem
from vakstem.analysis.scoring import ScoringError, scale_scores
from vakstem.export.scores import ChunkScorer
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Scale, Study

KLANTMANAGERS = Path(vakstem.__file__).parent / "studies" / "klantmanagers" / "study.yaml"


def _study() -> Study:
    study = load_study_file(KLANTMANAGERS)
    # Add a long scale (ten items, two reversed) and a sum scale over the same items, so the
    # comparison also covers more items than numpy adds one by one before it pairs them.
    first = study.scales[0]
    items = tuple(v for s in study.scales[:4] for v in s.items)[:10]
    extra = (
        Scale(id="lang", label=first.label, items=items, reverse=items[1:3]),
        Scale(id="totaal", label=first.label, items=items, reverse=items[:1], scoring="sum"),
        Scale(id="half", label=first.label, items=items[:4], min_answered=0.5),
    )
    return study.model_copy(update={"scales": (*study.scales, *extra)})


def _columns(study: Study, n: int, seed: int) -> dict[str, np.ndarray]:
    """Random answers: valid codes (missing choices included), about a fifth empty."""
    rng = np.random.default_rng(seed)
    owner = {v: item for _p, item in study.items() for v in item.variables()}
    columns = {}
    for variable in ChunkScorer(study).variables():
        codes = [float(c.code) for c in study.choices_of(owner[variable])]
        values = rng.choice(codes, size=n)
        values[rng.random(n) < 0.2] = np.nan
        columns[variable] = values
    return columns


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scores_equal_scale_scores_bit_for_bit(seed: int) -> None:
    study = _study()
    columns = _columns(study, 3_000, seed)
    expected = scale_scores(study, pd.DataFrame(columns))
    mine = ChunkScorer(study).scores(columns)
    assert list(mine) == [s.id for s in study.scales]
    for scale in study.scales:
        want = expected[scale.id].to_numpy(dtype="float64")
        got = mine[scale.id]
        assert np.array_equal(np.isnan(got), np.isnan(want)), scale.id
        # Bit for bit: the same additions in the same order, not merely close.
        assert got.tobytes() == want.tobytes(), scale.id
        assert 0 < np.isnan(got).sum() < len(got)


def test_a_code_outside_the_choice_list_raises_scale_scores_own_error() -> None:
    study = _study()
    columns = _columns(study, 50, 4)
    variable = study.scales[0].items[0]
    columns[variable][7] = 42.0
    with pytest.raises(ScoringError, match=f"column '{variable}' holds code.*42"):
        ChunkScorer(study).scores(columns)
