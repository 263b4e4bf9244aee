"""Export formats, each one module registered by one line in `FORMATS`.

A format module defines `WRITER`, an object with a `suffix` (".sav"), a `media_type` and a
`write(data: TableData, path: Path) -> list[Path]` method that writes the whole table to `path`
and returns any companion files it wrote beside it. Modules are imported only when used, so the
command line does not pay for pyarrow when writing csv.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vakstem.export.missing import ExportError

if TYPE_CHECKING:
    # For annotations only: the table module brings pandas, which `vakstem --help` and the
    # format list need not load.
    from vakstem.export.table import Row, TableLayout

#: Format name → module defining `WRITER`. Adding a format is one module and one line here.
FORMATS: dict[str, str] = {
    "csv": "vakstem.export.formats.csv_format",
    "xlsx": "vakstem.export.formats.xlsx_format",
    "sav": "vakstem.export.formats.sav_format",
    "dta": "vakstem.export.formats.dta_format",
    "parquet": "vakstem.export.formats.parquet_format",
}


@dataclass
class TableData:
    """The table to write: its layout and its rows, in chunks, read once."""

    layout: TableLayout
    chunks: Iterable[Sequence[Row]]
    #: Rows expected (for progress and preallocation); None when unknown.
    total: int | None = None
    #: Called with the number of rows just written.
    progress: Callable[[int], None] | None = None

    def advance(self, rows: int) -> None:
        if self.progress is not None:
            self.progress(rows)


class Writer(Protocol):
    suffix: str
    #: Content type of a download of this format.
    media_type: str

    def write(self, data: TableData, path: Path) -> list[Path]: ...


def get_writer(name: str) -> Writer:
    """The writer of format `name`, or a clear error listing the formats there are."""
    module = FORMATS.get(name)
    if module is None:
        raise ExportError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    writer: Writer = importlib.import_module(module).WRITER
    return writer
