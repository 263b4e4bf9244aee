"""Answer coercion: JSON values need the right JSON type, form strings are parsed the same way,
and each bad value gets its own catalogue key."""

from __future__ import annotations

from typing import Any

import pytest

from service.factories import all_types_study, every_type_item
from vakstem.instrument.answers import check_constraint, coerce_answer
from vakstem.instrument.schema import ItemType
from vakstem.service.types import ItemError

STUDY = all_types_study()


def coerce(
    kind: ItemType, raw: Any, *, from_form: bool = False, variable: str | None = None
) -> Any:
    item = every_type_item(kind)
    return coerce_answer(STUDY, item, variable or item.variables()[0], raw, from_form=from_form)


def code_of(result: Any) -> str | None:
    return result.code if isinstance(result, ItemError) else None


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (ItemType.INTEGER, 12, 12),
        (ItemType.INTEGER, 12.0, 12),
        (ItemType.INTEGER, 0, 0),
        (ItemType.DECIMAL, 7, 7.0),
        (ItemType.DECIMAL, 36.5, 36.5),
        (ItemType.SINGLE, 3, 3),
        (ItemType.SINGLE, 9, 9),
        (ItemType.MATRIX, 1, 1),
        (ItemType.MULTIPLE, [5, 2], [2, 5]),
        (ItemType.DATE, "2024-02-29", "2024-02-29"),
        (ItemType.TEXT, "  Piet  ", "Piet"),
        (ItemType.LONGTEXT, "regel 1\r\nregel 2", "regel 1\nregel 2"),
        (ItemType.CONSENT, 1, 1),
        (ItemType.CONSENT, 0, 0),
        (ItemType.CONSENT, True, 1),
        (ItemType.CONSENT, False, 0),
    ],
)
def test_json_value_of_the_right_type_is_accepted(kind: ItemType, raw: Any, expected: Any) -> None:
    result = coerce(kind, raw)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("kind", "raw", "code"),
    [
        (ItemType.INTEGER, "12", "not_integer"),
        (ItemType.INTEGER, True, "not_integer"),
        (ItemType.INTEGER, 12.5, "not_integer"),
        (ItemType.INTEGER, [12], "not_integer"),
        (ItemType.INTEGER, -1, "below_min"),
        (ItemType.INTEGER, 51, "above_max"),
        (ItemType.INTEGER, 10**30, "above_max"),
        (ItemType.DECIMAL, "3.5", "not_number"),
        (ItemType.DECIMAL, False, "not_number"),
        (ItemType.DECIMAL, float("nan"), "not_number"),
        (ItemType.DECIMAL, float("inf"), "not_number"),
        (ItemType.DECIMAL, 60.01, "above_max"),
        (ItemType.DECIMAL, 10**400, "not_number"),
        (ItemType.SINGLE, 4, "not_a_choice"),
        (ItemType.SINGLE, "1", "not_a_choice"),
        (ItemType.SINGLE, True, "not_a_choice"),
        (ItemType.MATRIX, 7, "not_a_choice"),
        (ItemType.MULTIPLE, 2, "not_a_choice"),
        (ItemType.MULTIPLE, [2, 2], "not_a_choice"),
        (ItemType.MULTIPLE, [2, 99], "not_a_choice"),
        (ItemType.MULTIPLE, ["2"], "not_a_choice"),
        (ItemType.DATE, "2023-02-29", "not_a_date"),
        (ItemType.DATE, "29-02-2024", "not_a_date"),
        (ItemType.DATE, "20240229", "not_a_date"),
        (ItemType.DATE, 20240229, "not_a_date"),
        (ItemType.TEXT, 42, "not_text"),
        (ItemType.TEXT, "12345678901", "too_long"),
        (ItemType.TEXT, "nul\x00byte", "not_text"),
        (ItemType.TEXT, "half \ud800", "not_text"),
        (ItemType.LONGTEXT, "x" * 21, "too_long"),
        (ItemType.CONSENT, 2, "not_a_choice"),
        (ItemType.CONSENT, "ja", "not_a_choice"),
    ],
)
def test_json_value_of_the_wrong_type_or_range_is_refused(
    kind: ItemType, raw: Any, code: str
) -> None:
    assert code_of(coerce(kind, raw)) == code


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (ItemType.INTEGER, " 12 ", 12),
        (ItemType.INTEGER, "+3", 3),
        (ItemType.DECIMAL, "36,5", 36.5),
        (ItemType.DECIMAL, "36.5", 36.5),
        (ItemType.DECIMAL, "8", 8.0),
        (ItemType.SINGLE, "2", 2),
        (ItemType.MATRIX, "9", 9),
        (ItemType.MULTIPLE, ["3", "1"], [1, 3]),
        (ItemType.MULTIPLE, "4", [4]),
        (ItemType.DATE, "2020-01-31", "2020-01-31"),
        (ItemType.TEXT, "Piet", "Piet"),
        (ItemType.CONSENT, "1", 1),
        (ItemType.CONSENT, "0", 0),
        (ItemType.CONSENT, "ja", 1),
        (ItemType.CONSENT, "nee", 0),
    ],
)
def test_form_string_is_parsed_like_json(kind: ItemType, raw: Any, expected: Any) -> None:
    result = coerce(kind, raw, from_form=True)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("kind", "raw", "code"),
    [
        (ItemType.INTEGER, "twaalf", "not_integer"),
        (ItemType.INTEGER, "1.000", "not_integer"),
        (ItemType.INTEGER, "12,5", "not_integer"),
        (ItemType.INTEGER, "99", "above_max"),
        (ItemType.DECIMAL, "1e5", "not_number"),
        (ItemType.DECIMAL, "1.000,5", "not_number"),
        (ItemType.DECIMAL, "-0,5", "below_min"),
        (ItemType.SINGLE, "8", "not_a_choice"),
        (ItemType.SINGLE, "een", "not_a_choice"),
        (ItemType.MULTIPLE, ["1", "1"], "not_a_choice"),
        (ItemType.MULTIPLE, ["1", "x"], "not_a_choice"),
        (ItemType.DATE, "31-01-2020", "not_a_date"),
        (ItemType.CONSENT, "misschien", "not_a_choice"),
    ],
)
def test_bad_form_string_is_refused(kind: ItemType, raw: Any, code: str) -> None:
    assert code_of(coerce(kind, raw, from_form=True)) == code


