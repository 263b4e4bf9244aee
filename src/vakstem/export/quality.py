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
from typing import Any

from vakstem.export.table import ResponseRecord
from vakstem.instrument.schema import Study
from vakstem.service.dashboard import (
    DUPLICATE_MIN_ANSWERED,
    SPEEDER_FRACTION,
    STRAIGHTLINE_MIN_ITEMS,
    answer_blocks,
)

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
        #: Each block's variables with their don't-know codes (an empty tuple for variables
        #: without a choice list), paired once instead of looked up per response.
        self._block_codes = [
            (tuple(block), tuple(self._dont_know.get(v, ()) for v in block))
            for block in self.blocks
        ]
        self._seen: set[bytes] = set()

    def flags(self, record: ResponseRecord) -> dict[str, int]:
        # The record's own flags are those stored while answering (honeypot, too fast).
        stored = dict(record.flags)
        if record.status != "completed":
            return stored
        return {
            **stored,
            "flag_speeder": int(self._speeder(record)),
            "flag_straightliner": int(self._straightliner(record.answers)),
            "flag_duplicate": int(self._duplicate(record.answers)),
        }

    def _speeder(self, record: ResponseRecord) -> bool:
        if self.median is None or record.started_at is None or record.completed_at is None:
            return False
        duration = (record.completed_at - record.started_at).total_seconds()
        return duration < self.median * SPEEDER_FRACTION

    def _straightliner(self, answers: Any) -> bool:
        get = answers.get
        for block, dont_know in self._block_codes:
            values = [
                x
                for v, codes in zip(block, dont_know, strict=True)
                if (x := get(v)) is not None and x not in codes
            ]
            # Zero variance over a whole block; a block mostly skipped says nothing.
            if len(values) >= STRAIGHTLINE_MIN_ITEMS and len(set(map(repr, values))) == 1:
                return True
        return False

    def _duplicate(self, answers: Any) -> bool:
        # The dashboard's equality (same variables answered, each value's repr equal) as one
        # hash: marshal keeps 1, 1.0 and True apart as repr does, and costs a fraction of a
        # repr per answer. Version 2 writes no back-references, so equal answer sets give
        # equal bytes whatever objects they share. Keys are sorted alone (a sort of pairs
        # compares tuples, several times slower).
        keys = sorted(answers)
        values = answers.values()
        if None in values or "" in values:
            keys = [k for k in keys if (v := answers[k]) is not None and v != ""]
        if len(keys) < DUPLICATE_MIN_ANSWERED:
            return False
        packed = marshal.dumps((keys, list(map(answers.__getitem__, keys))), 2)
        key = hashlib.blake2b(packed, digest_size=16).digest()
        if key in self._seen:
            return True
        self._seen.add(key)
        return False
