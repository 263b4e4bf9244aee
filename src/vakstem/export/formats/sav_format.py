"""SPSS .sav: variable labels, value labels, user-missing codes, measurement level, widths.

Missing codes are real values in the file declared user-missing, so SPSS shows their labels and
leaves them out of analyses, and `pyreadstat.read_sav(..., user_missing=True)` gets them back.

The file is streamed: memory holds one chunk of rows, whatever the number of responses.
pyreadstat (ReadStat) writes the dictionary, every header record, from a frame of one row whose
text columns have their final widths; the rows are then appended by this module as the
uncompressed data records of the SPSS system file format, and the case count patched. The
widths are only known once every row has been seen, so the chunks are first converted to their
column arrays and spooled to a temporary file beside the output (`_spool.ArraySpool`), their
widths noted on the way, and read back one chunk at a time. The file equals, byte for byte apart
from the creation time, what `pyreadstat.write_sav` writes from the whole table as one frame.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyreadstat

from vakstem.export.formats import TableData
from vakstem.export.formats._frame import datetime_column, float_column
from vakstem.export.formats._spool import ArraySpool
from vakstem.export.missing import ExportError, MissingCodes
from vakstem.export.table import Cell, Column, Kind, TableLayout

#: SPSS's system-missing value, -DBL_MAX (what ReadStat writes for an empty number).
SYSMIS = -np.finfo(np.float64).max
#: Seconds and days from SPSS's epoch, 14 October 1582, to 1 January 1970.
EPOCH_SECONDS = 12_219_379_200
EPOCH_DAYS = 141_428
#: A string wider than this is a "very long string", stored in segments of 256 bytes that each
#: hold 255 bytes of text; a new segment is declared for every 252 bytes of width.
MAX_SHORT_STRING = 255
SEGMENT_TEXT = 255
SEGMENT_STORAGE = 256
SEGMENT_WIDTH = 252
#: Byte offsets in the file header (record type "$FL2"): layout code, nominal case size (the
#: row's 8-byte units) and the case count, an int32.
_LAYOUT_CODE_AT = 64
_CASE_SIZE_AT = 68
_CASES_AT = 80
#: The last two dictionary records as ReadStat writes them: the number-of-cases record (type
#: 7, subtype 16: 8-byte elements, two of them: 1 and the case count) and the termination
#: record 999 with its filler. Data starts right after.
_CASES_RECORD = struct.Struct("<iiiiqq")
_TERMINATION = struct.Struct("<ii")


def missing_ranges(codes: MissingCodes) -> list[Any]:
    """SPSS holds at most three single values, or one range plus one single value."""
    values = sorted(codes.all())
    if values[-1] - values[0] == len(values) - 1:
        return [{"lo": float(values[0]), "hi": float(values[-1])}]
    for lone in range(len(values)):
        rest = values[:lone] + values[lone + 1 :]
        if rest[-1] - rest[0] == len(rest) - 1:
            return [{"lo": float(rest[0]), "hi": float(rest[-1])}, float(values[lone])]
    raise ExportError(
        f"SPSS cannot declare the missing codes {values} as missing: it takes one range plus "
        "one single value; declare consecutive codes in analysis.settings.missing_codes"
    )


def _format(kind: Kind, labels: dict[int, str] | None) -> str | None:
    if kind is Kind.CODE:
        digits = max((len(str(k)) for k in labels or {0: ""}), default=1)
        return f"F{max(digits, 2)}.0"
    if kind is Kind.INTEGER:
        return "F8.0"
    return None


def sav_options(layout: TableLayout) -> dict[str, Any]:
    """The dictionary of the file as `pyreadstat.write_sav` keywords: labels, value labels,
    user-missing ranges, measure, display width and formats."""
    ranges = missing_ranges(layout.codes)
    formats = {}
    for c in layout.columns:
        fmt = _format(c.kind, dict(c.value_labels))
        if fmt:
            formats[c.name] = fmt
    return {
        "file_label": layout.study.id,
        "column_labels": {c.name: c.label[:256] for c in layout.columns},
        "variable_value_labels": {
            c.name: {float(k): v for k, v in c.value_labels.items()}
            for c in layout.columns
            if c.value_labels
        },
        "missing_ranges": {c.name: ranges for c in layout.columns if c.has_missing_codes},
        "variable_measure": {c.name: c.measure.value for c in layout.columns},
        "variable_display_width": {c.name: c.width for c in layout.columns},
        "variable_format": formats,
    }


# --- cells to the values stored in the file, one column of one chunk at a time ----------------


def _numbers(col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    values = float_column(col, cells)
    return np.where(np.isnan(values), SYSMIS, values)


def _times(col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    # Seconds since 1582 as pyreadstat computes them from microseconds: whole seconds and the
    # fraction converted apart and added, so the doubles are the same to the last bit.
    micros = datetime_column(col, cells).view(np.int64)
    whole = (micros // 1_000_000 + EPOCH_SECONDS).astype(np.float64)
    seconds = whole + (micros % 1_000_000).astype(np.float64) / 1_000_000
    return np.where(micros == np.iinfo(np.int64).min, SYSMIS, seconds)


def _dates(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    days = np.array(
        [c if isinstance(c, dt.date) else None for c in cells], dtype="datetime64[D]"
    ).view(np.int64)
    seconds = (days.astype(np.float64) + EPOCH_DAYS) * 86400
    return np.where(days == np.iinfo(np.int64).min, SYSMIS, seconds)


def _texts(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    # Fixed-width bytes as wide as this chunk's longest text (UTF-8); widened when written.
    return np.array([b"" if c is None else str(c).encode("utf-8") for c in cells], dtype="S")


_CONVERT = {
    Kind.STRING: _texts,
    Kind.CODE: _numbers,
    Kind.INTEGER: _numbers,
    Kind.DECIMAL: _numbers,
    Kind.DATE: _dates,
    Kind.DATETIME: _times,
}


def storage_width(width: int) -> int:
    """Bytes a string variable of `width` bytes takes in a row (ReadStat's layout)."""
    if width <= MAX_SHORT_STRING:
        return (max(width, 1) + 7) // 8 * 8
    segments = (width + SEGMENT_WIDTH - 1) // SEGMENT_WIDTH
    last = width - (segments - 1) * SEGMENT_WIDTH
    return (segments - 1) * SEGMENT_STORAGE + (last + 7) // 8 * 8


class _Table:
    """What the spooling pass learns about each column: the widest text, whether a date column
    holds any date. Both decide the dictionary, as pyreadstat decides it from a whole frame."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = columns
        # pyreadstat gives a text column at least one byte, and counts value label keys.
        self.widths = [
            max([1, *(len(str(k)) for k in c.value_labels)]) if c.kind is Kind.STRING else 0
            for c in columns
        ]
        self.has_value = [False] * len(columns)

    def convert(self, chunk: Sequence[Sequence[Cell]]) -> list[np.ndarray[Any, Any]]:
        arrays = []
        for i, cells in enumerate(chunk):
            col = self.columns[i]
            array = _CONVERT[col.kind](col, cells)
            if col.kind is Kind.STRING:
                self.widths[i] = max(self.widths[i], array.dtype.itemsize)
            elif col.kind is Kind.DATE and not self.has_value[i]:
                self.has_value[i] = bool((array != SYSMIS).any())
            arrays.append(array)
        return arrays

    def is_text(self, i: int) -> bool:
        # A date column without a single date is a one-byte text column in pyreadstat's frame
        # (an object column of None only): written as blanks.
        kind = self.columns[i].kind
        return kind is Kind.STRING or (kind is Kind.DATE and not self.has_value[i])

    def width(self, i: int) -> int:
        return self.widths[i] if self.columns[i].kind is Kind.STRING else 1

    def storage(self, i: int) -> int:
        return storage_width(self.width(i)) if self.is_text(i) else 8

    def header_frame(self) -> pd.DataFrame:
        """One row with every text at its final width: pyreadstat writes the same dictionary
        from it as from the whole table."""
        arrays: dict[str, Any] = {}
        for i, col in enumerate(self.columns):
            if col.kind is Kind.STRING:
                arrays[col.name] = pd.array(["x" * self.widths[i]], dtype="str")
            elif col.kind is Kind.DATETIME:
                arrays[col.name] = np.array(["NaT"], dtype="datetime64[us]")
            elif col.kind is Kind.DATE:
                one = np.empty(1, dtype=object)
                one[0] = dt.date(2000, 1, 1) if self.has_value[i] else None
                arrays[col.name] = one
            else:
                arrays[col.name] = np.zeros(1, dtype=np.float64)
        return pd.DataFrame(arrays, copy=False)


def _records(
    table: _Table, arrays: list[np.ndarray[Any, Any]], row_len: int
) -> np.ndarray[Any, Any]:
    """The data records of one chunk: a row of `row_len` bytes per response, built a column at
    a time (numbers as little-endian doubles, text space-padded)."""
    n = len(arrays[0]) if arrays else 0
    out = np.full((n, row_len), ord(" "), dtype=np.uint8)
    offset = 0
    for i, array in enumerate(arrays):
        if not table.is_text(i):
            out[:, offset : offset + 8] = (
                array.astype("<f8", copy=False).view(np.uint8).reshape(n, 8)
            )
        elif table.columns[i].kind is Kind.STRING:
            width = table.widths[i]
            text = array.astype(f"S{width}").view(np.uint8).reshape(n, width)
            # ReadStat copies a C string: a text ends at its first NUL byte, the rest is blank.
            text[np.logical_or.accumulate(text == 0, axis=1)] = ord(" ")
            for segment, start in enumerate(range(0, width, SEGMENT_TEXT)):
                piece = text[:, start : start + SEGMENT_TEXT]
                at = offset + segment * SEGMENT_STORAGE
                out[:, at : at + piece.shape[1]] = piece
        offset += table.storage(i)
    return out


def _dictionary_end(fh: IO[bytes], row_len: int, size: int) -> int:
    """Where the data of pyreadstat's one-row file starts, after checking that the records
    around it are where this module patches them."""
    start = size - row_len
    fh.seek(0)
    head = fh.read(_CASES_AT + 4)
    fh.seek(start - _TERMINATION.size - _CASES_RECORD.size)
    tail = fh.read(_TERMINATION.size + _CASES_RECORD.size)
    expected = (
        head[:4] == b"$FL2"
        and struct.unpack_from("<i", head, _LAYOUT_CODE_AT)[0] == 2
        and struct.unpack_from("<i", head, _CASE_SIZE_AT)[0] == row_len // 8
        and struct.unpack_from("<i", head, _CASES_AT)[0] == 1
        and _CASES_RECORD.unpack_from(tail) == (7, 16, 8, 2, 1, 1)
        and _TERMINATION.unpack_from(tail, _CASES_RECORD.size) == (999, 0)
    )
    if not expected:
        raise RuntimeError("pyreadstat wrote a .sav dictionary this writer does not know")
    return start


class SavWriter:
    suffix = ".sav"
    media_type = "application/x-spss-sav"

    def write(self, data: TableData, path: Path) -> list[Path]:
        layout = data.layout
        options = sav_options(layout)  # refuses missing codes SPSS cannot hold, before reading
        table = _Table(layout.columns)
        with ArraySpool(path.parent) as spool:
            rows = spool.add_table(data, table.convert)
            if rows > np.iinfo(np.int32).max:
                raise ExportError(f"SPSS holds at most {np.iinfo(np.int32).max} cases")
            pyreadstat.write_sav(table.header_frame(), str(path), **options)
            row_len = sum(table.storage(i) for i in range(len(layout.columns)))
            with path.open("r+b") as fh:
                start = _dictionary_end(fh, row_len, path.stat().st_size)
                fh.truncate(start)
                fh.seek(start)
                for arrays in spool.read(len(layout.columns)):
                    fh.write(_records(table, arrays, row_len).data)
                fh.seek(_CASES_AT)
                fh.write(struct.pack("<i", rows))
                fh.seek(start - _TERMINATION.size - 8)
                fh.write(struct.pack("<q", rows))
        return []


WRITER = SavWriter()