@pytest.mark.parametrize("kind", [k for k in ItemType if k is not ItemType.NOTE])
@pytest.mark.parametrize("raw", [None, "", "   ", []])
def test_empty_means_unanswered(kind: ItemType, raw: Any) -> None:
    assert coerce(kind, raw, from_form=isinstance(raw, str)) is None


def test_out_of_range_error_names_the_bound() -> None:
    error = coerce(ItemType.INTEGER, 51)
    assert isinstance(error, ItemError)
    assert error.params == {"max": 50} and error.variable == "getal"


def test_too_long_error_names_limit_and_length() -> None:
    error = coerce(ItemType.TEXT, "x" * 12)
    assert isinstance(error, ItemError) and error.params == {"max_length": 10, "length": 12}


def test_text_without_max_length_still_has_a_ceiling() -> None:
    item = every_type_item(ItemType.TEXT).model_copy(update={"max_length": None})
    error = coerce_answer(STUDY, item, "naam", "x" * 5000, from_form=False)
    assert isinstance(error, ItemError) and error.code == "too_long"


def test_matrix_row_outside_the_item_is_unknown() -> None:
    assert code_of(coerce(ItemType.MATRIX, 1, variable="m_3")) == "unknown_item"


def test_constraint_message_comes_in_the_response_language() -> None:
    item = every_type_item(ItemType.INTEGER).model_copy(
        update={
            "constraint": ". mod 2 = 0",
            "constraint_message": {"nl": "Een even getal graag.", "en": "An even number please."},
        }
    )
    assert check_constraint(item, "getal", 4, {"getal": 4}, "en") is None
    error = check_constraint(item, "getal", 3, {"getal": 3}, "en")
    assert error is not None and error.code == "constraint"
    assert error.message == "An even number please."


def test_constraint_without_message_leaves_the_text_to_the_catalogue() -> None:
    item = every_type_item(ItemType.INTEGER).model_copy(update={"constraint": ". > 5"})
    error = check_constraint(item, "getal", 3, {"getal": 3}, "nl")
    assert error is not None and error.code == "constraint" and error.message is None
