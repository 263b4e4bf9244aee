"""An independent check of published numbers against the data they came from: every count a
reader sees is 0-free and at least k, every statistic rests on at least k responses, and no
two published counts differ by a real group of 1 to k-1 people, nor does any line leave a small
group to be worked out from its published total."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from vakstem.feedback.disclosure import Count, Disclosure, Quartiles


def walk(obj: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """Every object reachable from `obj` through dataclass fields, mappings and sequences."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, str | bytes | int | float | type(None)):
        return
    seen.add(id(obj))
    yield obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from walk(getattr(obj, f.name), seen)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from walk(key, seen)
            yield from walk(value, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for value in obj:
            yield from walk(value, seen)


def published_counts(surface: Any) -> list[Count]:
    return [o for o in walk(surface) if isinstance(o, Count) and o.value is not None]


def statistics(surface: Any) -> list[Quartiles]:
    return [o for o in walk(surface) if isinstance(o, Quartiles)]


def audit(counts: list[Count], stats: list[Quartiles], k: int) -> None:
    for count in counts:
        assert count.value == len(count.basis)
        assert count.value == 0 or count.value >= k, count.value
    for stat in stats:
        assert stat.n >= k, stat.n
    for a in counts:
        for b in counts:
            if a is not b and b.basis <= a.basis:
                diff = len(a.basis - b.basis)
                assert diff == 0 or diff >= k, (len(a.basis), len(b.basis), diff)


def audit_lines(disclosure: Disclosure) -> None:
    """Within each published line, the cells a reader cannot see add up to 0 or at least k."""
    for line in disclosure.lines:
        if line.parent.value is None:
            assert all(c.value is None for c in line.cells.values())
            continue
        hidden = sum(
            len(c.basis)
            for key, c in line.cells.items()
            if c.value is None or key not in line.shown
        )
        assert hidden == 0 or hidden >= disclosure.k, hidden
