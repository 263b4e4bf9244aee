"""Exports from the store on SQLite and PostgreSQL: responses made through the real respondent
service, exported by `export_to_file`, read back and compared with the stored answers."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pyreadstat
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.export.api import export_to_file, stream_export
from vakstem.export.missing import ExportError
from vakstem.export.table import ExportOptions
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseState, SubmitResult
from vakstem.store import open_database, tables
from vakstem.store.studies import load_study, set_status
from vakstem.store.tables import answers

from .factories import EXAMPLE, example_study

T0 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)

WELKOM = {"toestemming": 1}
ACHTERGROND = {
    "functie": 2,
    "provincie": 7,
    "ervaring": 12,
    "uren": 38.5,
    "in_dienst": "2019-04-01",
}
WERK = {
    "overleg": [1, 3], "overleg_keer": 4, "br_1": 5, "br_2": 4, "br_3": 2, "br_4": 9,
    "afspraken": 1,
}  # fmt: skip
DETAIL = {"pa_1": 3, "pa_2": 2, "pa_3": 5, "pa_aantal": 20}
SLOT = {"uren_toelichting": "Veel overwerk", "behoefte": "Minder administratie, meer tijd"}


class Clock:
    """A clock that moves a minute on every reading, so durations are known."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(minutes=1)
        return self.now


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    load_study(engine, example_study(), EXAMPLE.read_text("utf-8"))
    set_status(engine, "voorbeeld", "open")
    yield engine
    engine.dispose()


def ok(result: SubmitResult) -> ResponseState:
    assert result.ok, result.errors
    return result.state


def answer(service: ResponseService, pages: list[tuple[str, dict[str, Any]]], **start: Any) -> str:
    state = service.start("voorbeeld", **start)
    for page_id, values in pages:
        assert state.page is not None and state.page.page.id == page_id
        state = ok(service.submit_page(state.id, page_id, values))
    return state.id


@pytest.fixture
def responses(engine: Engine) -> dict[str, str]:
    """Five responses: complete, skipping/hidden/weet-ik-niet, dropout, test, refusal."""
    service = ResponseService(engine, clock=Clock())
    full = [
        ("welkom", WELKOM), ("achtergrond", ACHTERGROND), ("werk", WERK),
        ("afspraken_detail", DETAIL), ("tot_slot", SLOT),
    ]  # fmt: skip
    skipper = [
        ("welkom", WELKOM),
        ("achtergrond", {k: v for k, v in ACHTERGROND.items() if k != "provincie"}),
        ("werk", {**{k: v for k, v in WERK.items() if k != "overleg_keer"},
                  "overleg": [-1], "afspraken": 0}),
        ("tot_slot", {}),
    ]  # fmt: skip
    ids = {
        "full": answer(service, full, source="nieuwsbrief"),
        "skipper": answer(service, skipper, language="en"),
        "dropout": answer(service, full[:2]),
        "test": answer(service, full, test=True),
    }
    refused = service.start("voorbeeld")
    ok(service.submit_page(refused.id, "welkom", {"toestemming": 0}))
    ids["refused"] = refused.id
    return ids


def stored_answers(engine: Engine, response_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.variable, answers.c.value).where(
                answers.c.response_id == response_id
            )
        ).all()
    return {variable: value for variable, value in rows}


def expected_cells(engine: Engine, response_id: str) -> dict[str, Any]:
    """The export's cells for a response's stored answers, derived from the questionnaire."""
    study = example_study()
    cells: dict[str, Any] = {}
    for variable, value in stored_answers(engine, response_id).items():
        item = next(it for _p, it in study.items() if variable in it.variables())
        choices = study.choices_of(item)
        if item.type.value == "multiple":
            for choice in choices:
                suffix = str(choice.code) if choice.code >= 0 else f"m{-choice.code}"
                cells[f"{variable}_{suffix}"] = int(choice.code in value)
        elif any(c.missing and c.code == value for c in choices):
            cells[variable] = -7
        elif item.type.value == "date":
            cells[variable] = dt.date.fromisoformat(value)
        else:
            cells[variable] = value
    return cells


#: The missing reasons the scenario must produce, per response.
MISSING = {
    "full": {"br_4": -7},
    "skipper": {"provincie": -9, "overleg_keer": -8, "pa_1": -8, "pa_aantal": -8, "br_4": -7},
    "dropout": {"overleg_1": -6, "br_1": -6, "afspraken": -6, "pa_1": -6},
}


