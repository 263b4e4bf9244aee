"""Whatever a client sends, coercion answers with a stored value of the item's kind, None or an
`ItemError` — never an exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.factories import all_types_study
from vakstem.instrument.answers import coerce_answer
from vakstem.instrument.schema import ItemType
from vakstem.service.types import ItemError

STUDY = all_types_study()
ITEMS = [item for _p, item in STUDY.items() if item.type is not ItemType.NOTE]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
form_values = st.text() | st.lists(st.text(), max_size=4)

KINDS: dict[ItemType, tuple[type, ...]] = {
    ItemType.SINGLE: (int,),
    ItemType.MATRIX: (int,),
    ItemType.MULTIPLE: (list,),
    ItemType.INTEGER: (int,),
    ItemType.DECIMAL: (float,),
    ItemType.TEXT: (str,),
    ItemType.LONGTEXT: (str,),
    ItemType.DATE: (str,),
    ItemType.CONSENT: (int,),
}


def check(result: Any, kind: ItemType) -> None:
    if result is None or isinstance(result, ItemError):
        return
    assert isinstance(result, KINDS[kind]) and not isinstance(result, bool), (kind, result)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(ITEMS) - 1), raw=json_values)
def test_any_json_value_is_coerced_or_refused_never_raises(index: int, raw: Any) -> None:
    item = ITEMS[index]
    check(coerce_answer(STUDY, item, item.variables()[0], raw, from_form=False), item.type)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(ITEMS) - 1), raw=form_values)
def test_any_form_value_is_coerced_or_refused_never_raises(index: int, raw: Any) -> None:
    item = ITEMS[index]
    check(coerce_answer(STUDY, item, item.variables()[0], raw, from_form=True), item.type)
