"""A temporary file of numpy arrays, one group of arrays per chunk, written once and read back.

The .sav and .dta writers must know facts about the whole table (the widest text of each string
column, whether a date column holds any date) before they write the first data row, but the
rows arrive once, chunk by chunk. They convert each chunk into column arrays, spool them here
(on disk, beside the output) while noting those facts, write the file's dictionary, and then
read the chunks back one at a time to append the rows: memory holds one chunk, never the table.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from vakstem.export.formats import TableData
from vakstem.export.table import Cell, columns_of


class ArraySpool:
    """Groups of arrays appended to an unnamed temporary file, then read back in order."""

    def __init__(self, folder: Path) -> None:
        # An unnamed file in the output's folder: the disk that takes the output takes the
        # spool, and the file disappears when closed even if the export fails.
        self._file: IO[bytes] = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (closed by close)
        self.groups = 0

    def add(self, arrays: Sequence[np.ndarray[Any, Any]]) -> None:
        for array in arrays:
            # np.save writes a small header (dtype, shape) and then the raw buffer, no copy.
            np.save(self._file, array, allow_pickle=False)
        self.groups += 1

    def add_table(
        self,
        data: TableData,
        convert: Callable[[Sequence[Sequence[Cell]]], Sequence[np.ndarray[Any, Any]]],
    ) -> int:
        """Every chunk of `data`, its columns turned into arrays by `convert`; the row count."""
        rows = 0
        for chunk in data.chunks:
            if not chunk:
                continue
            self.add(convert(columns_of(chunk)))
            rows += len(chunk)
            data.advance(len(chunk))
        return rows

    def read(self, width: int) -> Iterator[list[np.ndarray[Any, Any]]]:
        """Each group of `width` arrays, in the order added; a group is freed when the next is
        read."""
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.groups):
            yield [np.load(self._file, allow_pickle=False) for _ in range(width)]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ArraySpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
