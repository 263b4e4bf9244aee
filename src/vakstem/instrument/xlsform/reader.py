"""Import an XLSForm workbook (ODK, KoboToolbox) as a Vakstem `Study`.

Three steps, as for YAML: read the `survey`, `choices`, `settings` (and Vakstem's own
`vakstem`) sheets with openpyxl into rows; map the rows onto the study-file data (pages, items,
choice lists) while recording a `SourceMap` from every model path to its sheet row; then build
and validate with the YAML loader's own `build_study` and `validate_study`, so an imported study
is held to exactly the same rules. Every problem names its sheet and row; the import report
(`unsupported.ImportReport`) lists what was not carried over. `docs/xlsform.md` has the
mapping table and the decisions (pages, acknowledge, range, non-numeric choice names).
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from vakstem.instrument.loader import build_study
from vakstem.instrument.names import MAX_NAME_LENGTH
from vakstem.instrument.problems import Path, Problem, SourceMap, ValuePosition
from vakstem.instrument.schema import ItemType, Study, Text
from vakstem.instrument.validate import validate_study
from vakstem.instrument.xlsform import mapping as m
from vakstem.instrument.xlsform.rewrite import rename_references, rewrite_choice_names
from vakstem.instrument.xlsform.unsupported import CodeMapping, Finding, ImportReport

__all__ = ["ImportResult", "read_xlsform"]

#: The language of plain `label`/`hint` columns when the settings give no default_language.
FALLBACK_LANGUAGE = "nl"

#: Texts of the survey sheet that come per language.
SURVEY_TEXTS = ("label", "hint", "constraint_message", f"{m.VAKSTEM}_short_label")

#: Fields of the `vakstem` sheet: study-file fields XLSForm has no place for.
VAKSTEM_SHEET_KEYS = (
    "title",
    "description",
    "closing",
    "sources",
    "settings",
    "scales",
    "analysis",
    "privacy",
)

#: The list given to acknowledge questions: their one answer, "OK", is stored as code 1.
ACKNOWLEDGE_LIST = "acknowledge"
ACKNOWLEDGE_NAME = "OK"

_SELECT = re.compile(
    r"^(?P<kind>select_one_from_file|select_multiple_from_file|select_one|select_multiple|"
    r"select one|select multiple|rank)\s+(?P<list>\S+)(?P<other>\s+or_other)?$"
)
_INTEGER_NAME = re.compile(r"^-?[0-9]+$")


@dataclass
class ImportResult:
    """The imported study (None when it could not be built), every problem, and the report."""

    study: Study | None
    problems: list[Problem]
    report: ImportReport

    @property
    def refused(self) -> bool:
        """Whether the import must not go ahead: problems, or unsupported features that the
        researcher did not choose to leave out."""
        return (
            self.study is None
            or bool(self.problems)
            or (bool(self.report.unsupported) and not self.report.skipped)
        )


# --- step 1: workbook -> rows -------------------------------------------------------------------


@dataclass
class _Row:
    sheet: str
    number: int
    #: Plain (single-language) cells by field.
    cells: dict[str, str]
    #: Per-language cells by field: field -> language part of the header -> text.
    texts: dict[str, dict[str, str]]
    #: The spreadsheet column of each field (1-based).
    columns: dict[str, int]

    def get(self, key: str) -> str:
        return self.cells.get(key, "")


@dataclass
class _Sheet:
    name: str
    #: The sheet's name as written (`name` is lowercased).
    title: str
    headers: list[m.Header]
    rows: list[_Row]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _read_sheet(name: str, title: str, raw_rows: Iterator[tuple[object, ...]]) -> _Sheet:
    header_cells: tuple[object, ...] = next(raw_rows, ())
    headers = [
        m.split_header(_cell_text(v), k + 1) for k, v in enumerate(header_cells) if _cell_text(v)
    ]
    rows: list[_Row] = []
    for number, values in enumerate(raw_rows, start=2):
        row = _Row(name, number, {}, {}, {})
        for header in headers:
            index = header.column - 1
            text = _cell_text(values[index]) if index < len(values) else ""
            if not text:
                continue
            if header.language is None:
                row.cells[header.field] = text
            else:
                row.texts.setdefault(header.field, {})[header.language] = text
            row.columns.setdefault(header.field, header.column)
        if row.cells or row.texts:
            rows.append(row)
    return _Sheet(name, title, headers, rows)


def _open(source: str | FsPath | bytes, filename: str) -> tuple[dict[str, _Sheet], list[Problem]]:
    def problem(message: str) -> tuple[dict[str, _Sheet], list[Problem]]:
        return {}, [Problem(message, file=filename)]

    if isinstance(source, bytes):
        if not source:
            return problem("the file is empty")
        stream: Any = io.BytesIO(source)
    else:
        path = FsPath(source)
        if not path.exists():
            return problem("file not found")
        if path.is_dir():
            return problem("this is a directory, not an XLSForm workbook")
        stream = path
    # openpyxl is imported here, not with the module: every `vakstem` command loads this
    # module to register its commands, and openpyxl is a fifth of a second of start-up.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        if isinstance(exc, PermissionError):
            return problem("no permission to read this file")
        return problem(
            "not an Excel workbook (.xlsx): save the form as an Excel workbook; old .xls files "
            "and CSV cannot be read"
        )
    try:
        sheets: dict[str, _Sheet] = {}
        for worksheet in book.worksheets:
            key = worksheet.title.strip().lower()
            if key in sheets:
                continue
            sheets[key] = _read_sheet(key, worksheet.title, worksheet.iter_rows(values_only=True))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        return problem(f"the workbook is damaged and cannot be read ({exc})")
    finally:
        book.close()
    return sheets, []


# --- step 2: rows -> study data -------------------------------------------------------------------


@dataclass
class _Question:
    row: _Row
    type: str
    name: str


@dataclass
class _Group:
    row: _Row
    name: str
    repeat: bool = False
    children: list[_Question | _Group] = field(default_factory=list)
    closed: bool = False


@dataclass
class _Choices:
    """One choice list of the choices sheet."""

    name: str
    rows: list[_Row]
    codes: dict[str, int] = field(default_factory=dict)
    remapped: bool = False


class _Importer:
    def __init__(self, sheets: dict[str, _Sheet], filename: str, skip: bool) -> None:
        self.sheets = sheets
        self.filename = filename
        self.problems: list[Problem] = []
        self.report = ImportReport(skipped=skip)
        self.smap = SourceMap(file=filename)
        self.languages: list[str] = []
        #: The language of plain `label`/`hint` columns; None when they are the default text
        #: for every language whose own column is empty (language columns, no
        #: default_language: pyxform's "default" language).
        self.plain_language: str | None = FALLBACK_LANGUAGE
        self.lists: dict[str, _Choices] = {}
        self.list_ids: dict[str, str] = {}
        #: Variable id -> choice list id (for rewriting choice names in conditions).
        self.variable_lists: dict[str, str] = {}
        #: (data dict, field, row, own variable for `.`) of every condition, rewritten at the end.
        self.conditions: list[tuple[dict[str, Any], str, _Row, str | None]] = []
        self.left_out: dict[str, str] = {}
        self.consent_lists: set[str] = set()
        self.used_lists: set[str] = set()
        self.settings: dict[str, str] = {}
        self.settings_row: _Row | None = None

    # -- reporting

    def error(
        self,
        row: _Row | None,
        message: str,
        column: str | None = None,
        *,
        sheet: str = "",
        item: str | None = None,
    ) -> None:
        if row is None:
            self.problems.append(Problem(f"{sheet} sheet: {message}", file=self.filename))
            return
        where = f"{row.sheet} sheet, row {row.number}"
        col = row.columns.get(column) if column else None
        if column is not None:
            where += f", column {column!r}"
        self.problems.append(
            Problem(
                f"{where}: {message}",
                path=row.sheet,
                item=item,
                line=row.number,
                column=col,
                file=self.filename,
            )
        )

    def finding(
        self, kind: list[Finding], row: _Row | None, name: str, what: str, sheet: str = "survey"
    ) -> None:
        kind.append(Finding(row.sheet if row else sheet, row.number if row else 0, name, what))

    # -- texts

    def collect_languages(self) -> None:
        default = self.settings.get("default_language", "")
        default_code = m.language_code(default) if default else None
        if default and default_code is None:
            self.error(
                self.settings_row,
                f"cannot tell the language of {default!r}: write it as 'Name (code)', "
                "for example 'Nederlands (nl)'",
                "default_language",
                sheet="settings",
            )
        found: list[str] = []
        for sheet_name in ("survey", "choices"):
            sheet = self.sheets.get(sheet_name)
            if sheet is None:
                continue
            for header in sheet.headers:
                base = header.field
                if base not in (*SURVEY_TEXTS, "label"):
                    continue
                if header.language is None:
                    continue
                code = m.language_code(header.language)
                if code is None:
                    self.problems.append(
                        Problem(
                            f"{sheet_name} sheet, row 1: cannot tell the language of column "
                            f"'{base}::{header.language}': write it as "
                            f"'{base}::{header.language} (code)', for example "
                            "'label::Nederlands (nl)'",
                            path=sheet_name,
                            line=1,
                            column=header.column,
                            file=self.filename,
                        )
                    )
                elif code not in found:
                    found.append(code)
        self.plain_language = default_code or (None if found else FALLBACK_LANGUAGE)
        ordered = [default_code] if default_code else []
        if not found and not default_code:
            ordered.append(FALLBACK_LANGUAGE)
        for code in found:
            if code not in ordered:
                ordered.append(code)
        self.languages = ordered

    def text(self, row: _Row, field_name: str) -> Text | None:
        """The text of a field in every language: a plain string when all languages agree."""
        by_language: dict[str, str] = {}
        for language, value in row.texts.get(field_name, {}).items():
            code = m.language_code(language)
            if code is not None:
                by_language[code] = value
        plain = row.cells.get(field_name)
        if plain:
            if self.plain_language is None:
                for language in self.languages:
                    by_language.setdefault(language, plain)
            else:
                by_language.setdefault(self.plain_language, plain)
        if not by_language:
            return None
        values = set(by_language.values())
        if len(values) == 1 and set(by_language) >= set(self.languages):
            return next(iter(values))
        if len(self.languages) == 1 and self.languages[0] in by_language:
            return by_language[self.languages[0]]
        return by_language

    # -- source map

    def locate(self, path: Path, row: _Row, column: str | None = None) -> None:
        col = row.columns.get(column, 1) if column else 1
        self.smap.keys[path] = (row.number, col)

    # -- settings and choices

    def read_settings(self) -> None:
        sheet = self.sheets.get("settings")
        if sheet is None or not sheet.rows:
            return
        self.settings_row = sheet.rows[0]
        self.settings = dict(sheet.rows[0].cells)
        for key, values in sheet.rows[0].texts.items():
            # `form_title::English (en)` is not XLSForm; take the first one given.
            self.settings.setdefault(key, next(iter(values.values())))

    def read_choices(self) -> None:
        sheet = self.sheets.get("choices")
        if sheet is not None and not sheet.headers and not sheet.rows:
            # An empty choices sheet is the same as none (some templates carry one).
            del self.sheets["choices"]
            return
        if sheet is None:
            return
        names = {h.field for h in sheet.headers}
        for needed in ("list_name", "name"):
            if needed not in names:
                self.problems.append(
                    Problem(
                        f"choices sheet, row 1: no {needed!r} column (the choices sheet needs "
                        "list_name, name and label columns)",
                        path="choices",
                        line=1,
                        file=self.filename,
                    )
                )
                return
        known = {"list_name", "name", "label", f"{m.VAKSTEM}_missing"}
        for header in sheet.headers:
            if header.field == "label" or (header.language is None and header.field in known):
                continue
            self.finding(
                self.report.ignored,
                None,
                "",
                f"column {header.field!r} of the choices sheet (choice filters and media are "
                "not used)",
                sheet="choices",
            )
        for row in sheet.rows:
            list_name, name = row.get("list_name"), row.get("name")
            if not list_name:
                self.error(row, "a choice without a list_name", "list_name")
                continue
            if not name:
                self.error(row, f"a choice of list {list_name!r} without a name", "name")
                continue
            entry = self.lists.setdefault(list_name, _Choices(list_name, []))
            if any(other.get("name") == name for other in entry.rows):
                first = next(o for o in entry.rows if o.get("name") == name)
                self.error(
                    row,
                    f"duplicate choice name {name!r} in list {list_name!r} (also row "
                    f"{first.number})",
                    "name",
                )
                continue
            entry.rows.append(row)
        taken: dict[str, str] = {}
        for list_name, entry in self.lists.items():
            list_id = m.vakstem_name(list_name, 64)
            if list_id in taken:
                self.error(
                    entry.rows[0],
                    f"list names {taken[list_id]!r} and {list_name!r} both become {list_id!r}; "
                    "rename one",
                    "list_name",
                )
            taken[list_id] = list_name
            if list_id != list_name:
                self.report.renamed[list_name] = list_id
            self.list_ids[list_name] = list_id
            self.assign_codes(entry)

    def assign_codes(self, entry: _Choices) -> None:
        names = [row.get("name") for row in entry.rows]
        if all(_INTEGER_NAME.match(n) for n in names):
            seen: dict[int, _Row] = {}
            for row in entry.rows:
                code = int(row.get("name"))
                if code in seen:
                    self.error(
                        row,
                        f"choice {row.get('name')!r} of list {entry.name!r} is the same code as "
                        f"{seen[code].get('name')!r} (row {seen[code].number})",
                        "name",
                    )
                seen.setdefault(code, row)
                entry.codes[row.get("name")] = code
            return
        # Vakstem stores and exports choices as numbers: number the names in list order.
        entry.remapped = True
        entry.codes = {name: k for k, name in enumerate(names, start=1)}
        self.report.code_mappings.append(
            CodeMapping(self.list_ids.get(entry.name, entry.name), tuple(entry.codes.items()))
        )

    # -- the survey sheet

    def parse_survey(self, sheet: _Sheet) -> list[_Question | _Group]:
        top: list[_Question | _Group] = []
        stack: list[_Group] = []
        for row in sheet.rows:
            kind = " ".join(row.get("type").lower().split())
            name = row.get("name")
            if not kind:
                self.error(row, "a row without a type: give it a type or delete the row", "type")
                continue
            siblings = stack[-1].children if stack else top
            if kind in m.END_GROUP or kind in m.END_REPEAT:
                repeat = kind in m.END_REPEAT
                if not stack or stack[-1].repeat != repeat:
                    what = "end repeat" if repeat else "end group"
                    opened = (
                        f" (row {stack[-1].row.number} opened "
                        f"{'a repeat' if stack[-1].repeat else 'a group'} {stack[-1].name!r})"
                        if stack
                        else ""
                    )
                    self.error(row, f"{what} without a matching begin{opened}", "type")
                    continue
                stack.pop().closed = True
                continue
            if not name:
                self.error(row, f"type {kind!r} needs a name", "name")
                continue
            if kind in m.BEGIN_GROUP or kind in m.BEGIN_REPEAT:
                group = _Group(row, name, repeat=kind in m.BEGIN_REPEAT)
                siblings.append(group)
                stack.append(group)
                continue
            siblings.append(_Question(row, kind, name))
        for group in stack:
            what = "repeat" if group.repeat else "group"
            self.error(group.row, f"begin {what} {group.name!r} has no end {what}", "type")
        return top

    def check_names(self, nodes: list[_Question | _Group]) -> None:
        # Questions are variables, one namespace for the whole form; groups (pages) have
        # their own, as sections in pyxform do: a page may share its question's name.
        seen: dict[tuple[bool, str], _Row] = {}
        ids: dict[str, str] = {}
        for node in _walk(nodes):
            name = node.name
            key = (isinstance(node, _Group), name)
            if key in seen:
                what = "group name" if key[0] else "name"
                self.error(
                    node.row, f"duplicate {what} {name!r} (also row {seen[key].number})", "name"
                )
                continue
            seen[key] = node.row
            new = m.vakstem_name(name, 64 if isinstance(node, _Group) else MAX_NAME_LENGTH)
            if new in ids and ids[new] != name:
                self.error(
                    node.row,
                    f"names {ids[new]!r} and {name!r} both become {new!r} (Vakstem names are "
                    "lowercase letters, digits and _); rename one",
                    "name",
                )
            ids[new] = name
            if new != name:
                self.report.renamed[name] = new

    def vid(self, name: str) -> str:
        return self.report.renamed.get(name, name)

    def check_unsupported(self, node: _Question | _Group) -> str | None:
        """Why this question cannot be asked (None when it can); records the report lines."""
        row = node.row
        if isinstance(node, _Group):
            if node.repeat:
                self.finding(
                    self.report.unsupported, row, node.name, m.UNSUPPORTED_TYPES["begin repeat"]
                )
                return "a repeat group"
            return None
        kind = node.type
        base = kind.split()[0] if kind.split() else kind
        select = _SELECT.match(kind)
        if select and select["kind"] in m.UNSUPPORTED_TYPES:
            why = m.UNSUPPORTED_TYPES[select["kind"]]
            self.finding(self.report.unsupported, row, node.name, f"type {kind!r}: {why}")
            return why
        if select and select["other"]:
            why = "'or_other' is not supported: add an 'other' choice and a text question"
            self.finding(self.report.unsupported, row, node.name, f"type {kind!r}: {why}")
            return why
        if kind in m.UNSUPPORTED_TYPES or (base in m.UNSUPPORTED_TYPES and not select):
            why = m.UNSUPPORTED_TYPES.get(kind, m.UNSUPPORTED_TYPES.get(base, ""))
            self.finding(self.report.unsupported, row, node.name, f"type {kind!r}: {why}")
            return why
        return None

    def check_columns(self, row: _Row, name: str) -> None:
        for column, why in m.UNSUPPORTED_COLUMNS.items():
            if row.get(column):
                self.finding(self.report.unsupported, row, name, f"column {column!r}: {why}")
        for column in m.IGNORED_COLUMNS:
            if row.get(column) or row.texts.get(column):
                self.finding(self.report.ignored, row, name, f"column {column!r}")

    # -- items

    def expression(
        self,
        target: dict[str, Any],
        key: str,
        row: _Row,
        column: str,
        own: str | None,
        extra: str | None = None,
    ) -> None:
        source = row.get(column)
        if column == "required" and source:
            flag = m.yes_no(source)
            if flag is not None:
                if flag:
                    target[key] = True
                return
        parts = [p for p in (extra, source) if p]
        if not parts:
            return
        text = " and ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]
        target[key] = rename_references(text, self.report.renamed)
        self.conditions.append((target, key, row, own))

    def item(self, q: _Question, path: Path, relevant: str | None) -> dict[str, Any] | None:
        row, kind = q.row, q.type
        item_id = self.vid(q.name)
        data: dict[str, Any] = {"id": item_id}
        apps = m.appearances(row.get("appearance"))
        params = m.parameters(row.get("parameters"))
        if params is None:
            self.error(
                row,
                "parameters must be written as key=value (for example "
                "randomize=true or start=0 end=10)",
                "parameters",
                item=item_id,
            )
            params = {}
        select = _SELECT.match(kind)
        vakstem_type = row.get(f"{m.VAKSTEM}_type").lower()
        if select:
            list_name = select["list"]
            item_type = m.SELECT_TYPES[select["kind"]]
            if "choices" not in self.sheets:
                self.error(
                    row,
                    f"uses choice list {list_name!r}, but the workbook has no choices sheet",
                    "type",
                    item=item_id,
                )
                return None
            if list_name not in self.lists:
                close = difflib.get_close_matches(list_name, list(self.lists), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.error(
                    row,
                    f"choice list {list_name!r} is not in the choices sheet{hint}",
                    "type",
                    item=item_id,
                )
                return None
            list_id = self.list_ids[list_name]
            if vakstem_type == "consent" and item_type is ItemType.SINGLE:
                data["type"] = ItemType.CONSENT.value
                self.consent_lists.add(list_id)
            else:
                data["type"] = item_type.value
                data["choices"] = list_id
                self.used_lists.add(list_id)
                self.variable_lists[item_id] = list_id
                if "minimal" in apps:
                    if item_type is ItemType.SINGLE:
                        data["appearance"] = "dropdown"
                    else:
                        self.finding(
                            self.report.ignored,
                            row,
                            q.name,
                            "appearance 'minimal' of select_multiple (shown as boxes)",
                        )
                if m.yes_no(params.get("randomize", "")):
                    data["randomize"] = True
        elif kind in m.SIMPLE_TYPES:
            item_type = m.SIMPLE_TYPES[kind]
            if item_type is ItemType.TEXT and "multiline" in apps:
                item_type = ItemType.LONGTEXT
            data["type"] = item_type.value
        elif kind == "range":
            data.update(self.range_item(row, q.name, params))
        elif kind in m.ACKNOWLEDGE_TYPES:
            data["type"] = ItemType.SINGLE.value
            data["choices"] = ACKNOWLEDGE_LIST
            self.used_lists.add(ACKNOWLEDGE_LIST)
            self.variable_lists[item_id] = ACKNOWLEDGE_LIST
            self.finding(
                self.report.notes,
                row,
                q.name,
                "acknowledge becomes a single choice with the one answer 'OK' (code 1)",
            )
        else:
            known = [
                *m.SIMPLE_TYPES,
                "select_one LIST",
                "select_multiple LIST",
                "range",
                "acknowledge",
                "begin group",
                "end group",
            ]
            if kind in m.SELECT_TYPES:
                self.error(
                    row, f"{kind} needs a list name: write '{kind} LIST'", "type", item=item_id
                )
                return None
            close = difflib.get_close_matches(kind, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.error(row, f"unknown type {kind!r}{hint}", "type", item=item_id)
            return None
        self.locate(path, row)
        self.locate((*path, "type"), row, "type")
        self.locate((*path, "id"), row, "name")
        for key, column in (
            ("text", "label"),
            ("hint", "hint"),
            ("constraint_message", "constraint_message"),
            ("label", f"{m.VAKSTEM}_short_label"),
        ):
            value = self.text(row, column)
            if value is not None:
                data[key] = value
            self.locate((*path, key), row, column if column in row.columns else "name")
        for key in ("relevant", "constraint", "required"):
            extra = relevant if key == "relevant" else None
            self.expression(data, key, row, key, item_id if key == "constraint" else None, extra)
            self.locate((*path, key), row, key)
            col = row.columns.get(key, 1)
            self.smap.values[(*path, key)] = ValuePosition(row.number, col, 0, False)
        for key in ("min", "max"):
            raw = row.get(f"{m.VAKSTEM}_{key}")
            if raw:
                data[key] = _number(raw)
                self.locate((*path, key), row, f"{m.VAKSTEM}_{key}")
        raw_length = row.get(f"{m.VAKSTEM}_max_length")
        if raw_length:
            data["max_length"] = _number(raw_length)
            self.locate((*path, "max_length"), row, f"{m.VAKSTEM}_max_length")
        if m.yes_no(row.get(f"{m.VAKSTEM}_open_text")):
            data["open_text"] = True
        for word in apps:
            if word not in ("minimal", "multiline") and word in m.PRESENTATION_APPEARANCES:
                self.finding(self.report.ignored, row, q.name, f"appearance {word!r}")
            elif word not in m.PRESENTATION_APPEARANCES:
                self.finding(self.report.ignored, row, q.name, f"appearance {word!r} (unknown)")
        return data

    def range_item(self, row: _Row, name: str, params: dict[str, str]) -> dict[str, Any]:
        # ODK's defaults: a slider from 1 to 10 in steps of 1.
        raw = {
            "start": params.get("start", "1"),
            "end": params.get("end", "10"),
            "step": params.get("step", "1"),
        }
        numbers: dict[str, float] = {}
        for key, text in raw.items():
            value = _number(text)
            if not isinstance(value, (int, float)):
                self.error(row, f"range parameter {key}={text!r} is not a number", "parameters")
                value = 0
            numbers[key] = float(value)
        whole = all(v.is_integer() for v in numbers.values())
        low, high = sorted((numbers["start"], numbers["end"]))
        self.finding(
            self.report.notes,
            row,
            name,
            f"range becomes a number question from {low:g} to {high:g} (no slider"
            + (f"; the step {numbers['step']:g} is not enforced" if numbers["step"] != 1 else "")
            + ")",
        )
        return {
            "type": (ItemType.INTEGER if whole else ItemType.DECIMAL).value,
            "min": int(low) if whole else low,
            "max": int(high) if whole else high,
        }

    def matrix_rows(self, group: _Group) -> list[_Question] | None:
        """The rows of a group that becomes a matrix, or None."""
        apps = set(m.appearances(group.row.get("appearance")))
        children = group.children
        if not children or any(not isinstance(c, _Question) for c in children):
            return None
        questions = [c for c in children if isinstance(c, _Question)]
        rows = [q for q in questions if "label" not in m.appearances(q.row.get("appearance"))]
        selects = [_SELECT.match(q.type) for q in rows]
        if not rows or not all(
            s and s["kind"] in ("select_one", "select one") and not s["other"] for s in selects
        ):
            return None
        lists = {s["list"] for s in selects if s}
        likert = all("likert" in m.appearances(q.row.get("appearance")) for q in rows)
        is_table = bool(apps & m.MATRIX_GROUP_APPEARANCES) or (
            "field-list" in apps and likert and len(rows) >= 2
        )
        if not is_table or len(lists) != 1:
            return None
        reason = None
        if not self.text(group.row, "label"):
            reason = "the group has no label to ask as the matrix question"
        for q in rows:
            if q.row.get("relevant"):
                reason = f"row {q.row.number} has its own relevant"
        for key in ("required", "constraint"):
            if len({q.row.get(key) for q in rows}) > 1:
                reason = f"its rows differ in {key}"
        if len({repr(self.text(q.row, "constraint_message")) for q in rows}) > 1:
            reason = "its rows differ in constraint_message"
        if reason:
            self.finding(
                self.report.notes,
                group.row,
                group.name,
                f"table group kept as separate questions: {reason}",
            )
            return None
        for q in questions:
            if q not in rows:
                self.finding(
                    self.report.ignored,
                    q.row,
                    q.name,
                    "header row (appearance 'label') of a table group",
                )
        return rows

    def matrix(
        self, group: _Group, rows: list[_Question], path: Path, relevant: str | None
    ) -> dict[str, Any]:
        first = rows[0].row
        select = _SELECT.match(rows[0].type)
        assert select is not None
        list_name = select["list"]
        item_id = self.vid(group.name)
        data: dict[str, Any] = {"id": item_id, "type": ItemType.MATRIX.value}
        self.locate(path, group.row)
        self.locate((*path, "id"), group.row, "name")
        self.locate((*path, "type"), group.row, "type")
        if list_name not in self.lists:
            self.error(
                first,
                f"choice list {list_name!r} is not in the choices sheet",
                "type",
                item=self.vid(rows[0].name),
            )
            return data
        list_id = self.list_ids[list_name]
        data["choices"] = list_id
        self.used_lists.add(list_id)
        for key, column in (
            ("text", "label"),
            ("hint", "hint"),
            ("label", f"{m.VAKSTEM}_short_label"),
        ):
            value = self.text(group.row, column)
            if value is not None:
                data[key] = value
            self.locate((*path, key), group.row, column)
        if self.text(first, "constraint_message") is not None:
            data["constraint_message"] = self.text(first, "constraint_message")
        self.expression(data, "relevant", group.row, "relevant", None, relevant)
        self.expression(data, "required", first, "required", None)
        self.expression(data, "constraint", first, "constraint", None)
        for key, row in (("relevant", group.row), ("required", first), ("constraint", first)):
            self.locate((*path, key), row, key)
        params = m.parameters(group.row.get("parameters")) or {}
        if m.yes_no(params.get("randomize", "")):
            data["randomize"] = True
        out_rows = []
        for q in rows:
            self.check_columns(q.row, q.name)
        for r, q in enumerate(rows):
            row_id = self.vid(q.name)
            entry: dict[str, Any] = {"id": row_id}
            row_path = (*path, "rows", r)
            self.locate(row_path, q.row)
            self.locate((*row_path, "id"), q.row, "name")
            for key, column in (
                ("text", "label"),
                ("hint", "hint"),
                ("label", f"{m.VAKSTEM}_short_label"),
            ):
                value = self.text(q.row, column)
                if value is not None:
                    entry[key] = value
                self.locate((*row_path, key), q.row, column)
            self.variable_lists[row_id] = list_id
            out_rows.append(entry)
        data["rows"] = out_rows
        return data

    def items_of(
        self,
        nodes: list[_Question | _Group],
        page_path: Path,
        relevant: str | None,
        out: list[dict[str, Any]],
    ) -> None:
        for node in nodes:
            if self.left_out_node(node):
                continue
            path = (*page_path, "items", len(out))
            if isinstance(node, _Question):
                if node.type in m.METADATA_TYPES:
                    self.finding(
                        self.report.ignored,
                        node.row,
                        node.name,
                        f"metadata {node.type!r}: filled in by ODK, not asked (Vakstem records "
                        "its own start and end times)",
                    )
                    continue
                self.check_columns(node.row, node.name)
                data = self.item(node, path, relevant)
                if data is not None:
                    out.append(data)
                continue
            rows = self.matrix_rows(node)
            if rows is not None:
                out.append(self.matrix(node, rows, path, relevant))
                continue
            inner = _combine(
                relevant, rename_references(node.row.get("relevant"), self.report.renamed)
            )
            label = self.text(node.row, "label")
            if label is not None:
                note: dict[str, Any] = {"id": self.vid(node.name), "type": "note", "text": label}
                self.locate(path, node.row)
                self.locate((*path, "text"), node.row, "label")
                if inner:
                    note["relevant"] = inner
                    self.conditions.append((note, "relevant", node.row, None))
                out.append(note)
            self.items_of(node.children, page_path, inner, out)

    def left_out_node(self, node: _Question | _Group) -> bool:
        """Whether a node is unsupported (then it and everything in it are left out)."""
        why = self.check_unsupported(node)
        if why is None:
            return False
        self.left_out[self.vid(node.name)] = why
        if isinstance(node, _Group):
            for child in _walk(node.children):
                self.left_out[self.vid(child.name)] = f"inside the repeat group {node.name!r}"
        return True

    def pages(self, top: list[_Question | _Group]) -> list[dict[str, Any]]:
        style = self.settings.get("style", "").strip().lower()
        pages: list[dict[str, Any]] = []
        loose: list[_Question | _Group] = []

        def flush() -> None:
            if not loose:
                return
            path: Path = ("pages", len(pages))
            items: list[dict[str, Any]] = []
            self.items_of(list(loose), path, None, items)
            if items:
                # Named after its first question that is asked (not a metadata row).
                first = next(n for n in loose if self.vid(n.name) == items[0]["id"])
                self.locate(path, first.row)
                pages.append({"id": items[0]["id"], "items": items})
            loose.clear()

        for node in top:
            if isinstance(node, _Question):
                loose.append(node)
                if style == "pages":
                    flush()
                continue
            flush()
            if self.left_out_node(node):
                continue
            path = ("pages", len(pages))
            # The export names a page group apart from a question of the same name (ODK needs
            # unique names); `vakstem_id` gives the page its own id back.
            page_id = node.row.get(f"{m.VAKSTEM}_id") or self.vid(node.name)
            page: dict[str, Any] = {"id": page_id}
            self.locate(path, node.row)
            self.locate((*path, "id"), node.row, "name")
            items: list[dict[str, Any]] = []
            rows = self.matrix_rows(node)
            if rows is not None:
                items.append(self.matrix(node, rows, (*path, "items", 0), None))
            else:
                title = self.text(node.row, "label")
                if title is not None:
                    page["title"] = title
                    self.locate((*path, "title"), node.row, "label")
                self.expression(page, "relevant", node.row, "relevant", None)
                self.locate((*path, "relevant"), node.row, "relevant")
                self.smap.values[(*path, "relevant")] = ValuePosition(
                    node.row.number, node.row.columns.get("relevant", 1), 0, False
                )
                self.items_of(node.children, path, None, items)
            if not items:
                self.finding(
                    self.report.ignored, node.row, node.name, "an empty group (no questions to ask)"
                )
                continue
            page["items"] = items
            pages.append(page)
        flush()
        return pages

    # -- conditions

    def rewrite_conditions(self) -> None:
        remapped = {self.list_ids[e.name]: e.codes for e in self.lists.values() if e.remapped}
        remapped[ACKNOWLEDGE_LIST] = {ACKNOWLEDGE_NAME: 1}
        for target, key, row, own in self.conditions:

            def lookup(variable: str | None, _own: str | None = own) -> dict[str, int] | None:
                name = _own if variable is None else variable
                if name is None:
                    return None
                list_id = self.variable_lists.get(name)
                return remapped.get(list_id) if list_id else None

            done = rewrite_choice_names(target[key], lookup)
            if done is None:
                continue
            target[key], unknown = done
            for miss in unknown:
                subject_name = own if miss.variable == "." else miss.variable
                list_id = self.variable_lists.get(subject_name or "")
                names = ", ".join(
                    repr(n)
                    for n in next(
                        (
                            e.codes
                            for e in self.lists.values()
                            if self.list_ids.get(e.name) == list_id
                        ),
                        {ACKNOWLEDGE_NAME: 1},
                    )
                )
                subject = "." if miss.variable == "." else "${" + miss.variable + "}"
                self.error(
                    row,
                    f"{miss.name!r} is not a choice of {subject} (list {list_id!r}: {names})",
                    key,
                )

    # -- the whole study

    def choice_lists(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for list_name, entry in self.lists.items():
            list_id = self.list_ids[list_name]
            if list_id in self.consent_lists and list_id not in self.used_lists:
                continue
            choices = []
            for k, row in enumerate(entry.rows):
                path: Path = ("choice_lists", list_id, k)
                self.locate(path, row)
                self.locate((*path, "label"), row, "label")
                self.locate((*path, "code"), row, "name")
                choice: dict[str, Any] = {"code": entry.codes[row.get("name")]}
                label = self.text(row, "label")
                choice["label"] = label if label is not None else ""
                if m.yes_no(row.get(f"{m.VAKSTEM}_missing")):
                    choice["missing"] = True
                choices.append(choice)
            out[list_id] = choices
        if ACKNOWLEDGE_LIST in self.used_lists:
            if ACKNOWLEDGE_LIST in out:
                self.problems.append(
                    Problem(
                        f"choices sheet: the list name {ACKNOWLEDGE_LIST!r} is used for "
                        "acknowledge questions; rename this list",
                        file=self.filename,
                    )
                )
            out[ACKNOWLEDGE_LIST] = [{"code": 1, "label": ACKNOWLEDGE_NAME}]
        return out

    def vakstem_sheet(self, data: dict[str, Any]) -> None:
        sheet = self.sheets.get(m.VAKSTEM)
        if sheet is None:
            return
        for row in sheet.rows:
            key = row.get("key")
            value = row.get("value")
            if key not in VAKSTEM_SHEET_KEYS:
                self.error(
                    row, f"unknown key {key!r} (known: {', '.join(VAKSTEM_SHEET_KEYS)})", "key"
                )
                continue
            try:
                data[key] = yaml.safe_load(value) if value else None
            except yaml.YAMLError as exc:
                self.error(row, f"the value of {key!r} is not valid YAML or JSON ({exc})", "value")
                continue
            self.locate((key,), row, "value")

    def study_data(self, top: list[_Question | _Group]) -> dict[str, Any]:
        settings_row = self.settings_row
        form_id = self.settings.get("form_id", "") or FsPath(self.filename).stem
        study_id = m.vakstem_name(form_id, 64)
        if study_id != form_id:
            self.finding(
                self.report.notes,
                settings_row,
                "form_id",
                f"form_id {form_id!r} becomes the study id {study_id!r}",
                sheet="settings",
            )
        data: dict[str, Any] = {"id": study_id}
        version = self.settings.get("version")
        if version:
            data["version"] = version
        data["languages"] = self.languages
        title = self.settings.get("form_title") or form_id
        data["title"] = title
        if settings_row is not None:
            for key, column in (
                ("id", "form_id"),
                ("version", "version"),
                ("title", "form_title"),
                ("languages", "default_language"),
            ):
                self.locate((key,), settings_row, column)
        self.vakstem_sheet(data)
        data["choice_lists"] = {}
        data["pages"] = self.pages(top)
        data["choice_lists"] = self.choice_lists()
        self.rewrite_conditions()
        return {k: v for k, v in data.items() if v is not None}

    def run(self) -> Study | None:
        survey = self.sheets.get("survey")
        if survey is None:
            found = ", ".join(repr(s.title) for s in self.sheets.values()) or "none"
            self.problems.append(
                Problem(
                    f"the workbook has no 'survey' sheet (sheets found: {found}); an XLSForm needs "
                    "a survey sheet, and a choices sheet for select questions",
                    file=self.filename,
                )
            )
            return None
        columns = {h.field for h in survey.headers}
        for needed in ("type", "name"):
            if needed not in columns:
                self.problems.append(
                    Problem(
                        f"survey sheet, row 1: no {needed!r} column (the survey sheet needs type, "
                        "name and label columns)",
                        path="survey",
                        line=1,
                        file=self.filename,
                    )
                )
        if self.problems:
            return None
        known = {
            "type",
            "name",
            "relevant",
            "constraint",
            "required",
            "appearance",
            "parameters",
            *SURVEY_TEXTS,
            *m.UNSUPPORTED_COLUMNS,
            *m.IGNORED_COLUMNS,
            *(f"{m.VAKSTEM}_{k}" for k in ("type", "id", "min", "max", "max_length", "open_text")),
        }
        for header in survey.headers:
            if header.field not in known:
                self.finding(self.report.ignored, None, "", f"column {header.field!r}")
        self.read_settings()
        self.collect_languages()
        self.read_choices()
        top = self.parse_survey(survey)
        self.check_names(top)
        data = self.study_data(top)
        study, problems = build_study(data, self.smap, self.filename)
        self.problems.extend(self.locate_problem(p) for p in problems)
        if study is not None:
            # A duplicate name is already reported with both rows; the validator's own
            # duplicate-id message for that row would only repeat it.
            duplicates = {p.line for p in self.problems if "duplicate name" in p.message}
            self.problems.extend(
                self.locate_problem(p)
                for p in validate_study(study, self.smap)
                if not (p.message.startswith("duplicate id") and p.line in duplicates)
            )
        return study

    def locate_problem(self, problem: Problem) -> Problem:
        """A loader/validator problem with its sheet and row in the message."""
        message = problem.message
        unknown = re.search(r"unknown variable \$\{([a-z0-9_]+)\}", message)
        if unknown and unknown[1] in self.left_out:
            message += f" (it was left out: {self.left_out[unknown[1]]})"
        path = problem.path
        head = path.split(".")[0].split("[")[0]
        sheet = {
            "choice_lists": "choices",
            "id": "settings",
            "version": "settings",
            "languages": "settings",
        }.get(head, "survey")
        if head in VAKSTEM_SHEET_KEYS:
            sheet = (
                m.VAKSTEM
                if self.sheets.get(m.VAKSTEM)
                and any(r.get("key") == head for r in self.sheets[m.VAKSTEM].rows)
                else "settings"
            )
        where = f"{sheet} sheet" + (f", row {problem.line}" if problem.line else "")
        return Problem(
            f"{where}: {message}",
            path=problem.path,
            page=problem.page,
            item=problem.item,
            line=problem.line,
            column=problem.column,
            file=self.filename,
        )


def _walk(nodes: list[_Question | _Group]) -> Iterator[_Question | _Group]:
    for node in nodes:
        yield node
        if isinstance(node, _Group):
            yield from _walk(node.children)


def _combine(outer: str | None, inner: str | None) -> str | None:
    parts = [p for p in (outer, inner) if p]
    if len(parts) < 2:
        return parts[0] if parts else None
    return " and ".join(f"({p})" for p in parts)


def _number(text: str) -> int | float | str:
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def read_xlsform(
    source: str | FsPath | bytes,
    *,
    filename: str | None = None,
    skip_unsupported: bool = False,
) -> ImportResult:
    """Import an XLSForm workbook (a path, or the bytes of an upload). Never raises on any
    input: everything wrong is a `Problem` naming its sheet and row."""
    name = filename or (str(source) if not isinstance(source, bytes) else "form.xlsx")
    sheets, problems = _open(source, name)
    importer = _Importer(sheets, name, skip_unsupported)
    if problems:
        return ImportResult(None, problems, importer.report)
    study = importer.run()
    ordered = sorted(importer.problems, key=lambda p: (p.line is None, p.line or 0))
    return ImportResult(study, ordered, importer.report)
