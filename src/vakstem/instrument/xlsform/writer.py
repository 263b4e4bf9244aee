"""Export a Vakstem `Study` as an XLSForm workbook, for review in a spreadsheet and for the
round trip (export -> `read_xlsform` gives an equivalent study).

Pages become top-level groups (`style: pages`), matrices `table-list` groups of select_one
rows, every study language gets its `label::Nederlands (nl)` columns. What XLSForm has no
column for is kept in `vakstem_` columns (min/max, max_length, open_text, short labels, the
consent type, the missing flag of a choice) and in a `vakstem` sheet (description, closing,
sources, settings, scales, the analysis plan and the privacy statement, as JSON); ODK ignores
both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vakstem.instrument.schema import Item, ItemType, Study, Text, text_in
from vakstem.instrument.xlsform.mapping import VAKSTEM, language_header

if TYPE_CHECKING:
    from openpyxl import Workbook

__all__ = ["CONSENT_LIST", "write_xlsform", "xlsform_workbook"]

#: The list that carries a consent item's yes/no answers (suffixed if the study has this name).
CONSENT_LIST = "vakstem_consent"

_CONSENT_LABELS: dict[str, tuple[str, str]] = {"nl": ("Ja", "Nee"), "en": ("Yes", "No")}

_TYPES: dict[ItemType, str] = {
    ItemType.NOTE: "note",
    ItemType.INTEGER: "integer",
    ItemType.DECIMAL: "decimal",
    ItemType.TEXT: "text",
    ItemType.LONGTEXT: "text",
    ItemType.DATE: "date",
}

_Row = dict[str, Any]


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _required(value: bool | str) -> str:
    if isinstance(value, str):
        return value
    return "yes" if value else ""


class _Writer:
    def __init__(self, study: Study) -> None:
        self.study = study
        self.languages = study.languages
        self.headers = {lang: language_header(lang) for lang in self.languages}
        self.consent_list = CONSENT_LIST
        while self.consent_list in study.choice_lists:
            self.consent_list += "_"
        self.consent_used = False

    def texts(self, row: _Row, column: str, text: Text | None) -> None:
        if text is None:
            return
        for lang in self.languages:
            row[f"{column}::{self.headers[lang]}"] = text_in(text, lang)

    def item_rows(self, item: Item) -> list[_Row]:
        if item.type is ItemType.MATRIX:
            return self.matrix_rows(item)
        row: _Row = {"name": item.id}
        if item.type in (ItemType.SINGLE, ItemType.MULTIPLE):
            kind = "select_one" if item.type is ItemType.SINGLE else "select_multiple"
            row["type"] = f"{kind} {item.choices}"
            if item.appearance.value == "dropdown":
                row["appearance"] = "minimal"
        elif item.type is ItemType.CONSENT:
            row["type"] = f"select_one {self.consent_list}"
            row[f"{VAKSTEM}_type"] = "consent"
            self.consent_used = True
        else:
            row["type"] = _TYPES[item.type]
        if item.type is ItemType.LONGTEXT:
            row["appearance"] = "multiline"
        if item.randomize:
            row["parameters"] = "randomize=true"
        self.texts(row, "label", item.text)
        self.texts(row, "hint", item.hint)
        row["required"] = _required(item.required)
        row["relevant"] = item.relevant or ""
        row["constraint"] = item.constraint or ""
        self.texts(row, "constraint_message", item.constraint_message)
        self.texts(row, f"{VAKSTEM}_short_label", item.label)
        if item.min is not None:
            row[f"{VAKSTEM}_min"] = _number(item.min)
        if item.max is not None:
            row[f"{VAKSTEM}_max"] = _number(item.max)
        if item.max_length is not None:
            row[f"{VAKSTEM}_max_length"] = item.max_length
        if item.open_text:
            row[f"{VAKSTEM}_open_text"] = "yes"
        return [row]

    def matrix_rows(self, item: Item) -> list[_Row]:
        begin: _Row = {"type": "begin group", "name": item.id, "appearance": "table-list"}
        self.texts(begin, "label", item.text)
        self.texts(begin, "hint", item.hint)
        self.texts(begin, f"{VAKSTEM}_short_label", item.label)
        begin["relevant"] = item.relevant or ""
        if item.randomize:
            begin["parameters"] = "randomize=true"
        rows = [begin]
        for matrix_row in item.rows:
            row: _Row = {"type": f"select_one {item.choices}", "name": matrix_row.id}
            self.texts(row, "label", matrix_row.text)
            self.texts(row, "hint", matrix_row.hint)
            self.texts(row, f"{VAKSTEM}_short_label", matrix_row.label)
            # XLSForm has no matrix-wide required or constraint: every row carries them.
            row["required"] = _required(item.required)
            row["constraint"] = item.constraint or ""
            self.texts(row, "constraint_message", item.constraint_message)
            rows.append(row)
        rows.append({"type": "end group", "name": item.id})
        return rows

    def survey(self) -> list[_Row]:
        rows: list[_Row] = []
        taken = {name for _p, item in self.study.items() for name in (item.id, *item.variables())}
        for page in self.study.pages:
            # ODK needs every name to be unique in the form; Vakstem's page ids are a namespace
            # of their own, so a page may be named like its question.
            name = page.id
            while name in taken:
                name += "_page"
            taken.add(name)
            begin: _Row = {"type": "begin group", "name": name, "appearance": "field-list"}
            if name != page.id:
                begin[f"{VAKSTEM}_id"] = page.id
            self.texts(begin, "label", page.title)
            begin["relevant"] = page.relevant or ""
            rows.append(begin)
            for item in page.items:
                rows.extend(self.item_rows(item))
            rows.append({"type": "end group", "name": name})
        return rows

    def choices(self) -> list[_Row]:
        rows: list[_Row] = []
        for list_name, choices in self.study.choice_lists.items():
            for choice in choices:
                row: _Row = {"list_name": list_name, "name": choice.code}
                self.texts(row, "label", choice.label)
                if choice.missing:
                    row[f"{VAKSTEM}_missing"] = "yes"
                rows.append(row)
        if self.consent_used:
            for code, index in ((1, 0), (0, 1)):
                row = {"list_name": self.consent_list, "name": code}
                for lang in self.languages:
                    label = _CONSENT_LABELS.get(lang, _CONSENT_LABELS["en"])[index]
                    row[f"label::{self.headers[lang]}"] = label
                rows.append(row)
        return rows

    def settings(self) -> list[_Row]:
        study = self.study
        return [
            {
                "form_title": text_in(study.title, study.default_language),
                "form_id": study.id,
                "version": study.version,
                "default_language": self.headers[study.default_language],
                "style": "pages",
            }
        ]

    def extras(self) -> list[_Row]:
        """The `vakstem` sheet: study-file fields that XLSForm has no place for."""
        data = self.study.model_dump(mode="json", exclude_defaults=True)
        rows: list[_Row] = []
        for key in ("title", "description", "closing", "sources", "settings", "scales"):
            value = data.get(key)
            if key == "title" and isinstance(value, str):
                continue
            if value is not None:
                rows.append({"key": key, "value": json.dumps(value, ensure_ascii=False)})
        for key in ("analysis", "privacy"):
            if data.get(key):
                rows.append({"key": key, "value": json.dumps(data[key], ensure_ascii=False)})
        return rows


def _columns(rows: list[_Row], first: list[str]) -> list[str]:
    """`first` in order, then every other column that has a value, in order of appearance."""
    columns = list(first)
    for row in rows:
        for key, value in row.items():
            if key not in columns and value not in ("", None):
                columns.append(key)
    return columns


def _sheet(book: Workbook, title: str, rows: list[_Row], first: list[str]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    columns = _columns(rows, first)
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([row.get(c, "") if row.get(c) is not None else "" for c in columns])
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            # A text starting with '=' would otherwise be stored as a formula.
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    sheet.freeze_panes = "C2" if title == "survey" else "A2"
    for index, column in enumerate(columns, start=1):
        longest = max([len(str(column)), *(len(str(r.get(column, ""))) for r in rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest + 2))


def xlsform_workbook(study: Study) -> Workbook:
    """The study as an openpyxl workbook with survey, choices, settings and vakstem sheets."""
    # openpyxl only when a workbook is made (see the reader): not at every command's start.
    from openpyxl import Workbook

    writer = _Writer(study)
    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    labels = [f"label::{writer.headers[lang]}" for lang in study.languages]
    survey = writer.survey()
    choices = writer.choices()
    _sheet(book, "survey", survey, ["type", "name", *labels])
    _sheet(book, "choices", choices, ["list_name", "name", *labels])
    _sheet(book, "settings", writer.settings(), [])
    extras = writer.extras()
    if extras:
        _sheet(book, VAKSTEM, extras, ["key", "value"])
    return book


def write_xlsform(study: Study, out: Path | BinaryIO) -> None:
    """Write the study as an XLSForm workbook to a path or a binary stream."""
    book = xlsform_workbook(study)
    save: Callable[[Any], None] = book.save
    save(out)
