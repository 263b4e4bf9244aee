"""Scale scores of a chunk of the export table, in numpy, by the rules of `analysis.scoring`.

`vakstem.analysis.scoring.scale_scores` works on a pandas frame and spends about 65 ms per
call on pandas bookkeeping (a copy, a mask and a type check per item column) whatever the
number of rows: at 2,000 responses a chunk that was most of the cost of the scores, and 3 s of
an export of 100,000. `ChunkScorer` does the same arithmetic on plain float arrays: missing
choices (*weet ik niet*) become NaN, reverse-keyed items `min + max - x`, a score the mean (or
sum) of the answered items when at least `required_answered` of them are, adding the items in
the scale's order as pandas does (so the scores are the same to the last bit; a test compares
them). Whatever the fast path does not handle (a code outside its choice list, a scale the
study declares badly) goes to `scale_scores` itself, which raises its own error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from vakstem.analysis.scoring import (
    NUMERIC_TYPES,
    item_bounds,
    required_answered,
    scale_scores,
)
from vakstem.instrument.schema import Study

Array = np.ndarray[Any, Any]


class ChunkScorer:
    """Scores every scale of `study` for chunks of item columns (float, NaN when empty)."""

    def __init__(self, study: Study) -> None:
        self.study = study
        owner = {var: item for _p, item in study.items() for var in item.variables()}
        #: Per choice-coded variable: every code of its list, and the missing ones.
        self._codes: dict[str, tuple[Array, Array]] = {}
        for var, item in owner.items():
            choices = study.choices_of(item)
            if item.type in NUMERIC_TYPES and choices:
                self._codes[var] = (
                    np.array(sorted({float(c.code) for c in choices})),
                    np.array([float(c.code) for c in choices if c.missing]),
                )
        bounds = item_bounds(study)
        #: Per scale: its id, its items with (low + high) for reverse-keyed ones, the number
        #: of answered items required, whether it sums; None when a scale is declared in a
        #: way only `scale_scores` reports on.
        self._scales: list[tuple[str, list[tuple[str, float | None]], int, bool]] | None = []
        for scale in study.scales:
            reverse = set(scale.reverse)
            if not scale.items or not reverse <= set(scale.items) or not reverse <= set(bounds):
                self._scales = None
                break
            items = [(v, sum(bounds[v]) if v in reverse else None) for v in scale.items]
            self._scales.append((scale.id, items, required_answered(scale), scale.scoring == "sum"))

    def variables(self) -> list[str]:
        """The item variables the scores need, sorted."""
        return sorted({v for scale in self.study.scales for v in scale.items})

    def scores(self, columns: Mapping[str, Array]) -> dict[str, Array]:
        """Scale id → scores (NaN where too few items are answered) of one chunk."""
        clean = self._numeric(columns)
        if clean is None or self._scales is None:
            frame = pd.DataFrame(dict(columns), copy=False)
            scores = scale_scores(self.study, frame)
            return {s.id: scores[s.id].to_numpy(dtype="float64") for s in self.study.scales}
        out: dict[str, Array] = {}
        for scale_id, items, required, is_sum in self._scales:
            total: Array | None = None
            answered: Array | None = None
            for variable, reverse_sum in items:
                x = clean[variable]
                if reverse_sum is not None:
                    x = reverse_sum - x
                present = ~np.isnan(x)
                value = np.where(present, x, 0.0)
                # Left to right, one item at a time: the order pandas adds a row's items in.
                total = value if total is None else total + value
                answered = present.astype(np.int64) if answered is None else answered + present
            assert total is not None and answered is not None
            with np.errstate(invalid="ignore", divide="ignore"):
                score = total if is_sum else total / answered
            out[scale_id] = np.where(answered >= required, score, np.nan)
        return out

    def _numeric(self, columns: Mapping[str, Array]) -> dict[str, Array] | None:
        """The columns with missing choices as NaN; None when a column holds a code its
        choice list lacks (`scale_scores` names it in its error)."""
        clean: dict[str, Array] = {}
        for variable, values in columns.items():
            codes = self._codes.get(variable)
            if codes is not None:
                known, missing = codes
                present = values[~np.isnan(values)]
                if not np.isin(present, known).all():
                    return None
                if missing.size:
                    values = np.where(np.isin(values, missing), np.nan, values)
            clean[variable] = values
        return clean
