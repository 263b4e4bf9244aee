"""Located problems in a study file, and the map from model paths to lines in the YAML source.

The loader and the validator both report `Problem`s; the `SourceMap` (built from PyYAML's node
tree) turns a path such as `("pages", 2, "items", 3, "relevant")` into a line and column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: A path into the study document: mapping keys and list indexes.
Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`("pages", 2, "items", 3, "relevant")` -> `pages[2].items[3].relevant`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass(frozen=True)
class Problem:
    """One problem in a study file. `line` and `column` are 1-based (None when unknown)."""

    message: str
    path: str = ""
    page: str | None = None
    item: str | None = None
    line: int | None = None
    column: int | None = None
    file: str = "study.yaml"

    def location(self) -> str:
        """`page 'werk', item 'br_3'` (empty when the problem is not on a page)."""
        parts = []
        if self.page is not None:
            parts.append(f"page {self.page!r}")
        if self.item is not None:
            parts.append(f"item {self.item!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        location = self.location()
        if location:
            return f"{where}: {location}: {self.message}"
        return f"{where}: {self.message}"


class StudyFileError(Exception):
    """A study file that cannot be loaded; `problems` lists every problem found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the study file"
        super().__init__(head + "".join(f"\n  {p}" for p in self.problems))


@dataclass(frozen=True)
class ValuePosition:
    """Where a scalar value starts, and whether an offset inside it maps to a column on the
    same line (plain or quoted single-line scalars only)."""

    line: int
    column: int
    #: Characters before the value's text (1 for a quoted scalar).
    prefix: int
    single_line: bool


@dataclass
class SourceMap:
    """Lines (1-based) and columns (1-based) of every key and list entry of the document."""

    file: str = "study.yaml"
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path, ValuePosition] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        """The position of `path`, or of its nearest ancestor the file has."""
        probe = tuple(path)
        while True:
            if probe in self.keys:
                return self.keys[probe]
            if not probe:
                return None, None
            probe = probe[:-1]

    def locate_in_value(self, path: Path, offset: int | None) -> tuple[int | None, int | None]:
        """The position of character `offset` of the scalar at `path` (for expressions)."""
        value = self.values.get(tuple(path))
        if value is not None:
            if offset is not None and value.single_line:
                return value.line, value.column + value.prefix + offset
            return value.line, value.column
        return self.locate(path)
