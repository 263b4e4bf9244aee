"""CSV: UTF-8 with a header row, plus a companion data dictionary `<name>.codebook.csv`.

Rows end in CRLF (RFC 4180). Python's csv module quotes a field only when it holds a character
of the line terminator, so with a bare LF a text answer holding a lone carriage return went
unquoted and split its row in two for every reader.

Dates are written as `YYYY-MM-DD`, times as `YYYY-MM-DD HH:MM:SS` (UTC), missing codes as their
numbers, an empty cell only where a value has no code (text and dates, whose reason is in their
`<name>_mis` column).

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a single quote
in front (OWASP's advice against CSV injection): Excel and LibreOffice would otherwise run it as
a formula when the file is opened. Only text columns are touched, never numbers, so a negative
code or value stays a number; `ExportOptions(raw_text=True)` (`--raw-text`) writes text as typed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

from vakstem.export.dictionary import HEADER, dictionary_rows
from vakstem.export.formats import TableData
from vakstem.export.table import Cell, Kind, columns_of


def _moment(cell: Cell) -> Cell:
    if isinstance(cell, dt.datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return cell


#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_START = frozenset("=+-@\t\r")


def neutralise(text: str) -> str:
    """`text` as a spreadsheet shows it literally: with a ' in front when it starts like a
    formula."""
    return "'" + text if text[:1] in FORMULA_START else text


def iter_csv(data: TableData) -> Iterator[str]:
    """The csv text in pieces of at most one chunk of rows each."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = data.layout.columns
    writer.writerow(data.layout.names)
    # The csv module writes None as an empty cell and numbers as str() does (shortest repr);
    # only dates and times need converting, and text that a spreadsheet would run.
    moments = [i for i, c in enumerate(columns) if c.kind in (Kind.DATE, Kind.DATETIME)]
    texts = (
        []
        if data.layout.options.raw_text
        else [i for i, c in enumerate(columns) if c.kind is Kind.STRING]
    )
    start = FORMULA_START
    for chunk in data.chunks:
        if moments or texts:
            # Converted a column at a time, then written as rows.
            cells: list[list[Cell]] = list(columns_of(chunk))
            for i in moments:
                cells[i] = [_moment(c) for c in cells[i]]
            for i in texts:
                cells[i] = [
                    "'" + c if isinstance(c, str) and c[:1] in start else c for c in cells[i]
                ]
            writer.writerows(zip(*cells, strict=True))
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
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(HEADER)
            writer.writerows(dictionary_rows(data.layout))
        return [companion]


WRITER = CsvWriter()
