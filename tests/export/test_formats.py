"""Every format read back with the tool a researcher uses, compared cell by cell and label by label.

The rows come from in-memory responses to the example study (the storage path is tested in
test_export_store.py); what is compared is the file against the tidy table and hand-written
expectations, including each missing reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pyreadstat
import pytest

from vakstem.export.formats import FORMATS, TableData, get_writer
from vakstem.export.missing import ExportError
from vakstem.export.table import Kind, ResponseRecord, TableLayout

from .factories import ALL_PAGES, FULL, example_study, layout, record


def records() -> list[ResponseRecord]:
    skipped = {k: v for k, v in FULL.items() if k not in ("provincie", "overleg_keer")}
    skipped = {k: v for k, v in skipped.items() if not k.startswith("pa_")}
    skipped |= {"overleg": [-1], "afspraken": 0, "br_4": 9}
    dropout = {k: FULL[k] for k in ("toestemming", "functie", "provincie", "ervaring")}
    return [
        record("r1", FULL, path=ALL_PAGES, source="nieuwsbrief"),
        record("r2", skipped, path=[p for p in ALL_PAGES if p != "afspraken_detail"]),
        record("r3", dropout, status="active", path=["welkom", "achtergrond"], current_page="werk"),
    ]


#: What the three responses must show, by column, whatever the format.
EXPECTED = {
    "r1": {"functie": 6, "provincie": 7, "overleg_3": 1, "overleg_keer": 4, "br_4": -7,
           "pa_1": 3, "uren": 36.5, "ervaring": 12},
    "r2": {"provincie": -9, "overleg_m1": 1, "overleg_1": 0, "overleg_keer": -8, "pa_1": -8,
           "pa_aantal": -8, "br_4": -7, "afspraken": 0},
    "r3": {"provincie": 7, "uren": -9, "br_1": -6, "overleg_1": -6, "pa_1": -6},
}  # fmt: skip


def write(fmt: str, tmp_path: Path, lay: TableLayout, chunk: int = 2) -> tuple[Path, list[Any]]:
    rows = [lay.row(r) for r in records()]
    chunks = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    writer = get_writer(fmt)
    path = tmp_path / f"export{writer.suffix}"
    seen: list[int] = []
    companions = writer.write(TableData(lay, iter(chunks), len(rows), seen.append), path)
    assert sum(seen) == len(rows)
    return path, [rows, companions]


def _same_number(got: Any, want: Any) -> bool:
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got)) or got == ""
    return float(got) == float(want)


def check_cells(lay: TableLayout, rows: list[Any], got: list[dict[str, Any]]) -> None:
    assert len(got) == len(rows)
    for want_row, got_row in zip(rows, got, strict=True):
        assert list(got_row) == lay.names
        for col, want in zip(lay.columns, want_row, strict=True):
            value = got_row[col.name]
            where = f"{want_row[0]}.{col.name}"
            if col.kind in (Kind.CODE, Kind.INTEGER, Kind.DECIMAL):
                assert _same_number(value, want), (where, value, want)
            elif col.kind is Kind.DATE:
                if want is None:
                    assert value is None or value == "" or value != value, where
                else:
                    assert value == want, (where, value, want)
            elif col.kind is Kind.DATETIME:
                if want is None:
                    assert value is None or value == "" or str(value) == "NaT", where
                else:
                    assert value.replace(tzinfo=None) == want, (where, value, want)
            else:
                assert (value or "") == (want or ""), (where, value, want)
    by_id = {r["response_id"]: r for r in got}
    for rid, expected in EXPECTED.items():
        for name, want in expected.items():
            assert float(by_id[rid][name]) == want, (rid, name)


def test_csv_reads_back_with_the_csv_module(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    path, (rows, companions) = write("csv", tmp_path, lay)
    with path.open(encoding="utf-8", newline="") as fh:
        got_text = list(csv.DictReader(fh))
    got: list[dict[str, Any]] = []
    for row in got_text:
        parsed: dict[str, Any] = {}
        for col in lay.columns:
            raw = row[col.name]
            if col.kind is Kind.DATE:
                parsed[col.name] = dt.date.fromisoformat(raw) if raw else None
            elif col.kind is Kind.DATETIME:
                parsed[col.name] = dt.datetime.fromisoformat(raw) if raw else None
            elif col.kind in (Kind.CODE, Kind.INTEGER, Kind.DECIMAL):
                parsed[col.name] = float(raw) if raw else None
            else:
                parsed[col.name] = raw
        got.append(parsed)
    check_cells(lay, rows, got)
    assert got_text[0]["uren_toelichting"] == "Veel overwerk"
    assert companions == [tmp_path / "export.codebook.csv"]
    with companions[0].open(encoding="utf-8", newline="") as fh:
        book = {r["variable"]: r for r in csv.DictReader(fh)}
    assert list(book) == lay.names
    assert book["br_4"]["values"].startswith("1 = Helemaal oneens; 2 = Oneens")
    assert "-7 = Weet ik niet [9]" in book["br_4"]["missing_values"]
    assert "-6 = afgehaakt vóór deze pagina" in book["br_4"]["missing_values"]
    assert book["in_dienst"]["type"] == "date" and book["in_dienst"]["missing_values"] == ""


def test_xlsx_has_data_labels_and_codebook_sheets(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    path, (rows, _) = write("xlsx", tmp_path, lay)
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["data", "labels", "codebook"]
    data = list(wb["data"].iter_rows(values_only=True))
    assert list(data[0]) == lay.names
    got = []
    for values in data[1:]:
        # Read-only mode drops empty cells at the end of a row.
        padded = list(values) + [None] * (len(lay.names) - len(values))
        row = dict(zip(lay.names, padded, strict=True))
        for col in lay.columns:
            if col.kind is Kind.DATE and isinstance(row[col.name], dt.datetime):
                row[col.name] = row[col.name].date()
        got.append(row)
    check_cells(lay, rows, got)
    labels = {(v, c): t for v, c, t in list(wb["labels"].iter_rows(values_only=True))[1:]}
    assert labels[("functie", 6)] == "Anders"
    assert labels[("br_4", -7)] == "Weet ik niet [9]"
    assert labels[("overleg_1", 1)] == "gekozen"
    book = list(wb["codebook"].iter_rows(values_only=True))
    assert book[0][:2] == ("variable", "label") and [r[0] for r in book[1:]] == lay.names


def test_sav_carries_labels_user_missing_measure_and_width(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    path, (rows, _) = write("sav", tmp_path, lay)
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    got = frame.to_dict("records")
    for row in got:  # pyreadstat gives pandas timestamps
        for name in ("started_at", "completed_at"):
            row[name] = None if str(row[name]) == "NaT" else row[name].to_pydatetime()
    check_cells(lay, rows, got)
    assert meta.column_names_to_labels["functie"] == "Waar ligt het zwaartepunt van uw werk?"
    assert meta.variable_value_labels["br_4"][5.0] == "Helemaal eens"
    assert meta.variable_value_labels["br_4"][-7.0] == "Weet ik niet [9]"
    assert meta.variable_value_labels["pa_1"][-8.0].startswith("niet van toepassing")
    assert meta.missing_ranges["br_1"] == [{"lo": -9.0, "hi": -6.0}]
    assert "in_dienst" not in meta.missing_ranges
    assert meta.variable_measure["br_1"] == "ordinal"
    assert meta.variable_measure["overleg_1"] == "nominal"
    assert meta.variable_measure["uren"] == "scale"
    assert meta.variable_display_width["response_id"] == 24
    # Without user_missing the codes are missing, as SPSS treats them.
    plain, _ = pyreadstat.read_sav(str(path))
    assert math.isnan(plain.loc[1, "provincie"]) and plain.loc[0, "provincie"] == 7


def test_sav_of_a_multilingual_study_carries_the_chosen_language(tmp_path: Path) -> None:
    lay = layout(language="en")
    path, _ = write("sav", tmp_path, lay)
    _frame, meta = pyreadstat.read_sav(str(path), user_missing=True, metadataonly=True)
    assert meta.column_names_to_labels["functie"] == "What is the main focus of your work?"
    assert meta.column_names_to_labels["ervaring"] == "Years of experience"
    assert meta.variable_value_labels["functie"][2.0] == "Income"
    assert meta.variable_value_labels["br_4"][-7.0] == "Don't know [9]"
    assert meta.variable_value_labels["br_4"][-9.0] == "not answered"
    assert meta.variable_value_labels["toestemming"][1.0] == "yes"


def test_dta_writes_missing_codes_as_extended_missing_values(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    path, (rows, _) = write("dta", tmp_path, lay)
    frame, meta = pyreadstat.read_dta(str(path), user_missing=True)
    letters = {"a": -9, "b": -8, "c": -7, "d": -6}
    got = frame.to_dict("records")
    for row in got:
        for col in lay.columns:
            if col.has_missing_codes and isinstance(row[col.name], str):
                row[col.name] = letters[row[col.name]]
        for name in ("started_at", "completed_at"):
            row[name] = None if str(row[name]) == "NaT" else row[name].to_pydatetime()
    check_cells(lay, rows, got)
    assert frame.loc[1, "provincie"] == "a" and frame.loc[1, "pa_1"] == "b"
    assert frame.loc[0, "br_4"] == "c" and frame.loc[2, "br_1"] == "d"
    assert meta.column_names_to_labels["afspraken"].startswith("Heeft u prestatieafspraken")
    labels = meta.variable_value_labels["br_4"]
    assert labels[5] == "Helemaal eens" and labels["c"] == "Weet ik niet [9]"
    assert labels["a"] == "niet beantwoord"
    plain, _ = pyreadstat.read_dta(str(path))
    assert math.isnan(plain.loc[1, "provincie"])


def test_parquet_keeps_types_and_labels_in_its_schema(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    path, (rows, _) = write("parquet", tmp_path, lay, chunk=1)
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    check_cells(lay, rows, table.to_pylist())
    assert str(table.schema.field("functie").type) == "int32"
    assert str(table.schema.field("in_dienst").type) == "date32[day]"
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    field_meta = table.schema.field("br_4").metadata
    assert json.loads(field_meta[b"value_labels"])["-7"] == "Weet ik niet [9]"
    document = json.loads(table.schema.metadata[b"vakstem"])
    assert document["missing_codes"]["dropped_out"] == -6
    assert document["columns"]["functie"]["label"] == "Waar ligt het zwaartepunt van uw werk?"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_responses_gives_a_valid_file_with_the_columns(fmt: str, tmp_path: Path) -> None:
    lay = layout()
    writer = get_writer(fmt)
    path = tmp_path / f"empty{writer.suffix}"
    writer.write(TableData(lay, iter([]), 0), path)
    if fmt == "csv":
        assert path.read_text("utf-8").strip() == ",".join(lay.names)
    elif fmt == "xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        assert [list(r) for r in wb["data"].iter_rows(values_only=True)] == [lay.names]
    elif fmt == "parquet":
        table = pq.read_table(path)
        assert table.num_rows == 0 and table.column_names == lay.names
    else:
        reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
        frame, meta = reader(str(path))
        assert len(frame) == 0 and list(frame.columns) == lay.names
        assert meta.column_names_to_labels["functie"].startswith("Waar ligt")


def test_unknown_format_is_refused_with_the_list_of_formats() -> None:
    with pytest.raises(ExportError, match="unknown format 'spss'; choose one of csv, xlsx"):
        get_writer("spss")


def test_xlsx_keeps_open_answers_as_text_even_with_formulas_or_control_characters(
    tmp_path: Path,
) -> None:
    lay = layout(open_text=True)
    tricky = {**FULL, "behoefte": '=HYPERLINK("http://x")', "functie_anders": "a\x0bb"}
    rows = [lay.row(record("r1", tricky, path=ALL_PAGES))]
    path = tmp_path / "t.xlsx"
    get_writer("xlsx").write(TableData(lay, iter([rows]), 1), path)
    sheet = openpyxl.load_workbook(path)["data"]
    header = [c.value for c in sheet[1]]
    cells = {name: sheet.cell(row=2, column=i + 1) for i, name in enumerate(header)}
    assert cells["behoefte"].value == '=HYPERLINK("http://x")'
    assert cells["behoefte"].data_type == "s"
    assert cells["functie_anders"].value == "ab"


def test_dta_shortens_labels_to_statas_80_characters(tmp_path: Path) -> None:
    study = example_study()
    long_label = "Een heel lange omschrijving " * 5
    page = study.pages[1]
    item = page.items[3].model_copy(update={"label": long_label})
    pages = list(study.pages)
    pages[1] = page.model_copy(update={"items": (*page.items[:3], item, *page.items[4:])})
    lay = layout(study.model_copy(update={"pages": tuple(pages)}))
    path = tmp_path / "l.dta"
    get_writer("dta").write(TableData(lay, iter([[lay.row(records()[0])]]), 1), path)
    _frame, meta = pyreadstat.read_dta(str(path))
    label = meta.column_names_to_labels["ervaring"]
    assert len(label) == 80 and label.endswith("…") and long_label.startswith(label[:-1])


@pytest.mark.parametrize("total", [None, 1, 3, 10])
def test_gathered_frame_is_the_same_whatever_row_count_was_expected(total: int | None) -> None:
    from vakstem.export.formats._frame import gather_frame

    lay = layout(open_text=True)
    rows = [lay.row(r) for r in records()]
    frame = gather_frame(TableData(lay, iter([rows[:1], rows[1:]]), total))
    assert len(frame) == 3 and list(frame.columns) == lay.names
    assert frame["response_id"].tolist() == ["r1", "r2", "r3"]
    assert frame["provincie"].tolist() == [7.0, -9.0, 7.0]
    assert frame["uren_toelichting"].tolist() == ["Veel overwerk", "Veel overwerk", ""]
