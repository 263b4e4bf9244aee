"""Scale scoring: reverse-keying over non-missing codes, the two-thirds rule, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vakstem.analysis.scoring import (
    ScoringError,
    item_bounds,
    numeric_items,
    required_answered,
    scale_scores,
    score_scale,
)
from vakstem.instrument.schema import Choice, Item, ItemType, MatrixRow, Page, Scale, Study

NAN = float("nan")


def make_study(
    items: tuple[str, ...] = ("q1", "q2", "q3"),
    reverse: tuple[str, ...] = ("q3",),
    scoring: str = "mean",
    min_answered: float = 2 / 3,
    with_dont_know: bool = True,
) -> Study:
    """A one-page study: a 1-5 agreement matrix (plus 9 = weet ik niet) and one scale."""
    choices = [Choice(code=c, label=str(c)) for c in range(1, 6)]
    if with_dont_know:
        choices.append(
            Choice(code=9, label={"nl": "weet ik niet", "en": "don't know"}, missing=True)
        )
    matrix = Item(
        id="m",
        type=ItemType.MATRIX,
        text="Stellingen",
        choices="eens",
        rows=tuple(MatrixRow(id=i, text=i) for i in items),
    )
    extra = Item(id="naam", type=ItemType.TEXT, text="Naam")
    return Study(
        id="s",
        title="Test",
        choice_lists={"eens": tuple(choices)},
        pages=(Page(id="p", items=(matrix, extra)),),
        scales=(
            Scale(
                id="sc",
                label="Schaal",
                items=items,
                reverse=reverse,
                scoring=scoring,  # type: ignore[arg-type]
                min_answered=min_answered,
            ),
        ),
    )


def test_reverse_keying_uses_non_missing_codes_of_the_choice_list() -> None:
    study = make_study()
    # Codes are 1-5 plus 9 (weet ik niet): reversal is 6 - x, not 10 - x.
    assert item_bounds(study)["q3"] == (1.0, 5.0)
    df = pd.DataFrame({"q1": [5, 1], "q2": [5, 1], "q3": [1, 5]})
    scores = scale_scores(study, df)["sc"]
    assert scores.tolist() == [5.0, 1.0]


def test_dont_know_code_becomes_missing_and_does_not_count_as_answered() -> None:
    study = make_study()
    df = pd.DataFrame({"q1": [4, 4], "q2": [9, 2], "q3": [9, 9], "naam": ["a", "b"]})
    numeric = numeric_items(study, df)
    assert math.isnan(numeric.loc[0, "q2"])
    assert numeric["naam"].tolist() == ["a", "b"]
    scores = scale_scores(study, df)["sc"]
    # Row 0: only q1 answered (1 of 3) -> no score; row 1: q1 and q2 answered -> mean 3.
    assert math.isnan(scores[0])
    assert scores[1] == 3.0


def test_exactly_two_thirds_answered_gets_a_score_and_one_less_does_not() -> None:
    study = make_study(items=("q1", "q2", "q3", "q4", "q5", "q6"), reverse=())
    assert required_answered(study.scales[0]) == 4
    df = pd.DataFrame(
        {
            "q1": [2, 2],
            "q2": [4, 4],
            "q3": [3, 3],
            "q4": [5, NAN],
            "q5": [NAN, NAN],
            "q6": [NAN, NAN],
        }
    )
    scores = scale_scores(study, df)["sc"]
    assert scores[0] == pytest.approx(3.5)
    assert math.isnan(scores[1])


@pytest.mark.parametrize(("n_items", "needed"), [(2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (9, 6)])
def test_two_thirds_rule_rounds_up_except_at_exact_thirds(n_items: int, needed: int) -> None:
    scale = Scale(id="x", label="x", items=tuple(f"q{i}" for i in range(n_items)))
    assert required_answered(scale) == needed


def test_all_missing_rows_get_no_score() -> None:
    study = make_study()
    df = pd.DataFrame({"q1": [NAN, 9], "q2": [NAN, 9], "q3": [NAN, 9]})
    assert scale_scores(study, df)["sc"].isna().all()


def test_sum_scoring_adds_the_answered_keyed_items() -> None:
    study = make_study(scoring="sum")
    df = pd.DataFrame({"q1": [5, 3], "q2": [4, NAN], "q3": [2, 1]})
    scores = scale_scores(study, df)["sc"]
    assert scores.tolist() == [5 + 4 + 4, 3 + 5]


def test_min_answered_of_one_scores_any_answered_row() -> None:
    study = make_study(min_answered=1 / 3)
    df = pd.DataFrame({"q1": [NAN], "q2": [2], "q3": [NAN]})
    assert scale_scores(study, df)["sc"].tolist() == [2.0]


def test_score_scale_works_without_a_study_given_bounds() -> None:
    scale = Scale(id="x", label="x", items=("a", "b"), reverse=("b",))
    df = pd.DataFrame({"a": [7, 1], "b": [1, 7]})
    scores = score_scale(df, scale, bounds={"b": (1, 7)})
    assert scores.tolist() == [7.0, 1.0]
    assert scores.name == "x"


def test_scores_keep_the_index_of_the_response_table() -> None:
    study = make_study()
    df = pd.DataFrame({"q1": [1, 2], "q2": [1, 2], "q3": [5, 4]}, index=["r7", "r9"])
    scores = scale_scores(study, df)
    assert scores.index.tolist() == ["r7", "r9"]
    np.testing.assert_allclose(scores["sc"].to_numpy(), [1.0, 2.0])


def test_missing_item_column_is_named() -> None:
    study = make_study()
    df = pd.DataFrame({"q1": [1], "q2": [2]})
    with pytest.raises(ScoringError, match=r"scale 'sc'.*q3 not in the data"):
        scale_scores(study, df)


def test_text_in_an_item_column_is_named_with_its_row() -> None:
    study = make_study()
    df = pd.DataFrame({"q1": [1, "veel"], "q2": [2, 3], "q3": [1, 1]})
    with pytest.raises(ScoringError, match=r"column 'q1' is not numeric: value 'veel' in row 1"):
        scale_scores(study, df)


def test_code_outside_the_choice_list_is_an_error() -> None:
    study = make_study()
    df = pd.DataFrame({"q1": [1, 7], "q2": [2, 3], "q3": [1, 1]})
    with pytest.raises(ScoringError, match=r"column 'q1' holds code\(s\) 7 .*choice list 'eens'"):
        numeric_items(study, df)


def test_reverse_keyed_item_without_known_range_is_an_error() -> None:
    scale = Scale(id="x", label="x", items=("a", "b"), reverse=("b",))
    df = pd.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(ScoringError, match=r"reverse-keyed item 'b' has no known range"):
        score_scale(df, scale)


def test_reverse_item_outside_the_scale_is_an_error() -> None:
    scale = Scale(id="x", label="x", items=("a", "b"), reverse=("c",))
    df = pd.DataFrame({"a": [1], "b": [2], "c": [3]})
    with pytest.raises(ScoringError, match=r"reverse-keyed item\(s\) c are not items"):
        score_scale(df, scale, bounds={"c": (1, 5)})


answers = st.lists(st.sampled_from([1, 2, 3, 4, 5, 9, None]), min_size=3, max_size=3)


@given(st.lists(answers, min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_scores_stay_on_the_answer_scale_and_follow_the_two_thirds_rule(
    rows: list[list[int | None]],
) -> None:
    study = make_study()
    df = pd.DataFrame(rows, columns=["q1", "q2", "q3"], dtype="float64")
    scores = scale_scores(study, df)["sc"]
    for row, score in zip(rows, scores, strict=True):
        answered = [v for v in row if v not in (None, 9)]
        if len(answered) >= 2:
            assert 1.0 <= score <= 5.0
            keyed = [v if i < 2 else 6 - v for i, v in enumerate(row) if v not in (None, 9)]
            assert score == pytest.approx(sum(keyed) / len(keyed))
        else:
            assert math.isnan(score)
