"""CSV: UTF-8 with a header row, plus a companion data dictionary `<name>.codebook.csv`.

Dates are written as `YYYY-MM-DD`, times as `YYYY-MM-DD HH:MM:SS` (UTC), missing codes as their
numbers, an empty cell only where a value has no code (text, dates, scores).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

from vakstem.export.dictionary import HEADER, dictionary_rows
from vakstem.export.formats import TableData
from vakstem.export.table import Cell, Row


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    if isinstance(cell, float):
        return repr(cell)
    return str(cell)


def _line(row: Row) -> list[str]:
    return [_text(c) for c in row]


def iter_csv(data: TableData) -> Iterator[str]:
    """The csv text in pieces of at most one chunk of rows each."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(data.layout.names)
    for chunk in data.chunks:
        writer.writerows(_line(r) for r in chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        data.advance(len(chunk))
    rest = buffer.getvalue()
    if rest:
        yield rest


def codebook_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.codebook.csv")


class CsvWriter:
    suffix = ".csv"
    media_type = "text/csv; charset=utf-8"

    def write(self, data: TableData, path: Path) -> list[Path]:
        with path.open("w", encoding="utf-8", newline="") as fh:
            for piece in iter_csv(data):
                fh.write(piece)
        companion = codebook_path(path)
        with companion.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(dictionary_rows(data.layout))
        return [companion]


WRITER = CsvWriter()
