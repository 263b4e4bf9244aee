"""Stata .dta: variable and value labels, missing codes as extended missing values .a .b .c .d.

Stata has no user-missing values; its extended missing values (.a–.z) are missing in every
analysis yet stay apart, and carry their own value labels ("niet beantwoord", …).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyreadstat

from vakstem.export.formats import TableData
from vakstem.export.formats._frame import DEFAULT_CONVERTERS, Converter, gather_frame
from vakstem.export.missing import MissingCodes
from vakstem.export.table import Cell, Column

#: Stata's limit on a variable label.
MAX_LABEL = 80


def _lettered(codes: MissingCodes) -> Converter:
    letters = {code: codes.stata_letter(code) for code in codes.all()}

    def convert(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
        out = np.empty(len(cells), dtype=object)
        # Small ints and one-letter strings are shared objects in CPython, so this object
        # column costs about one pointer a cell.
        out[:] = [
            letters.get(c, c) if isinstance(c, int) else (np.nan if c is None else c) for c in cells
        ]
        return out

    return convert


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


class DtaWriter:
    suffix = ".dta"
    media_type = "application/x-stata-dta"

    def write(self, data: TableData, path: Path) -> list[Path]:
        layout = data.layout
        codes = layout.codes
        lettered = _lettered(codes)

        def converter(col: Column) -> Converter:
            return lettered if col.has_missing_codes else DEFAULT_CONVERTERS[col.kind]

        frame = gather_frame(data, converter)
        value_labels: dict[str, dict[Any, str]] = {}
        for c in layout.columns:
            if not c.value_labels:
                continue
            value_labels[c.name] = {
                (codes.stata_letter(k) if k in codes.all() and c.has_missing_codes else k): v
                for k, v in c.value_labels.items()
            }
        letters = sorted(codes.stata_letter(k) for k in codes.all())
        pyreadstat.write_dta(
            frame,
            str(path),
            file_label=_short(layout.study.id),
            column_labels={c.name: _short(c.label) for c in layout.columns},
            variable_value_labels=value_labels,
            missing_user_values={c.name: letters for c in layout.columns if c.has_missing_codes},
        )
        return []


WRITER = DtaWriter()
