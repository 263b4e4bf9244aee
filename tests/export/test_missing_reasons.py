"""Why a cell is empty, for the columns that cannot hold a code themselves (text, dates) and for
scale scores, read back from every format; and screened-out responses, whose empty items are
not applicable rather than dropped out."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from vakstem.export.formats import TableData, get_writer
from vakstem.export.missing import ExportError
from vakstem.export.table import Kind, TableLayout, reason_column

from .factories import ALL_PAGES, FULL, example_study, layout, record

NA, HIDDEN, DONT_KNOW, DROPPED = -9, -8, -7, -6


def _responses() -> list[Any]:
    """r1 answers everything; r2 leaves the date and an open answer empty, hides the rest;
    r3 drops out on the second page; r4 is screened out by a quota after the first page."""
    r2 = {k: v for k, v in FULL.items() if k not in ("in_dienst", "behoefte")}
    r2 |= {"functie": 2, "uren": 30, "afspraken": 0}
    r2 = {k: v for k, v in r2.items() if k not in ("functie_anders", "uren_toelichting")}
    r2 = {k: v for k, v in r2.items() if not k.startswith("pa_")}
    r2 |= {"br_1": None, "br_2": None}
    path2 = [p for p in ALL_PAGES if p != "afspraken_detail"]
    r3 = {k: FULL[k] for k in ("toestemming", "functie")}
    return [
        record("r1", FULL, path=ALL_PAGES),
        record("r2", r2, path=path2),
        record("r3", r3, status="active", path=["welkom"], current_page="achtergrond"),
        record("r4", {}, status="screened_out", path=["welkom"]),
    ]


#: The codes every format must show, by response and column.
EXPECTED: dict[str, dict[str, int | None]] = {
    "r1": {"in_dienst_mis": None, "behoefte_mis": None, "functie_anders_mis": None,
           "uren_toelichting_mis": None},
    "r2": {"in_dienst_mis": NA, "behoefte_mis": NA, "functie_anders_mis": HIDDEN,
           "uren_toelichting_mis": HIDDEN, "beslisruimte": NA, "prestatiedruk": HIDDEN},
    "r3": {"in_dienst_mis": DROPPED, "behoefte_mis": DROPPED, "functie_anders_mis": DROPPED,
           "beslisruimte": DROPPED, "prestatiedruk": DROPPED, "provincie": DROPPED},
    "r4": {"in_dienst_mis": HIDDEN, "behoefte_mis": HIDDEN, "functie": HIDDEN,
           "toestemming": HIDDEN, "br_1": HIDDEN, "overleg_1": HIDDEN, "beslisruimte": HIDDEN,
           "uren": HIDDEN},
}  # fmt: skip


def _layout() -> TableLayout:
    return layout(open_text=True, with_scores=True, completed_only=False)


def _write(fmt: str, tmp_path: Path) -> tuple[TableLayout, Path]:
    lay = _layout()
    rows = lay.rows(_responses())
    path = tmp_path / f"reasons{get_writer(fmt).suffix}"
    get_writer(fmt).write(TableData(lay, iter([rows[:2], rows[2:]]), len(rows)), path)
    return lay, path


def _check(got: dict[str, dict[str, Any]]) -> None:
    for rid, expected in EXPECTED.items():
        for name, want in expected.items():
            value = got[rid][name]
            if want is None:
                assert value is None or value == "" or pd.isna(value), (rid, name, value)
            else:
                assert value == want, (rid, name, value, want)


def test_text_and_date_columns_are_followed_by_their_reason_column() -> None:
    lay = _layout()
    names = lay.names
    for variable in ("in_dienst", "behoefte", "functie_anders", "uren_toelichting"):
        companion = names.index(reason_column(variable))
        assert names[companion - 1] == variable
        col = lay.columns[companion]
        assert col.kind is Kind.CODE and col.has_missing_codes and col.role == "reason"
        assert col.value_labels[NA] == "niet beantwoord"
    assert lay.columns[names.index("in_dienst_mis")].label == "Waarom leeg: Datum in dienst"
    # Without open answers there are no open-answer columns, and so no companions either.
    assert "behoefte_mis" not in layout().names and "in_dienst_mis" in layout().names


def test_reason_column_names_stay_within_statas_32_characters() -> None:
    assert reason_column("a" * 32) == "a" * 28 + "_mis"
    assert reason_column("behoefte") == "behoefte_mis"


def test_rows_carry_the_reason_of_each_empty_text_date_and_score() -> None:
    lay = _layout()
    rows = {r[0]: dict(zip(lay.names, r, strict=True)) for r in lay.rows(_responses())}
    _check(rows)
    # The text and date cells themselves stay empty: a code never pretends to be a date.
    assert rows["r2"]["in_dienst"] is None and rows["r2"]["behoefte"] is None
    assert rows["r1"]["in_dienst"] == dt.date(2019, 4, 1)


def test_screened_out_items_are_not_applicable_while_withdrawn_ones_dropped_out() -> None:
    lay = layout()
    screened = record("s", {}, status="screened_out", path=["welkom", "achtergrond"])
    withdrawn = record("w", {}, status="withdrawn", path=["welkom", "achtergrond"])
    for rec, code in ((screened, HIDDEN), (withdrawn, DROPPED)):
        reasons = set(lay.reasons(rec).values())
        assert reasons == {lay.codes.by_code()[code]}, rec.status
        row = dict(zip(lay.names, lay.row(rec), strict=True))
        assert row["provincie"] == code and row["br_1"] == code and row["overleg_1"] == code


def test_csv_and_pandas_read_the_reason_codes(tmp_path: Path) -> None:
    _lay, path = _write("csv", tmp_path)
    with path.open(encoding="utf-8", newline="") as fh:
        raw = {r["response_id"]: r for r in csv.DictReader(fh)}
    assert raw["r2"]["in_dienst"] == "" and raw["r2"]["in_dienst_mis"] == "-9"
    frame = pd.read_csv(path)
    assert pd.api.types.is_numeric_dtype(frame["in_dienst_mis"])
    assert pd.api.types.is_numeric_dtype(frame["beslisruimte"])
    _check(frame.set_index("response_id").to_dict("index"))


def test_sav_declares_reason_and_score_codes_user_missing(tmp_path: Path) -> None:
    _lay, path = _write("sav", tmp_path)
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    _check(frame.set_index("response_id").to_dict("index"))
    for name in ("in_dienst_mis", "behoefte_mis", "beslisruimte"):
        assert meta.missing_ranges[name] == [{"lo": -9.0, "hi": -6.0}], name
    assert meta.variable_value_labels["in_dienst_mis"][-6.0] == "afgehaakt vóór deze pagina"
    assert meta.variable_value_labels["beslisruimte"][-8.0].startswith("niet van toepassing")
    # Read as SPSS analyses it, every code is missing: no score of -9 enters a mean.
    plain, _ = pyreadstat.read_sav(str(path))
    assert plain["beslisruimte"].dropna().between(1, 5).all()
    assert plain["in_dienst_mis"].isna().all()


def test_dta_gives_reason_and_score_codes_as_extended_missing(tmp_path: Path) -> None:
    _lay, path = _write("dta", tmp_path)
    frame, meta = pyreadstat.read_dta(str(path), user_missing=True)
    letters = {"a": NA, "b": HIDDEN, "c": DONT_KNOW, "d": DROPPED}
    got = frame.set_index("response_id").to_dict("index")
    for row in got.values():
        for name, value in row.items():
            if isinstance(value, str) and value in letters and name not in ("language",):
                row[name] = letters[value]
    _check(got)
    assert frame.set_index("response_id").loc["r2", "beslisruimte"] == "a"
    assert meta.variable_value_labels["in_dienst_mis"]["d"] == "afgehaakt vóór deze pagina"
    plain, _ = pyreadstat.read_dta(str(path))
    assert plain["beslisruimte"].dropna().between(1, 5).all()


def test_parquet_holds_reason_codes_as_integers(tmp_path: Path) -> None:
    _lay, path = _write("parquet", tmp_path)
    table = pq.read_table(path)
    assert str(table.schema.field("in_dienst_mis").type) == "int32"
    assert str(table.schema.field("in_dienst").type) == "date32[day]"
    _check({r["response_id"]: r for r in table.to_pylist()})


def test_scale_that_could_score_a_missing_code_is_refused() -> None:
    study = example_study()
    lists = dict(study.choice_lists)
    name = next(i.choices for _p, i in study.items() if "br_1" in i.variables())
    assert name is not None
    # Answer codes -15 … -11 do not clash with the missing codes, but their mean can lie
    # below them.
    lists[name] = tuple(
        c.model_copy(update={"code": c.code - 16}) if not c.missing else c for c in lists[name]
    )
    shifted = study.model_copy(update={"choice_lists": lists})
    with pytest.raises(ExportError, match="scale 'beslisruimte' can score -15"):
        layout(shifted, with_scores=True)
