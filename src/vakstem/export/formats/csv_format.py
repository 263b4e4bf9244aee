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
from vakstem.export.table import Cell, Kind


def _moment(cell: Cell) -> Cell:
    if isinstance(cell, dt.datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return cell


def iter_csv(data: TableData) -> Iterator[str]:
    """The csv text in pieces of at most one chunk of rows each."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(data.layout.names)
    # The csv module writes None as an empty cell and numbers as str() does (shortest repr);
    # only dates and times need converting.
    moments = [i for i, c in enumerate(data.layout.columns) if c.kind in (Kind.DATE, Kind.DATETIME)]
    for chunk in data.chunks:
        if moments:
            for row in chunk:
                cells = list(row)
                for i in moments:
                    cells[i] = _moment(cells[i])
                writer.writerow(cells)
        else:
            writer.writerows(chunk)
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
