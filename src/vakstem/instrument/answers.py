"""Coercion and validation of one answer against its item.

`coerce_answer` turns what a respondent sent (a JSON value from the API, or the string(s) of an
HTML form) into the value Vakstem stores (`AnswerValue`), or an `ItemError` with a stable
catalogue key that the web layer translates. Both front ends go through here, so an answer
accepted by one is accepted by the other. Conditions that depend on other answers (required,
relevant, constraint) are checked by the respondent service, which knows all the answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from vakstem.instrument.expressions import compile_expression, evaluate, is_true
from vakstem.instrument.schema import Item, ItemType, Study, text_in
from vakstem.service.types import AnswerValue, ItemError

# Catalogue keys of answer errors (the web layer's message catalogues translate these).
REQUIRED = "required"
NOT_INTEGER = "not_integer"
NOT_NUMBER = "not_number"
BELOW_MIN = "below_min"
ABOVE_MAX = "above_max"
NOT_A_CHOICE = "not_a_choice"
TOO_LONG = "too_long"
NOT_A_DATE = "not_a_date"
NOT_TEXT = "not_text"
CONSTRAINT = "constraint"
UNKNOWN_ITEM = "unknown_item"
NOT_RELEVANT = "not_relevant"

ERROR_CODES = (
    REQUIRED,
    NOT_INTEGER,
    NOT_NUMBER,
    BELOW_MIN,
    ABOVE_MAX,
    NOT_A_CHOICE,
    TOO_LONG,
    NOT_A_DATE,
    NOT_TEXT,
    CONSTRAINT,
    UNKNOWN_ITEM,
    NOT_RELEVANT,
)

#: Ceiling on text length when the author set none: a bound on what one answer can store.
DEFAULT_MAX_LENGTH = {ItemType.TEXT: 1_000, ItemType.LONGTEXT: 10_000}
#: Integers beyond this are refused even without a max: exports and the JSON API must carry them
#: exactly, and JavaScript clients lose precision above 2**53.
INTEGER_LIMIT = 2**53

_FORM_INTEGER = re.compile(r"[+-]?[0-9]+")
# A Dutch form may use a decimal comma; thousands separators are not accepted (ambiguous).
_FORM_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Control characters other than tab and newline: PostgreSQL cannot store NUL in JSON, and the
# rest only arrive from scripts or broken clients.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONSENT_WORDS = {
    "1": 1,
    "true": 1,
    "ja": 1,
    "yes": 1,
    "on": 1,
    "0": 0,
    "false": 0,
    "nee": 0,
    "no": 0,
}


def _error(variable: str, code: str, **params: Any) -> ItemError:
    return ItemError(variable=variable, code=code, params=params)


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    if isinstance(raw, (list, tuple)):
        return all(_is_empty(part) for part in raw)
    return False


def _single_form_value(raw: Any) -> Any:
    """A form field that should hold one value but arrived several times: the last one wins,
    as a browser only sends repeats when a page was tampered with."""
    if isinstance(raw, (list, tuple)):
        parts = [p for p in raw if not _is_empty(p)]
        return parts[-1] if parts else ""
    return raw


def _bounds(item: Item, variable: str, number: float) -> ItemError | None:
    if item.min is not None and number < item.min:
        return _error(variable, BELOW_MIN, min=_plain(item.min))
    if item.max is not None and number > item.max:
        return _error(variable, ABOVE_MAX, max=_plain(item.max))
    return None


def _plain(number: float) -> int | float:
    return int(number) if float(number).is_integer() else number


def _integer(item: Item, variable: str, raw: Any, from_form: bool) -> AnswerValue | ItemError:
    value: int
    if from_form:
        if not isinstance(raw, str) or not _FORM_INTEGER.fullmatch(raw.strip()):
            return _error(variable, NOT_INTEGER)
        value = int(raw.strip())
    elif isinstance(raw, bool):
        return _error(variable, NOT_INTEGER)
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        # Some JSON encoders write every number as 12.0.
        value = int(raw)
    else:
        return _error(variable, NOT_INTEGER)
    if value <= -INTEGER_LIMIT:
        floor = _plain(item.min) if item.min is not None else -INTEGER_LIMIT + 1
        return _error(variable, BELOW_MIN, min=floor)
    if value >= INTEGER_LIMIT:
        ceiling = _plain(item.max) if item.max is not None else INTEGER_LIMIT - 1
        return _error(variable, ABOVE_MAX, max=ceiling)
    return _bounds(item, variable, value) or value


def _decimal(item: Item, variable: str, raw: Any, from_form: bool) -> AnswerValue | ItemError:
    number: float
    if from_form:
        if not isinstance(raw, str) or not _FORM_DECIMAL.fullmatch(raw.strip()):
            return _error(variable, NOT_NUMBER)
        number = float(raw.strip().replace(",", "."))
    elif isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return _error(variable, NOT_NUMBER)
    else:
        try:
            number = float(raw)
        except OverflowError:
            return _error(variable, NOT_NUMBER)
    if not math.isfinite(number):
        return _error(variable, NOT_NUMBER)
    return _bounds(item, variable, number) or number


def _code(raw: Any, from_form: bool) -> int | None:
    """A choice code from JSON (an integer) or a form (its digits); None when it is not one."""
    if from_form:
        if isinstance(raw, str) and _FORM_INTEGER.fullmatch(raw.strip()):
            return int(raw.strip())
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    return None


def _single(
    study: Study, item: Item, variable: str, raw: Any, from_form: bool
) -> AnswerValue | ItemError:
    codes = [c.code for c in study.choices_of(item)]
    code = _code(raw, from_form)
    if code is None or code not in codes:
        return _error(variable, NOT_A_CHOICE)
    return code


def _multiple(
    study: Study, item: Item, variable: str, raw: Any, from_form: bool
) -> AnswerValue | ItemError:
    order = [c.code for c in study.choices_of(item)]
    parts: Sequence[Any]
    if from_form and isinstance(raw, str):
        parts = [raw]
    elif isinstance(raw, (list, tuple)):
        parts = [p for p in raw if not (from_form and _is_empty(p))]
    else:
        return _error(variable, NOT_A_CHOICE)
    chosen: list[int] = []
    for part in parts:
        code = _code(part, from_form)
        if code is None or code not in order:
            return _error(variable, NOT_A_CHOICE)
        if code in chosen:
            return _error(variable, NOT_A_CHOICE, duplicate=code)
        chosen.append(code)
    if not chosen:
        return None
    # Stored in the choice list's order, so the same choices are always the same value.
    return sorted(chosen, key=order.index)


def _date(variable: str, raw: Any) -> AnswerValue | ItemError:
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw.strip()):
        return _error(variable, NOT_A_DATE)
    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        return _error(variable, NOT_A_DATE)


def _text(item: Item, variable: str, raw: Any) -> AnswerValue | ItemError:
    if not isinstance(raw, str):
        return _error(variable, NOT_TEXT)
    # Browsers send CRLF line breaks; one newline is one character in the length limit.
    text = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if _CONTROL.search(text):
        return _error(variable, NOT_TEXT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate from a JSON "\ud800" escape: not text any database can store.
        return _error(variable, NOT_TEXT)
    limit = item.max_length or DEFAULT_MAX_LENGTH[item.type]
    if len(text) > limit:
        return _error(variable, TOO_LONG, max_length=limit, length=len(text))
    return text


def _consent(variable: str, raw: Any, from_form: bool) -> AnswerValue | ItemError:
    if from_form:
        if isinstance(raw, str) and raw.strip().lower() in _CONSENT_WORDS:
            return _CONSENT_WORDS[raw.strip().lower()]
        return _error(variable, NOT_A_CHOICE)
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int) and raw in (0, 1):
        return raw
    return _error(variable, NOT_A_CHOICE)


def coerce_answer(
    study: Study, item: Item, variable: str, raw: Any, *, from_form: bool
) -> AnswerValue | ItemError:
    """The stored value for `raw` given to `variable` of `item`, None when unanswered, or an
    `ItemError`.

    JSON values must already have the right JSON type (an integer item takes 12, not "12" or
    true); form values are strings parsed the same way (a decimal may use a comma, a multiple
    choice may arrive as several values). `variable` is the item id, or a row id of a matrix.
    """
    if variable not in item.variables():
        return _error(variable, UNKNOWN_ITEM)
    if _is_empty(raw):
        return None
    kind = item.type
    if kind is ItemType.MULTIPLE:
        return _multiple(study, item, variable, raw, from_form)
    if from_form:
        raw = _single_form_value(raw)
        if _is_empty(raw):
            return None
    if kind in (ItemType.SINGLE, ItemType.MATRIX):
        return _single(study, item, variable, raw, from_form)
    if kind is ItemType.INTEGER:
        return _integer(item, variable, raw, from_form)
    if kind is ItemType.DECIMAL:
        return _decimal(item, variable, raw, from_form)
    if kind is ItemType.DATE:
        return _date(variable, raw)
    if kind in (ItemType.TEXT, ItemType.LONGTEXT):
        result = _text(item, variable, raw)
        return None if result == "" else result
    if kind is ItemType.CONSENT:
        return _consent(variable, raw, from_form)
    return _error(variable, UNKNOWN_ITEM)


def check_constraint(
    item: Item,
    variable: str,
    value: AnswerValue,
    values: Mapping[str, AnswerValue],
    language: str,
    *,
    today: date | None = None,
) -> ItemError | None:
    """The author's constraint on an answered `variable` (`.` is its value), or None if met.

    The error carries the author's constraint message in `language` when there is one.
    """
    if item.constraint is None or value is None:
        return None
    result = evaluate(compile_expression(item.constraint), values, value, today=today)
    if is_true(result):
        return None
    message = text_in(item.constraint_message, language) if item.constraint_message else None
    return ItemError(variable=variable, code=CONSTRAINT, message=message or None)