def read_back(fmt: str, path: Path) -> list[dict[str, Any]]:
    """The file's rows as dicts, missing codes as their numbers, with the researcher's reader."""
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return [dict(r) for r in csv.DictReader(fh)]
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True)["data"]
        rows = list(sheet.iter_rows(values_only=True))
        header = list(rows[0])
        return [
            dict(zip(header, list(r) + [None] * (len(header) - len(r)), strict=True))
            for r in rows[1:]
        ]
    if fmt == "sav":
        frame, _ = pyreadstat.read_sav(str(path), user_missing=True)
        return list(frame.to_dict("records"))
    if fmt == "dta":
        frame, _ = pyreadstat.read_dta(str(path), user_missing=True)
        letters = {"a": -9, "b": -8, "c": -7, "d": -6}
        return [
            {
                k: letters.get(v, v) if isinstance(v, str) and len(v) == 1 else v
                for k, v in r.items()
            }
            for r in frame.to_dict("records")
        ]
    return list(pq.read_table(path).to_pylist())


def same(got: Any, want: Any) -> bool:
    if isinstance(want, dt.date):
        if isinstance(got, str):
            return got == want.isoformat()
        if isinstance(got, dt.datetime):
            return got.date() == want
        return bool(got == want)
    if isinstance(want, str):
        return bool(got == want)
    if isinstance(got, str):
        return float(got) == float(want)
    return not (isinstance(got, float) and math.isnan(got)) and float(got) == float(want)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "sav", "dta", "parquet"])
def test_export_matches_stored_answers_cell_by_cell(
    engine: Engine, responses: dict[str, str], fmt: str, tmp_path: Path
) -> None:
    out = tmp_path / f"voorbeeld.{fmt}"
    result = export_to_file(
        engine, "voorbeeld", fmt, out, ExportOptions(completed_only=False, open_text=True)
    )
    rows = {r["response_id"]: r for r in read_back(fmt, out)}
    # Not the test response (no --include-test); the refusal is kept with --all.
    assert set(rows) == {responses[k] for k in ("full", "skipper", "dropout", "refused")}
    assert result.rows == 4
    for name in ("full", "skipper", "dropout"):
        row = rows[responses[name]]
        want = expected_cells(engine, responses[name]) | MISSING[name]
        for column, value in want.items():
            assert same(row[column], value), (fmt, name, column, row[column], value)
    full = rows[responses["full"]]
    assert full["source"] == "nieuwsbrief" and full["status"] == "completed"
    with engine.connect() as conn:
        times = conn.execute(
            sa.select(tables.responses.c.started_at, tables.responses.c.completed_at).where(
                tables.responses.c.id == responses["full"]
            )
        ).one()
    assert same(full["duration_s"], (times.completed_at - times.started_at).total_seconds())
    assert rows[responses["skipper"]]["language"] == "en"
    assert rows[responses["dropout"]]["status"] == "active"
    assert same(rows[responses["refused"]]["br_1"], -6)


def test_completed_only_is_the_default_and_test_responses_need_asking(
    engine: Engine, responses: dict[str, str], tmp_path: Path
) -> None:
    default = export_to_file(engine, "voorbeeld", "csv", tmp_path / "a.csv", ExportOptions())
    assert default.rows == 2
    with_test = export_to_file(
        engine, "voorbeeld", "csv", tmp_path / "b.csv", ExportOptions(include_test=True)
    )
    assert with_test.rows == 3
    ids = {r["response_id"] for r in read_back("csv", tmp_path / "b.csv")}
    assert responses["test"] in ids and responses["dropout"] not in ids


