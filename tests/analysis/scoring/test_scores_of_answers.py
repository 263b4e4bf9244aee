"""One response's scale scores without data frames (the mirror on the closing page) agree with
`scale_scores` on the tidy table: missing codes, reverse keying, minimum answered, sum scales."""

from __future__ import annotations

import math
import random
from typing import Any

import pandas as pd
import pytest

from vakstem.analysis.scoring import ScoringError, scale_scores, scores_of_answers
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Scale, Study
from vakstem.studies.klantmanagers import STUDY_FILE


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(STUDY_FILE)


def _answers(study: Study, rng: random.Random) -> dict[str, Any]:
    """Random stored answers to the scale items: codes, missing codes, and some left empty."""
    owner = {v: item for _p, item in study.items() for v in item.variables()}
    answers: dict[str, Any] = {}
    for var in sorted({v for scale in study.scales for v in scale.items}):
        roll = rng.random()
        if roll < 0.2:
            continue
        codes = [c.code for c in study.choices_of(owner[var])]
        answers[var] = rng.choice(codes) if codes else rng.randint(0, 40)
    return answers


def _frame_scores(study: Study, answers: dict[str, Any]) -> dict[str, float | None]:
    variables = sorted({v for scale in study.scales for v in scale.items})
    frame = pd.DataFrame({v: [answers.get(v, math.nan)] for v in variables}, dtype="float64")
    row = scale_scores(study, frame).iloc[0]
    return {
        scale.id: None if math.isnan(row[scale.id]) else float(row[scale.id])
        for scale in study.scales
    }


def test_scores_of_one_response_agree_with_the_table_scores(study: Study) -> None:
    assert any(scale.reverse for scale in study.scales)
    rng = random.Random(11)
    for _ in range(60):
        answers = _answers(study, rng)
        mine, table = scores_of_answers(study, answers), _frame_scores(study, answers)
        assert mine.keys() == table.keys()
        for scale_id, value in table.items():
            if value is None:
                assert mine[scale_id] is None, scale_id
            else:
                assert mine[scale_id] == pytest.approx(value, abs=1e-12), scale_id


def test_a_sum_scale_and_too_few_answers(study: Study) -> None:
    scale = study.scales[0]
    summed = study.model_copy(
        update={"scales": (scale.model_copy(update={"scoring": "sum", "reverse": ()}),)}
    )
    answers = {v: 4 for v in scale.items}
    assert scores_of_answers(summed, answers)[scale.id] == 4 * len(scale.items)
    assert scores_of_answers(summed, {scale.items[0]: 4})[scale.id] is None


def test_a_code_outside_the_choice_list_is_an_error(study: Study) -> None:
    scale: Scale = study.scales[0]
    with pytest.raises(ScoringError, match=scale.items[0]):
        scores_of_answers(study, {scale.items[0]: 77})
