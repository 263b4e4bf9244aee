"""Excel workbook: a data sheet, a labels sheet (every value label) and a codebook sheet.

Written with openpyxl's write-only mode, so rows go to disk as they come and memory stays flat.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from vakstem.export.dictionary import HEADER, dictionary_rows, value_label_rows
from vakstem.export.formats import TableData
from vakstem.export.missing import ExportError
from vakstem.export.table import Kind

#: Excel's last row is 1,048,576; one is the header.
MAX_ROWS = 1_048_575


def _text_cell(sheet: object, value: str) -> object:
    """A cell that Excel shows as the text typed: characters a worksheet cannot hold are
    dropped, and an answer starting with = stays text instead of becoming a formula."""
    if ILLEGAL_CHARACTERS_RE.search(value):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


class XlsxWriter:
    suffix = ".xlsx"
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def write(self, data: TableData, path: Path) -> list[Path]:
        layout = data.layout
        if data.total is not None and data.total > MAX_ROWS:
            raise ExportError(
                f"{data.total} responses do not fit in an Excel sheet (at most {MAX_ROWS}); "
                "export to csv, sav, dta or parquet instead"
            )
        wb = Workbook(write_only=True)
        sheet = wb.create_sheet("data")
        sheet.append(layout.names)
        formats = {
            i: ("yyyy-mm-dd" if c.kind is Kind.DATE else "yyyy-mm-dd hh:mm:ss")
            for i, c in enumerate(layout.columns)
            if c.kind in (Kind.DATE, Kind.DATETIME)
        }
        texts = [i for i, c in enumerate(layout.columns) if c.kind is Kind.STRING]
        written = 0
        for chunk in data.chunks:
            written += len(chunk)
            if written > MAX_ROWS:
                raise ExportError(
                    f"more than {MAX_ROWS} responses do not fit in an Excel sheet; "
                    "export to csv, sav, dta or parquet instead"
                )
            for row in chunk:
                cells: list[object] = list(row)
                for i, number_format in formats.items():
                    if row[i] is not None:
                        cell = WriteOnlyCell(sheet, value=row[i])
                        cell.number_format = number_format
                        cells[i] = cell
                for i in texts:
                    value = row[i]
                    if isinstance(value, str) and value:
                        cells[i] = _text_cell(sheet, value)
                sheet.append(cells)
            data.advance(len(chunk))
        labels = wb.create_sheet("labels")
        labels.append(["variable", "value", "label"])
        for label_row in value_label_rows(layout):
            labels.append(list(label_row))
        codebook = wb.create_sheet("codebook")
        codebook.append(list(HEADER))
        for entry in dictionary_rows(layout):
            codebook.append(list(entry))
        wb.save(path)
        return []


WRITER = XlsxWriter()
