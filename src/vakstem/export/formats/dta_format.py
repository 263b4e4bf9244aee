"""Stata .dta: variable and value labels, missing codes as extended missing values .a .b .c .d.

Stata has no user-missing values; its extended missing values (.a–.z) are missing in every
analysis yet stay apart, and carry their own value labels ("niet beantwoord", …).

The file is streamed (format 119, as pyreadstat writes it): memory holds one chunk of rows.
pyreadstat (ReadStat) writes the header, the variable descriptors and the value labels from a
frame of one row whose columns have their final storage types (text widths, long or double for
coded columns: pyreadstat decides from the values, so the chunks are first spooled to a
temporary file while those facts are noted, as for .sav). Its one row is replaced by the rows,
built column-wise in numpy; a text of 2,045 bytes or more makes its column a strL, whose texts
are written as GSO records after the data (spooled to a second temporary file on the way); the
value labels follow unchanged, and the header's row count and section offsets (<map>) are
patched. A strL text repeated within a chunk, and the empty text anywhere, is stored once and
referenced, as pyreadstat does; a text repeated in two chunks is stored twice, where pyreadstat
stores it once (it keeps every distinct text in memory to do so). The file reads back the same.
"""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyreadstat

from vakstem.export.formats import TableData
from vakstem.export.formats._frame import datetime_column, float_column
from vakstem.export.formats._spool import ArraySpool
from vakstem.export.table import Cell, Column, Kind, TableLayout

#: Stata's limit on a variable label.
MAX_LABEL = 80
#: A text this long (UTF-8 bytes) makes pyreadstat store its whole column as strLs.
STRL_WIDTH = 2045
#: Seconds and days from Stata's epoch, 1 January 1960, to 1 January 1970.
EPOCH_SECONDS = 315_619_200
EPOCH_DAYS = 3653
#: Stata's missing values as ReadStat writes them: "." and ".a" for doubles and longs; the
#: letters .a–.z follow one another (doubles in steps of 2**40 in their bit pattern).
MISSING_DOUBLE = 0x7FE0_0000_0000_0000
MISSING_DOUBLE_A = MISSING_DOUBLE + 0x0100_0000_0000
MISSING_LONG = 0x7FFF_FFE5
#: Type codes of the variables (format 117 and later).
DOUBLE, LONG, STRL = 65526, 65528, 32768
#: A strL's text in the <strls> section: "GSO", v (uint32), o (uint64), type 130 (the text
#: with its terminating NUL), length.
_GSO = struct.Struct("<3sIQBI")
GSO_TEXT = 130


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def dta_options(layout: TableLayout) -> dict[str, Any]:
    """The file's labels and missing values as `pyreadstat.write_dta` keywords."""
    codes = layout.codes
    value_labels: dict[str, dict[Any, str]] = {}
    for c in layout.columns:
        if not c.value_labels:
            continue
        value_labels[c.name] = {
            (codes.stata_letter(k) if k in codes.all() and c.has_missing_codes else k): v
            for k, v in c.value_labels.items()
        }
    letters = sorted(codes.stata_letter(k) for k in codes.all())
    return {
        "file_label": _short(layout.study.id),
        "column_labels": {c.name: _short(c.label) for c in layout.columns},
        "variable_value_labels": value_labels,
        "missing_user_values": {c.name: letters for c in layout.columns if c.has_missing_codes},
    }


_NUMBERS = (Kind.CODE, Kind.INTEGER, Kind.DECIMAL)


