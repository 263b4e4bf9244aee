"""The import report: what an XLSForm uses that Vakstem does not support (item by item, with
its sheet and row), what was ignored or renamed, and which codes replaced non-numeric choice
names. The import refuses a form with unsupported features unless the researcher chose to leave
them out (`--skip-unsupported`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One line of the report, located at a row of a sheet (row 0: the sheet as a whole)."""

    sheet: str
    row: int
    name: str
    what: str

    def where(self) -> str:
        if self.row == 0:
            return f"{self.sheet} sheet"
        return f"{self.sheet} sheet, row {self.row}"

    def __str__(self) -> str:
        named = f" ({self.name})" if self.name else ""
        return f"{self.where()}{named}: {self.what}"


@dataclass(frozen=True)
class CodeMapping:
    """The codes given to a choice list whose XLSForm names are not whole numbers."""

    list_name: str
    #: (XLSForm name, Vakstem code) in list order.
    codes: tuple[tuple[str, int], ...]


@dataclass
class ImportReport:
    """Everything the researcher should know about how a form was carried over."""

    #: Features Vakstem cannot ask: the import refuses unless they are skipped.
    unsupported: list[Finding] = field(default_factory=list)
    #: Left out without changing what is asked (metadata, presentation-only columns).
    ignored: list[Finding] = field(default_factory=list)
    #: Mapping decisions the researcher should check (acknowledge, range, renamed names).
    notes: list[Finding] = field(default_factory=list)
    code_mappings: list[CodeMapping] = field(default_factory=list)
    #: XLSForm name -> Vakstem id, for names that were not valid Vakstem ids.
    renamed: dict[str, str] = field(default_factory=dict)
    #: Whether unsupported features were left out (`--skip-unsupported`).
    skipped: bool = False

    def unsupported_names(self) -> set[str]:
        return {f.name for f in self.unsupported if f.name}

    def lines(self) -> list[str]:
        """The report as plain lines (for logs and tests; the command prints tables)."""
        out: list[str] = []
        if self.unsupported:
            verb = "left out" if self.skipped else "not supported"
            out.append(f"{len(self.unsupported)} unsupported feature(s), {verb}:")
            out.extend(f"  {f}" for f in self.unsupported)
        if self.ignored:
            out.append("ignored:")
            out.extend(f"  {f}" for f in self.ignored)
        if self.notes:
            out.append("notes:")
            out.extend(f"  {f}" for f in self.notes)
        for mapping in self.code_mappings:
            pairs = ", ".join(f"{name!r} -> {code}" for name, code in mapping.codes)
            out.append(f"choice list {mapping.list_name!r} codes: {pairs}")
        for old, new in self.renamed.items():
            out.append(f"renamed {old!r} -> {new!r}")
        return out