def test_manifest_names_the_study_filters_counts_and_the_file_hash(
    engine: Engine, responses: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "voorbeeld.sav"
    result = export_to_file(engine, "voorbeeld", "sav", out, ExportOptions(with_scores=True))
    manifest = json.loads(result.manifest.read_text("utf-8"))
    assert result.manifest == tmp_path / "voorbeeld.sav.manifest.json"
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["rows"] == 2 and manifest["columns"] == result.columns
    assert manifest["study"]["id"] == "voorbeeld"
    assert manifest["instrument_versions"] == [manifest["study"]["current_version"]]
    assert manifest["filters"]["completed_only"] is True
    assert manifest["filters"]["with_scores"] is True
    assert manifest["vakstem_version"] == "0.1.0"
    assert dt.datetime.fromisoformat(manifest["created_at"]).tzinfo is not None


def test_csv_manifest_also_hashes_the_codebook(
    engine: Engine, responses: dict[str, str], tmp_path: Path
) -> None:
    result = export_to_file(engine, "voorbeeld", "csv", tmp_path / "v.csv", ExportOptions())
    manifest = json.loads(result.manifest.read_text("utf-8"))
    book = tmp_path / "v.codebook.csv"
    assert manifest["companions"] == [
        {"file": "v.codebook.csv", "sha256": hashlib.sha256(book.read_bytes()).hexdigest()}
    ]


def test_study_without_responses_exports_the_columns_and_no_rows(
    engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "leeg.sav"
    result = export_to_file(engine, "voorbeeld", "sav", out, ExportOptions())
    frame, meta = pyreadstat.read_sav(str(out))
    assert result.rows == 0 and len(frame) == 0
    assert list(frame.columns)[:2] == ["response_id", "instrument_version"]
    assert meta.column_names_to_labels["functie"].startswith("Waar ligt")


def test_unknown_study_is_named_in_the_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no study 'onbekend' in this database"):
        export_to_file(engine, "onbekend", "csv", tmp_path / "x.csv", ExportOptions())
    assert not (tmp_path / "x.csv").exists()


def test_existing_file_is_kept_unless_forced(
    engine: Engine, responses: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "v.dta"
    out.write_bytes(b"earlier work")
    with pytest.raises(ExportError, match=r"already exist.*--force"):
        export_to_file(engine, "voorbeeld", "dta", out, ExportOptions())
    assert out.read_bytes() == b"earlier work"
    export_to_file(engine, "voorbeeld", "dta", out, ExportOptions(), force=True)
    frame, _ = pyreadstat.read_dta(str(out))
    assert len(frame) == 2


def test_output_in_a_missing_folder_is_refused(engine: Engine, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="does not exist"):
        export_to_file(engine, "voorbeeld", "csv", blocker / "x.csv", ExportOptions())


def test_stream_gives_the_same_bytes_as_the_file(
    engine: Engine, responses: dict[str, str], tmp_path: Path
) -> None:
    options = ExportOptions(completed_only=False)
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"v.{fmt}"
        export_to_file(engine, "voorbeeld", fmt, out, options, chunk_size=2)
        streamed = b"".join(stream_export(engine, "voorbeeld", fmt, options, chunk_size=2))
        if fmt == "csv":
            assert streamed == out.read_bytes()
        else:
            path = tmp_path / "streamed.parquet"
            path.write_bytes(streamed)
            assert pq.read_table(path).equals(pq.read_table(out))


def test_download_names_the_file_and_its_content_type_before_sending(
    engine: Engine, responses: dict[str, str]
) -> None:
    from vakstem.export.api import download

    d = download(engine, "voorbeeld", "sav", ExportOptions())
    assert d.filename == "voorbeeld.sav" and d.media_type == "application/x-spss-sav"
    data = b"".join(d.chunks)
    assert data[:4] == b"$FL2"  # an SPSS system file
    with pytest.raises(ExportError, match="no study 'x'"):
        download(engine, "x", "sav", ExportOptions())


def test_every_stored_value_reaches_the_file_exactly(
    engine: Engine, responses: dict[str, str], tmp_path: Path
) -> None:
    """Answers are read one row per response, with the values as one JSON array: a decimal
    that needs all 17 digits, text with the array's and the names' separators and quotes, and
    a response without answers come through unchanged on both databases."""
    full, dropout = responses["full"], responses["dropout"]
    tricky = 'komma, "quote", \x1f eenheid ] [1,2] café \\ 😀'
    with engine.begin() as conn:
        for rid, variable, value in [
            (full, "uren", 0.30000000000000004),
            (dropout, "uren", 38.123456789012344),
            (full, "behoefte", tricky),
        ]:
            conn.execute(
                answers.update()
                .where((answers.c.response_id == rid) & (answers.c.variable == variable))
                .values(value=value)
            )
        conn.execute(answers.delete().where(answers.c.response_id == responses["refused"]))
    out = tmp_path / "voorbeeld.parquet"
    export_to_file(
        engine, "voorbeeld", "parquet", out, ExportOptions(completed_only=False, open_text=True)
    )
    rows = {r["response_id"]: r for r in read_back("parquet", out)}
    assert rows[full]["uren"] == 0.30000000000000004
    assert rows[dropout]["uren"] == 38.123456789012344
    assert rows[full]["behoefte"] == tricky
    assert rows[full]["ervaring"] == 12 and rows[full]["overleg_1"] == 1
    assert rows[responses["refused"]]["toestemming"] == -6