class _Column:
    """One column's conversion and what the spooling pass learns about it: the widest text
    (strings), whether any date is there (dates), which Python types its numbers have (coded
    columns: only whole numbers make a long, as pyreadstat decides)."""

    def __init__(self, col: Column, letters: dict[int, int]) -> None:
        self.col = col
        self.letters = letters if col.has_missing_codes else {}
        self.width = 1
        self.has_value = False
        self.number_types: set[type] = set()

    def convert(self, cells: Sequence[Cell]) -> list[np.ndarray[Any, Any]]:
        kind = self.col.kind
        if kind is Kind.STRING:
            text = np.array(
                [b"" if c is None else str(c).encode("utf-8") for c in cells], dtype="S"
            )
            self.width = max(self.width, text.dtype.itemsize)
            return [text]
        if kind is Kind.DATETIME:
            return [_times(self.col, cells)]
        if kind is Kind.DATE:
            days = _days(cells)
            self.has_value = self.has_value or bool((~np.isnan(days)).any())
            return [days]
        values = float_column(self.col, cells)
        if self.arrays == 1:
            return [values]
        # Letter numbers 1.. for the missing codes (0: a value, or None for system missing); a
        # code is lettered only when it is an int, as the whole-frame writer did.
        tags = np.fromiter(
            (self.letters.get(c, 0) if isinstance(c, int) else 0 for c in cells),
            dtype=np.int8,
            count=len(cells),
        )
        self.number_types.update(
            type(c)
            for c, t in zip(cells, tags.tolist(), strict=True)
            if c is not None and not t and c == c  # NaN is missing, as None
        )
        return [values, tags]

    @property
    def arrays(self) -> int:
        """How many arrays `convert` gives: values and letters for a coded number column."""
        return 2 if self.letters and self.col.kind in _NUMBERS else 1

    @property
    def is_strl(self) -> bool:
        return self.col.kind is Kind.STRING and self.width >= STRL_WIDTH

    @property
    def is_long(self) -> bool:
        # pyreadstat makes a long of an object column whose values (missing ones aside) are all
        # Python ints; all missing, or any float, gives a double. (A mix of ints and floats
        # would become text in pyreadstat; the table never mixes them in a coded column.)
        return self.arrays == 2 and self.number_types == {int}

    @property
    def is_text(self) -> bool:
        # A date column without a single date is a one-byte text column in pyreadstat's frame.
        kind = self.col.kind
        return kind is Kind.STRING or (kind is Kind.DATE and not self.has_value)

    @property
    def storage(self) -> int:
        if self.is_strl:
            return 8
        if self.is_text:
            return self.width
        return 4 if self.is_long else 8

    def header_cell(self) -> Any:
        """One row of this column from which pyreadstat infers the same storage type."""
        kind = self.col.kind
        if kind is Kind.STRING:
            return pd.array(["x" * self.width], dtype="str")
        if kind is Kind.DATETIME:
            return np.array(["NaT"], dtype="datetime64[us]")
        one = np.empty(1, dtype=object)
        if kind is Kind.DATE:
            one[0] = dt.date(2000, 1, 1) if self.has_value else None
            return one
        if self.arrays == 1:
            return np.zeros(1, dtype=np.float64)
        one[0] = 1 if self.is_long else (1.0 if self.number_types else "a")
        return one


