"""Disclosure control for every feedback surface: the one place where counts and statistics are
made safe to publish.

The rules (`k` is the study's `settings.k_min`, at least 5):

1. **Primary suppression.** A count of fewer than `k` respondents is not published (it shows as
   "fewer than k"); a statistic (median, quartiles) is only computed from at least `k` values.
2. **Secondary (complementary) suppression per line.** A *line* is a breakdown of a published
   parent group into disjoint cells that together make the parent (every category, the
   "not answered" one included, and cells that are never displayed, such as "did not mention
   this theme"). Since the parent is published, the cells not published add up to a known
   number; that sum must be 0 or at least `k`. While it is not, the smallest published cell is
   suppressed too. So one suppressed cell is never alone in its line, and the complement
   (parent minus the published cells) can never reveal a small group.
3. **Nesting.** A line under a suppressed parent is suppressed as a whole.
4. **Differencing across lines.** After the lines, every pair of published counts is checked:
   when one group contains the other (say a size class and an organisation type whose
   respondents all fall in it), their difference is the size of a real group, so it must be 0
   or at least `k`; if not, the smaller count is suppressed and the lines are settled again.

A surface builder creates a `Disclosure`, registers its totals and lines, asks it for
statistics, then calls `finalize()`; only then do counts have values. Every `Count` and
`Quartiles` keeps the ids of the responses it was computed from (`basis`): never rendered, it
lets tests and audits check the published numbers against the data.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import pandas as pd

#: The smallest `k` any study may set (STUDY.md: default 10, never below 5).
K_FLOOR = 5

K = TypeVar("K", bound=Hashable)


class DisclosureError(ValueError):
    """Disclosure control was used wrongly (bad k, overlapping cells, reading before finalize)."""


def check_k(k: int) -> int:
    """`k` itself, if it is a whole number of at least `K_FLOOR`."""
    if isinstance(k, bool) or not isinstance(k, int) or k < K_FLOOR:
        raise DisclosureError(f"k must be a whole number of at least {K_FLOOR}, not {k!r}")
    return k


def safe_sum(total: int, k: int) -> bool:
    """Whether a group of `total` respondents may be known: nobody, or at least `k`."""
    return total == 0 or total >= k


@dataclass(eq=False)
class Count:
    """A count of respondents as published: its value, or None when suppressed."""

    basis: frozenset[str]
    #: Why it is suppressed: "small" (primary), "complementary", "parent", "difference".
    reason: str | None = None
    _final: bool = field(default=False, repr=False)

    @property
    def true_size(self) -> int:
        """The real number of respondents (never to be rendered when suppressed)."""
        return len(self.basis)

    @property
    def suppressed(self) -> bool:
        self._check_final()
        return self.reason is not None

    @property
    def value(self) -> int | None:
        """The number to publish; None means "fewer than k" or hidden to protect another cell."""
        self._check_final()
        return None if self.reason is not None else len(self.basis)

    def _check_final(self) -> None:
        if not self._final:
            raise DisclosureError("counts have no value before Disclosure.finalize()")


@dataclass(frozen=True)
class Quartiles:
    """First quartile, median and third quartile of at least `k` values."""

    q1: float
    median: float
    q3: float
    basis: frozenset[str]

    @property
    def n(self) -> int:
        return len(self.basis)


@dataclass(eq=False)
class Line(Generic[K]):
    """A parent group broken down into disjoint cells that make up the whole parent."""

    parent: Count
    cells: dict[K, Count]
    #: Cells that are displayed; the others (e.g. "did not mention") take part in the rules only.
    shown: frozenset[K]


class Disclosure:
    """Collects the counts of one surface and settles which may be published."""

    def __init__(self, k: int) -> None:
        self.k = check_k(k)
        self.totals: list[Count] = []
        self.lines: list[Line[object]] = []
        self._finalized = False

    # --- registering -----------------------------------------------------------------------

    def total(self, basis: Iterable[str]) -> Count:
        """A count published on its own (the number of respondents of a surface)."""
        self._check_open()
        count = Count(frozenset(basis))
        self.totals.append(count)
        return count

    def line(
        self,
        parent: Count,
        cells: Mapping[K, Iterable[str] | Count],
        *,
        shown: Iterable[K] | None = None,
    ) -> dict[K, Count]:
        """Register the breakdown of `parent` into `cells` (ids per cell). The cells must be
        disjoint and together equal the parent: a group left out would make the complement
        unprotected, so that is an error rather than a silent leak. A cell given as a `Count`
        of another line is the same published number in both lines (and obeys both)."""
        self._check_open()
        made: dict[K, Count] = {
            key: ids if isinstance(ids, Count) else Count(frozenset(ids))
            for key, ids in cells.items()
        }
        union: set[str] = set()
        for key, count in made.items():
            if union & count.basis:
                raise DisclosureError(f"cell {key!r} overlaps another cell of the same line")
            union |= count.basis
        if union != parent.basis:
            raise DisclosureError(
                "the cells of a line must together be exactly its parent group "
                f"({len(union)} ids in the cells, {len(parent.basis)} in the parent)"
            )
        keys = frozenset(made) if shown is None else frozenset(shown)
        unknown = keys - set(made)
        if unknown:
            raise DisclosureError(f"shown cells {sorted(map(repr, unknown))} are not in the line")
        self.lines.append(Line(parent, dict(made), keys))  # type: ignore[arg-type]
        return made

    def quartiles(self, values: pd.Series) -> Quartiles | None:
        """Quartiles of `values` (indexed by response id; NaN ignored), or None below k values.
        Linear interpolation between order statistics, as pandas and R's type 7."""
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        keep = np.isfinite(numeric)
        if int(keep.sum()) < self.k:
            return None
        q1, median, q3 = (float(v) for v in np.quantile(numeric[keep], [0.25, 0.5, 0.75]))
        ids = values.index.to_numpy(dtype=object)[keep]
        return Quartiles(q1, median, q3, frozenset(str(i) for i in ids))

    # --- settling --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._finalized:
            raise DisclosureError("this Disclosure is already finalized")

    def _all_counts(self) -> list[Count]:
        counts = list(self.totals)
        for line in self.lines:
            counts.extend(line.cells.values())
        return counts

    def _published(self) -> list[Count]:
        seen: dict[int, Count] = {}
        for count in self.totals:
            if count.reason is None:
                seen[id(count)] = count
        for line in self.lines:
            for key in line.shown:
                count = line.cells[key]
                if count.reason is None:
                    seen[id(count)] = count
        return list(seen.values())

    def _settle_lines(self) -> bool:
        changed = False
        for line in self.lines:
            if line.parent.reason is not None:
                for count in line.cells.values():
                    if count.reason is None:
                        count.reason = "parent"
                        changed = True
                continue
            for count in line.cells.values():
                if count.reason is None and count.true_size < self.k:
                    count.reason = "small"
                    changed = True
            # Cells never displayed are unknown to a reader, as are suppressed ones.
            for key, count in line.cells.items():
                if key not in line.shown and count.reason is None:
                    count.reason = "not shown"
                    changed = True
            while True:
                hidden = sum(c.true_size for c in line.cells.values() if c.reason is not None)
                if safe_sum(hidden, self.k):
                    break
                open_cells = [
                    (c.true_size, i, c)
                    for i, c in enumerate(line.cells.values())
                    if c.reason is None
                ]
                if not open_cells:
                    # Only possible when the parent itself is smaller than k.
                    if line.parent.reason is None:
                        line.parent.reason = "small"
                        changed = True
                    break
                open_cells.sort(key=lambda t: (t[0], t[1]))
                open_cells[0][2].reason = "complementary"
                changed = True
        return changed

    def _settle_totals(self) -> bool:
        changed = False
        for count in self.totals:
            if count.reason is None and count.true_size < self.k and count.true_size != 0:
                count.reason = "small"
                changed = True
        return changed

    def _settle_differences(self) -> bool:
        published = sorted(self._published(), key=lambda c: c.true_size)
        changed = False
        for i, small in enumerate(published):
            if small.reason is not None:
                continue
            for big in published[i + 1 :]:
                gap = big.true_size - small.true_size
                # Only a gap of 1 to k-1 can reveal anyone; sizes rule out most pairs cheaply.
                if gap >= self.k:
                    break
                if gap == 0 or big.reason is not None:
                    continue
                if small.basis <= big.basis:
                    small.reason = "difference"
                    changed = True
                    break
        return changed

    def finalize(self) -> None:
        """Apply the rules until nothing changes; afterwards counts have their values."""
        self._check_open()
        while True:
            changed = self._settle_totals()
            changed = self._settle_lines() or changed
            if not changed and not self._settle_differences():
                break
        self._finalized = True
        for count in self._all_counts():
            count._final = True

    def published_counts(self) -> list[Count]:
        """Every count a reader can see (after `finalize`)."""
        if not self._finalized:
            raise DisclosureError("call finalize() first")
        return self._published()
