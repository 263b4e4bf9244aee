"""Quality flags as export columns: speeder, straightliner and duplicate, per completed response,
and the bot flags the respondent flow stored (`vakstem.service.bots`), per response.

The rules are the fieldwork dashboard's (`vakstem.service.dashboard`), applied while streaming:
the median duration comes from one query before the rows, straightlining is a property of one
response, and a duplicate is a completed response whose answers equal those of an earlier one
(in order of starting time, the export's order), so only a hash per completed response is kept.
"""

from __future__ import annotations

import hashlib
import marshal
import statistics
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from vakstem.export.table import ResponseRecord
from vakstem.instrument.schema import Study
from vakstem.service.dashboard import (
    DUPLICATE_MIN_ANSWERED,
    SPEEDER_FRACTION,
    STRAIGHTLINE_MIN_ITEMS,
    answer_blocks,
)

#: Stands in for a block's values that cannot be put in a set, so that the exact rule decides.
_UNHASHABLE = object()

#: The flag columns, after the metadata columns, in this order.
FLAG_COLUMNS = (
    "flag_speeder",
    "flag_straightliner",
    "flag_duplicate",
    "flag_honeypot",
    "flag_too_fast",
)


class QualityFlagger:
    """Flags responses one at a time; feed them in order of starting time."""

    def __init__(self, study: Study, completed_durations: Iterable[float]) -> None:
        durations = list(completed_durations)
        self.median = float(statistics.median(durations)) if durations else None
        self.blocks = answer_blocks(study)
        missing_of_list = {
            name: frozenset(c.code for c in choices if c.missing)
            for name, choices in study.choice_lists.items()
        }
        # Per variable, the codes that are a substantive non-answer (weet ik niet).
        self._dont_know: dict[str, frozenset[int]] = {
            v: missing_of_list.get(item.choices, frozenset())
            for _p, item in study.items()
            if item.choices
            for v in item.variables()
        }
        #: Each block's variables with their don't-know codes (an empty set for variables
        #: without a choice list), paired once instead of looked up per response.
        self._block_codes = [
            (tuple(block), tuple(self._dont_know.get(v, frozenset()) for v in block))
            for block in self.blocks
        ]
        self._seen: set[bytes] = set()
        #: Every variable of the study as None: a response's answers merged onto it and read
        #: in this one order compare as its sorted answers would, in C (`_duplicate`).
        self._blank = dict.fromkeys(study.variables())
        self._pick = itemgetter(*self._blank) if len(self._blank) > 1 else None
        #: Per block: its variables read in one call, and the codes that do not count.
        self._block_pickers = [
            (itemgetter(*block), frozenset(c for codes in dont_know for c in codes))
            for block, dont_know in self._block_codes
        ]

    def flags(self, record: ResponseRecord) -> dict[str, int]:
        # The record's own flags are those stored while answering (honeypot, too fast).
        stored = dict(record.flags)
        if record.status != "completed":
            return stored
        answers = record.answers
        merged = self._merged(answers)
        return {
            **stored,
            "flag_speeder": int(self._speeder(record)),
            "flag_straightliner": int(self._straightliner(answers, merged)),
            "flag_duplicate": int(self._duplicate(answers, merged)),
        }

    def _speeder(self, record: ResponseRecord) -> bool:
        if self.median is None or record.started_at is None or record.completed_at is None:
            return False
        duration = (record.completed_at - record.started_at).total_seconds()
        return duration < self.median * SPEEDER_FRACTION

    def _straightliner(self, answers: Any, merged: dict[str, Any] | None) -> bool:
        if merged is None:
            return self._straightliner_exact(answers)
        for (pick, skip), (block, dont_know) in zip(
            self._block_pickers, self._block_codes, strict=True
        ):
            try:
                distinct = set(pick(merged))
            except TypeError:  # a list where a code belongs: the exact rule decides
                distinct = {None, *skip, _UNHASHABLE}
            distinct.discard(None)
            distinct -= skip
            # Two different values (by ==) never share a repr, so only a block with one
            # value left, by ==, needs the exact rule (which keeps 1 and 1.0 apart).
            if len(distinct) == 1 and self._block_is_straight(answers.get, block, dont_know):
                return True
        return False

    def _straightliner_exact(self, answers: Any) -> bool:
        get = answers.get
        return any(
            self._block_is_straight(get, block, dont_know) for block, dont_know in self._block_codes
        )

    @staticmethod
    def _block_is_straight(
        get: Any, block: tuple[str, ...], dont_know: tuple[frozenset[int], ...]
    ) -> bool:
        values = [
            x
            for v, codes in zip(block, dont_know, strict=True)
            if (x := get(v)) is not None and x not in codes
        ]
        # Zero variance over a whole block; a block mostly skipped says nothing.
        return len(values) >= STRAIGHTLINE_MIN_ITEMS and len(set(map(repr, values))) == 1

    def _merged(self, answers: Any) -> dict[str, Any] | None:
        """`answers` over every variable of the study, None where unanswered; None when the
        answers hold a variable the study does not have (another version's) that is not
        empty."""
        blank = self._blank
        merged = blank | (answers if type(answers) is dict else dict(answers))
        if len(merged) == len(blank):
            return merged
        merged = blank | {k: v for k, v in answers.items() if v is not None and v != ""}
        return merged if len(merged) == len(blank) else None

    def _duplicate(self, answers: Any, merged: dict[str, Any] | None) -> bool:
        # The dashboard's equality (same variables answered, each value's repr equal) as one
        # hash: marshal keeps 1, 1.0 and True apart as repr does, and costs a fraction of a
        # repr per answer. Version 2 writes no back-references, so equal answer sets give
        # equal bytes whatever objects they share.
        if merged is None or self._pick is None:
            return self._remember(self._sorted_answers(answers))
        # Every variable in one order, None where empty: equal tuples are equal answer sets
        # (a response with an answer outside them went by `_sorted_answers`, so it can equal
        # no response that did not).
        values = self._pick(merged)
        empty = values.count(None) + values.count("")
        if len(values) - empty < DUPLICATE_MIN_ANSWERED:
            return False
        if "" in values:
            values = tuple(None if type(v) is str and v == "" else v for v in values)
        return self._remember(marshal.dumps(values, 2))

    def _sorted_answers(self, answers: Any) -> bytes | None:
        # Keys are sorted alone (a sort of pairs compares tuples, several times slower); the
        # b prefix keeps these apart from the tuples of `_duplicate`.
        keys = sorted(answers)
        values = answers.values()
        if None in values or "" in values:
            keys = [k for k in keys if (v := answers[k]) is not None and v != ""]
        if len(keys) < DUPLICATE_MIN_ANSWERED:
            return None
        return b"b" + marshal.dumps((keys, list(map(answers.__getitem__, keys))), 2)

    def _remember(self, packed: bytes | None) -> bool:
        """Whether these packed answers were seen before (and remember them if not)."""
        if packed is None:
            return False
        key = hashlib.blake2b(packed, digest_size=16).digest()
        if key in self._seen:
            return True
        self._seen.add(key)
        return False