def _times(col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    # Milliseconds since 1960 as pyreadstat computes them from microseconds (whole seconds and
    # the fraction apart), so the doubles are the same to the last bit; NaT stays NaN.
    micros = datetime_column(col, cells).view(np.int64)
    whole = (micros // 1_000_000 + EPOCH_SECONDS).astype(np.float64) * 1000
    millis = whole + (micros % 1_000_000).astype(np.float64) / 1_000_000 * 1000
    return np.where(micros == np.iinfo(np.int64).min, np.nan, millis)


def _days(cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
    days = np.array(
        [c if isinstance(c, dt.date) else None for c in cells], dtype="datetime64[D]"
    ).view(np.int64)
    return np.where(days == np.iinfo(np.int64).min, np.nan, days.astype(np.float64) + EPOCH_DAYS)


def _doubles(values: np.ndarray[Any, Any], tags: np.ndarray[Any, Any] | None) -> Any:
    bits = values.astype("<f8").view("<u8")
    bits[np.isnan(values)] = MISSING_DOUBLE
    if tags is not None:
        tagged = tags > 0
        bits[tagged] = MISSING_DOUBLE_A + ((tags[tagged].astype(np.uint64) - 1) << 40)
    return bits.view(np.uint8).reshape(len(values), 8)


def _longs(values: np.ndarray[Any, Any], tags: np.ndarray[Any, Any]) -> Any:
    out = np.where(np.isnan(values), MISSING_LONG, np.nan_to_num(values)).astype("<i4")
    tagged = tags > 0
    out[tagged] = MISSING_LONG + tags[tagged].astype(np.int32)
    return out.view(np.uint8).reshape(len(values), 4)


class _Strls:
    """The strL texts, as GSO records in a temporary file, and the (v, o) reference of each
    cell. The empty text is stored once for the whole file, any other text once per chunk."""

    def __init__(self, folder: Path, v_bits: int) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (closed on exit)
        self.empty: int | None = None
        self.v_bits = v_bits

    def __enter__(self) -> _Strls:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.file.close()

    def references(
        self, texts: list[tuple[int, np.ndarray[Any, Any]]], first_row: int
    ) -> list[np.ndarray[Any, Any]]:
        """Each strL column's references (v in the low bits, o above) for one chunk; `texts`
        holds (variable number, texts) per strL column."""
        n = len(texts[0][1])
        refs = [np.empty(n, dtype="<u8") for _ in texts]
        seen: dict[bytes, int] = {}
        # Row by row, then variable by variable: the order in which pyreadstat meets the texts,
        # so GSO records come sorted by (o, v) as Stata expects.
        for row in range(n):
            o = first_row + row + 1
            for j, (v, column) in enumerate(texts):
                text = bytes(column[row]).split(b"\0", 1)[0]
                ref = self.empty if not text else seen.get(text)
                if ref is None:
                    ref = v | o << self.v_bits
                    self.file.write(_GSO.pack(b"GSO", v, o, GSO_TEXT, len(text) + 1))
                    self.file.write(text + b"\0")
                    if text:
                        seen[text] = ref
                    else:
                        self.empty = ref
                refs[j][row] = ref
        return refs


def _section(fh: IO[bytes], at: int, tag: bytes) -> None:
    fh.seek(at)
    if fh.read(len(tag)) != tag:
        raise RuntimeError(f"pyreadstat wrote a .dta file this writer does not know ({tag!r})")


class DtaWriter:
    suffix = ".dta"
    media_type = "application/x-stata-dta"

    def write(self, data: TableData, path: Path) -> list[Path]:
        layout = data.layout
        codes = layout.codes
        letters = {code: ord(codes.stata_letter(code)) - ord("a") + 1 for code in codes.all()}
        columns = [_Column(c, letters) for c in layout.columns]
        with ArraySpool(path.parent) as spool:
            rows = spool.add_table(
                data,
                lambda chunk: [
                    a for c, cells in zip(columns, chunk, strict=True) for a in c.convert(cells)
                ],
            )
            frame = pd.DataFrame({c.col.name: c.header_cell() for c in columns}, copy=False)
            pyreadstat.write_dta(frame, str(path), **dta_options(layout))
            row_len = sum(c.storage for c in columns)
            widths = [c.arrays for c in columns]
            with path.open("r+b") as fh:
                self._append(fh, columns, spool, widths, rows, row_len, path.parent)
        return []

    def _append(
        self,
        fh: IO[bytes],
        columns: list[_Column],
        spool: ArraySpool,
        widths: list[int],
        rows: int,
        row_len: int,
        folder: Path,
    ) -> None:
        head = fh.read(4096)
        n_at = head.find(b"</K><N>") + len(b"</K><N>")
        map_at = head.find(b"</header><map>") + len(b"</header><map>")
        if n_at < len(b"</K><N>") or map_at < len(b"</header><map>"):
            raise RuntimeError("pyreadstat wrote a .dta header this writer does not know")
        offsets = list(struct.unpack_from("<14Q", head, map_at))
        _section(fh, offsets[9], b"<data>")
        _section(fh, offsets[10], b"<strls>")
        _section(fh, offsets[11], b"<value_labels>")
        _section(fh, offsets[12], b"</stata_dta>")
        if offsets[10] - offsets[9] != len(b"<data>") + row_len + len(b"</data>"):
            raise RuntimeError("pyreadstat wrote a .dta row of another width than expected")
        fh.seek(offsets[11])
        labels = fh.read()  # the value labels and the closing tag: the dictionary's size
        start = offsets[9] + len(b"<data>")
        fh.truncate(start)
        fh.seek(start)
        strl_vars = [i + 1 for i, c in enumerate(columns) if c.is_strl]
        # A strL cell is 8 bytes, the variable number v then the row o: v takes 3 bytes from
        # format 119 on (more than 65,535 variables), 2 bytes before.
        release = head[head.find(b"<release>") + len(b"<release>") :][:3]
        with _Strls(folder, 24 if release >= b"119" else 16) as strls:
            done = 0
            for arrays in spool.read(sum(widths)):
                fh.write(self._records(columns, arrays, widths, strls, strl_vars, done, row_len))
                done += len(arrays[0])
            fh.write(b"</data><strls>")
            strls.file.seek(0)
            shutil.copyfileobj(strls.file, fh)
        fh.write(b"</strls>")
        offsets[10] = start + row_len * rows + len(b"</data>")
        offsets[11] = fh.tell()
        fh.write(labels)
        offsets[12] = offsets[11] + len(labels) - len(b"</stata_dta>")
        offsets[13] = fh.tell()
        fh.seek(n_at)
        fh.write(struct.pack("<Q", rows))
        fh.seek(map_at)
        fh.write(struct.pack("<14Q", *offsets))

    @staticmethod
    def _records(
        columns: list[_Column],
        arrays: list[np.ndarray[Any, Any]],
        widths: list[int],
        strls: _Strls,
        strl_vars: list[int],
        done: int,
        row_len: int,
    ) -> Any:
        """The rows of one chunk, a column at a time (little-endian, texts NUL-padded)."""
        n = len(arrays[0])
        out = np.zeros((n, row_len), dtype=np.uint8)
        at = 0
        pieces: list[list[np.ndarray[Any, Any]]] = []
        for width in widths:
            pieces.append(arrays[at : at + width])
            at += width
        strl_texts = [(v, pieces[v - 1][0]) for v in strl_vars]
        refs = iter(strls.references(strl_texts, done) if strl_texts and n else [])
        offset = 0
        for column, piece in zip(columns, pieces, strict=True):
            size = column.storage
            if column.is_strl:
                out[:, offset : offset + 8] = next(refs).view(np.uint8).reshape(n, 8)
            elif column.col.kind is Kind.STRING:
                text = piece[0].astype(f"S{size}").view(np.uint8).reshape(n, size)
                # ReadStat copies a C string: a text ends at its first NUL, the rest is NUL.
                text[np.logical_or.accumulate(text == 0, axis=1)] = 0
                out[:, offset : offset + size] = text
            elif column.is_text:
                pass  # a date column without dates: one NUL byte, already there
            elif column.is_long:
                out[:, offset : offset + 4] = _longs(piece[0], piece[1])
            else:
                tags = piece[1] if len(piece) > 1 else None
                out[:, offset : offset + 8] = _doubles(piece[0], tags)
            offset += size
        return out.data


WRITER = DtaWriter()
