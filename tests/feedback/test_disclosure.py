"""Disclosure control on its own: primary and complementary suppression per line, nesting,
differencing across lines, statistics from at least k values, and misuse refused."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.feedback.audit import audit, audit_lines

from vakstem.feedback.disclosure import Disclosure, DisclosureError, check_k


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _line(sizes: dict[str, int], k: int = 10) -> tuple[Disclosure, dict[str, int | None]]:
    d = Disclosure(k)
    cells = {key: _ids(key, n) for key, n in sizes.items()}
    total = d.total([i for ids in cells.values() for i in ids])
    counts = d.line(total, cells)
    d.finalize()
    return d, {key: c.value for key, c in counts.items()}


def test_a_small_cell_is_hidden_together_with_the_next_smallest() -> None:
    _d, values = _line({"a": 40, "b": 3, "c": 12, "d": 25})
    assert values == {"a": 40, "b": None, "c": None, "d": 25}


def test_two_small_cells_adding_up_to_k_need_no_third() -> None:
    _d, values = _line({"a": 40, "b": 4, "c": 6, "d": 25})
    assert values == {"a": 40, "b": None, "c": None, "d": 25}


def test_two_small_cells_under_k_together_take_a_third_with_them() -> None:
    _d, values = _line({"a": 40, "b": 2, "c": 3, "d": 25})
    assert values == {"a": 40, "b": None, "c": None, "d": None}


def test_empty_cells_are_hidden_but_need_no_partner() -> None:
    _d, values = _line({"a": 40, "b": 0, "c": 25})
    assert values == {"a": 40, "b": None, "c": 25}


def test_a_line_under_a_hidden_parent_is_hidden_whole() -> None:
    d = Disclosure(10)
    everyone = d.total(_ids("x", 30) + _ids("y", 4))
    answered = d.line(everyone, {"yes": _ids("x", 30), "no": _ids("y", 4)}, shown=["yes"])
    themes = d.line(answered["yes"], {"t": _ids("x", 15), "not": _ids("x", 30)[15:]})
    d.finalize()
    assert answered["yes"].value is None  # 34 - 30 = 4 would be known
    assert themes["t"].value is None and themes["t"].reason == "parent"


def test_a_group_inside_another_line_cannot_be_subtracted() -> None:
    d = Disclosure(10)
    everyone = _ids("a", 20) + _ids("b", 22) + _ids("c", 30)
    total = d.total(everyone)
    # Type "t1" is group a; size class "s1" is a plus 3 of b: s1 - t1 = 3 people.
    types = d.line(total, {"t1": _ids("a", 20), "t2": _ids("b", 22) + _ids("c", 30)})
    s1 = _ids("a", 20) + _ids("b", 3)
    sizes = d.line(total, {"s1": s1, "s2": [i for i in everyone if i not in set(s1)]})
    d.finalize()
    assert not (types["t1"].value is not None and sizes["s1"].value is not None)
    audit(d.published_counts(), [], 10)


def test_quartiles_need_k_values_and_ignore_missing() -> None:
    d = Disclosure(10)
    values = pd.Series([1.0] * 9 + [float("nan")], index=_ids("r", 10))
    assert d.quartiles(values) is None
    values = pd.Series([float(v) for v in range(1, 11)], index=_ids("r", 10))
    q = d.quartiles(values)
    assert q is not None and q.median == 5.5 and q.n == 10


@pytest.mark.parametrize("k", [4, 0, -1, 2.5, True])
def test_k_below_five_or_not_whole_is_refused(k: object) -> None:
    with pytest.raises(DisclosureError, match="at least 5"):
        check_k(k)  # type: ignore[arg-type]


def test_cells_that_do_not_make_up_the_parent_are_refused() -> None:
    d = Disclosure(10)
    total = d.total(_ids("r", 20))
    with pytest.raises(DisclosureError, match="exactly its parent"):
        d.line(total, {"a": _ids("r", 12)})
    with pytest.raises(DisclosureError, match="overlaps"):
        d.line(total, {"a": _ids("r", 12), "b": _ids("r", 20)})


def test_values_cannot_be_read_before_finalize() -> None:
    d = Disclosure(10)
    total = d.total(_ids("r", 20))
    with pytest.raises(DisclosureError, match="finalize"):
        _ = total.value


@settings(max_examples=150, deadline=None)
@given(
    k=st.integers(5, 12),
    lines=st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=7), min_size=1, max_size=3),
    people=st.integers(0, 120),
    data=st.data(),
)
def test_no_published_count_or_difference_reveals_a_group_under_k(
    k: int, lines: list[list[int]], people: int, data: st.DataObject
) -> None:
    everyone = _ids("p", people)
    d = Disclosure(k)
    total = d.total(everyone)
    for cells in lines:
        # Random assignment of everyone to the line's cells (so lines overlap arbitrarily).
        n = len(cells)
        assignment = data.draw(st.lists(st.integers(0, n - 1), min_size=people, max_size=people))
        groups: dict[int, list[str]] = {i: [] for i in range(n)}
        for person, cell in zip(everyone, assignment, strict=True):
            groups[cell].append(person)
        made = d.line(total, groups)
        # A nested line under the first cell, split in two.
        first = groups[0]
        d.line(made[0], {"x": first[: len(first) // 2], "y": first[len(first) // 2 :]})
    d.finalize()
    audit(d.published_counts(), [], k)
    audit_lines(d)
