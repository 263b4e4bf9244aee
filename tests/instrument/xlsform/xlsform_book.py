"""Builds XLSForm fixture workbooks from Python lists (first list: the header row), so that each
test shows the form it imports; and compares studies text by text in every language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook

from vakstem.instrument.schema import Study, text_in

Sheet = list[list[Any]]

NL = "label::Nederlands (nl)"
EN = "label::English (en)"

TEXT_FIELDS = frozenset(
    {"label", "text", "hint", "title", "description", "closing", "constraint_message"}
)


def make_form(
    path: Path,
    survey: Sheet,
    choices: Sheet | None = None,
    settings: Sheet | None = None,
    **other: Sheet,
) -> Path:
    """Write a workbook with the given sheets (None leaves a sheet out) and return its path."""
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    sheets = {"survey": survey, "choices": choices, "settings": settings, **other}
    for title, rows in sheets.items():
        if rows is None:
            continue
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def comparable(study: Study) -> dict[str, Any]:
    """The study as data with every text spelled out in every language: two studies are
    equivalent when these are equal (a plain string means the same text in each language)."""
    languages = study.languages

    def fix(value: Any, key: str | None = None) -> Any:
        if key in TEXT_FIELDS and isinstance(value, str):
            return {lang: value for lang in languages}
        if key in TEXT_FIELDS and isinstance(value, dict):
            return {lang: text_in(value, lang) for lang in languages}
        if isinstance(value, dict):
            return {k: fix(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    result: dict[str, Any] = fix(study.model_dump(mode="json", exclude_defaults=True))
    return result
