"""Cells of one column as numpy arrays, and all rows gathered into one pandas DataFrame.

The converters are used by the streamed .sav and .dta writers chunk by chunk. `gather_frame`
holds the whole table in memory as compact columns (numbers as float64, 8 bytes a cell, ~120 MB
for 100,000 responses × 150 variables; text in Arrow string buffers; dates as objects): it is
what those writers handed to pyreadstat before they streamed, kept as the reference their
files are tested against.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from vakstem.export.formats import TableData
from vakstem.export.table import Cell, Column, Kind, columns_of

#: Turns one column's cells of one chunk into an array (the format decides, e.g. Stata letters).
Converter = Callable[[Column, Sequence[Cell]], Any]


def float_column(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    try:
        # numpy turns None into NaN itself, converting the whole list in C.
        return np.array(cells, dtype=np.float64)
    except (TypeError, ValueError):
        return np.fromiter(
            (np.nan if c is None else c for c in cells), dtype=np.float64, count=len(cells)
        )


def object_column(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    out = np.empty(len(cells), dtype=object)
    out[:] = cells
    return out


def string_column(_col: Column, cells: Sequence[Cell]) -> Any:
    # Text goes into Arrow buffers chunk by chunk, so the chunk's Python strings are freed at
    # once instead of living (and fragmenting memory) until the whole table is gathered.
    return pa.array(["" if c is None else c for c in cells], type=pa.string())


def datetime_column(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    # None becomes NaT; the table's times are naive UTC datetimes.
    return np.array(list(cells), dtype="datetime64[us]")


def date_column(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    out = np.empty(len(cells), dtype=object)
    out[:] = [c if isinstance(c, dt.date) else None for c in cells]
    return out


DEFAULT_CONVERTERS: dict[Kind, Converter] = {
    Kind.STRING: string_column,
    Kind.CODE: float_column,
    Kind.INTEGER: float_column,
    Kind.DECIMAL: float_column,
    Kind.DATE: date_column,
    Kind.DATETIME: datetime_column,
}


class _Filler:
    """One numpy column allocated whole (from the expected row count) and filled chunk by
    chunk: one large allocation instead of many small pieces interleaved with each chunk's
    short-lived objects, which left the heap fragmented and the process twice as large."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.array: np.ndarray[Any, Any] | None = None
        self.rows = 0

    def add(self, piece: np.ndarray[Any, Any]) -> None:
        n = len(piece)
        if self.array is None:
            self.array = np.empty(max(self.size, n), dtype=piece.dtype)
        elif self.rows + n > len(self.array):
            # More rows than counted: grow (cannot happen inside one snapshot, but is safe).
            extra = np.empty(max(n, len(self.array) // 2), dtype=self.array.dtype)
            self.array = np.concatenate([self.array, extra])
        self.array[self.rows : self.rows + n] = piece
        self.rows += n

    def result(self) -> np.ndarray[Any, Any]:
        assert self.array is not None
        return self.array[: self.rows] if self.rows < len(self.array) else self.array


def gather_frame(
    data: TableData, converter: Callable[[Column], Converter] | None = None
) -> pd.DataFrame:
    """All rows of `data` as a DataFrame, built chunk by chunk without a row-wise copy."""
    columns = data.layout.columns
    convert = [
        converter(c) if converter is not None else DEFAULT_CONVERTERS[c.kind] for c in columns
    ]
    size = data.total or 0
    fillers = [_Filler(size) for _ in columns]
    texts: list[list[Any]] = [[] for _ in columns]
    for chunk in data.chunks:
        if not chunk:
            continue
        for i, cells in enumerate(columns_of(chunk)):
            piece = convert[i](columns[i], cells)
            if isinstance(piece, pa.Array):
                texts[i].append(piece)
            else:
                fillers[i].add(piece)
        data.advance(len(chunk))
    arrays: dict[str, Any] = {}
    for i, col in enumerate(columns):
        if texts[i]:
            arrays[col.name] = pd.array(pa.chunked_array(texts[i]), dtype="str")
            texts[i] = []
        elif fillers[i].array is not None:
            arrays[col.name] = fillers[i].result()
        else:
            empty = convert[i](col, ())
            arrays[col.name] = (
                pd.array(empty, dtype="str") if isinstance(empty, pa.Array) else empty
            )
    return pd.DataFrame(arrays, copy=False)
