"""The streamed .sav and .dta writers against pyreadstat writing the whole table as one frame.

The reference is what the writers did before they streamed: `gather_frame` and one call to
`pyreadstat.write_sav` / `write_dta` with the same labels. Both files are read back with
pyreadstat (and .dta with pandas.read_stata), as a researcher would, and compared cell by cell
and in every piece of metadata, and byte by byte apart from the creation time. Memory tests
check that a writer's peak allocation does not grow with the number of rows.
"""

from __future__ import annotations

import datetime as dt
import random
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa

import vakstem
from vakstem.export.api import _rows, build_layout, export_to_file
from vakstem.export.database import ResponseReader, open_source
from vakstem.export.formats import TableData, get_writer
from vakstem.export.formats._frame import DEFAULT_CONVERTERS, Converter, gather_frame
from vakstem.export.formats.dta_format import dta_options
from vakstem.export.formats.sav_format import sav_options
from vakstem.export.table import Cell, Column, ExportOptions, Row, TableLayout
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import ItemType, Study
from vakstem.store import open_database
from vakstem.store.studies import load_study
from vakstem.store.tables import answers, responses

from .factories import ALL_PAGES, FULL, layout, record

KLANTMANAGERS = Path(vakstem.__file__).parent / "studies" / "klantmanagers" / "study.yaml"
FORMATS = ["sav", "dta"]

LONG = "é" * 200 + "x" * 100 + "ü"  # 503 bytes in UTF-8: an SPSS very long string
HUGE = "Zoë ☕ " * 400 + "einde"  # 3,605 bytes: fifteen SPSS segments, a Stata strL


def chunked(rows: Sequence[Row], size: int) -> list[Sequence[Row]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _lettered(lay: TableLayout) -> Callable[[Column], Converter]:
    """The whole-frame .dta writer's columns: missing codes as Stata letters in object columns."""
    letters = {code: lay.codes.stata_letter(code) for code in lay.codes.all()}

    def convert(_col: Column, cells: Sequence[Cell]) -> np.ndarray[Any, Any]:
        out = np.empty(len(cells), dtype=object)
        out[:] = [
            letters.get(c, c) if isinstance(c, int) else (np.nan if c is None else c) for c in cells
        ]
        return out

    return lambda col: convert if col.has_missing_codes else DEFAULT_CONVERTERS[col.kind]


def write_whole(fmt: str, lay: TableLayout, chunks: Iterator[Sequence[Row]], path: Path) -> None:
    """The reference: the whole table gathered into one frame, written by pyreadstat."""
    if fmt == "sav":
        pyreadstat.write_sav(gather_frame(TableData(lay, chunks)), str(path), **sav_options(lay))
    else:
        frame = gather_frame(TableData(lay, chunks), _lettered(lay))
        pyreadstat.write_dta(frame, str(path), **dta_options(lay))


def write_both(
    fmt: str, lay: TableLayout, chunks: list[Sequence[Row]], folder: Path
) -> tuple[Path, Path]:
    """The streamed file and the whole-frame reference of the same rows."""
    total = sum(len(c) for c in chunks)
    streamed, whole = folder / f"streamed.{fmt}", folder / f"whole.{fmt}"
    seen: list[int] = []
    assert get_writer(fmt).write(TableData(lay, iter(chunks), total, seen.append), streamed) == []
    assert sum(seen) == total
    write_whole(fmt, lay, iter(chunks), whole)
    return streamed, whole


def _without_time(fmt: str, content: bytes) -> bytes:
    if fmt == "sav":  # bytes 92 to 108 of the header: creation date and time
        return content[:92] + content[109:]
    start, end = content.find(b"<timestamp>"), content.find(b"</timestamp>")
    return content[:start] + content[end:]


SAV_META = (
    "column_names", "column_names_to_labels", "variable_value_labels", "missing_ranges",
    "variable_measure", "variable_display_width", "original_variable_types",
    "readstat_variable_types", "variable_storage_width", "number_rows", "file_label",
)  # fmt: skip
DTA_META = (
    "column_names", "column_names_to_labels", "variable_value_labels", "missing_user_values",
    "original_variable_types", "readstat_variable_types", "number_rows", "file_label",
    "variable_to_label", "value_labels",
)  # fmt: skip


def assert_reads_back_alike(fmt: str, streamed: Path, whole: Path) -> None:
    """The same values (with user-missing codes or letters, and without), labels, missing
    declarations, types, formats and widths, with the readers researchers use."""
    read = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    for user_missing in (True, False):
        got, got_meta = read(str(streamed), user_missing=user_missing)
        want, want_meta = read(str(whole), user_missing=user_missing)
        pd.testing.assert_frame_equal(got, want)
        for name in SAV_META if fmt == "sav" else DTA_META:
            assert getattr(got_meta, name) == getattr(want_meta, name), name
    if fmt == "dta":
        pd.testing.assert_frame_equal(pd.read_stata(streamed), pd.read_stata(whole))


def assert_same_file(fmt: str, streamed: Path, whole: Path) -> None:
    """Read back alike, and the same bytes but for the creation time."""
    assert_reads_back_alike(fmt, streamed, whole)
    assert _without_time(fmt, streamed.read_bytes()) == _without_time(fmt, whole.read_bytes())


def example_rows(lay: TableLayout, n: int, answers: dict[str, Any] | None = None) -> list[Row]:
    """`n` responses to the example study; times with microseconds, some dropouts."""
    rows = []
    for i in range(n):
        if i % 4 == 3:
            rec = record(f"r{i}", {"toestemming": 1}, status="active", path=["welkom"],
                         current_page="achtergrond")  # fmt: skip
        else:
            rec = record(f"r{i}", answers or FULL, path=ALL_PAGES, minutes=12.5 + i / 7)
        rows.append(lay.row(rec))
    return rows


def read(fmt: str, path: Path, **kw: Any) -> tuple[pd.DataFrame, Any]:
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = reader(str(path), **kw)
    return frame, meta


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_streamed_file_equals_the_whole_frame_file(fmt: str, chunk: int, tmp_path: Path) -> None:
    lay = layout(open_text=True, with_scores=True)
    rows = example_rows(lay, 10)
    streamed, whole = write_both(fmt, lay, chunked(rows, chunk), tmp_path)
    assert_same_file(fmt, streamed, whole)
    frame, meta = read(fmt, streamed, user_missing=True)
    assert len(frame) == 10 and meta.number_rows == 10
    assert frame.loc[0, "in_dienst"] == dt.date(2019, 4, 1)
    # Dropped out: a user-missing code in SPSS, the extended missing value .d in Stata.
    assert frame.loc[3, "functie"] == (-6 if fmt == "sav" else "d")
    assert meta.original_variable_types["in_dienst"] == ("DATE11" if fmt == "sav" else "%td")


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_rows_give_the_dictionary_and_no_cases(fmt: str, tmp_path: Path) -> None:
    lay = layout(open_text=True)
    streamed, whole = write_both(fmt, lay, [], tmp_path)
    assert_same_file(fmt, streamed, whole)
    frame, meta = read(fmt, streamed)
    assert len(frame) == 0 and list(frame.columns) == lay.names and meta.number_rows == 0


def test_long_and_non_ascii_texts_are_spss_very_long_strings(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    texts = dict(FULL, uren_toelichting=LONG, behoefte=HUGE)
    rows = example_rows(lay, 7, texts)
    # The widest text arrives in the last chunk only: the width must still be the widest.
    rows += example_rows(lay, 2, dict(FULL, behoefte=HUGE + "ñ" * 300))
    streamed, whole = write_both("sav", lay, chunked(rows, 2), tmp_path)
    assert_same_file("sav", streamed, whole)
    frame, meta = read("sav", streamed)
    assert frame.loc[0, "uren_toelichting"] == LONG
    assert frame.loc[1, "behoefte"] == HUGE
    assert frame.loc[7, "behoefte"] == HUGE + "ñ" * 300
    assert frame.loc[3, "behoefte"] == ""
    width = len((HUGE + "ñ" * 300).encode("utf-8"))
    assert meta.original_variable_types["behoefte"] == f"A{width}"


def test_texts_of_2045_bytes_or_more_are_stata_strls(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    texts = dict(FULL, uren_toelichting=LONG, behoefte=HUGE)
    # In one chunk the streamed file is the whole-frame file: each text stored once.
    rows = example_rows(lay, 7, texts)
    streamed, whole = write_both("dta", lay, [rows], tmp_path)
    assert_same_file("dta", streamed, whole)
    frame, meta = read("dta", streamed)
    assert frame.loc[0, "uren_toelichting"] == LONG and frame.loc[1, "behoefte"] == HUGE
    assert frame.loc[3, "behoefte"] == ""
    assert meta.readstat_variable_types["behoefte"] == "string"
    assert streamed.read_bytes().count(HUGE.encode("utf-8")) == 1  # one strL, referenced
    # In chunks a text repeated in another chunk is stored again: other bytes, same data.
    rows += example_rows(lay, 2, dict(FULL, behoefte=HUGE + "ñ" * 300))
    streamed, whole = write_both("dta", lay, chunked(rows, 2), tmp_path)
    assert_reads_back_alike("dta", streamed, whole)
    frame, _ = read("dta", streamed)
    assert frame.loc[7, "behoefte"] == HUGE + "ñ" * 300 and frame.loc[6, "behoefte"] == HUGE
    assert list(frame["behoefte"]).count(HUGE) == 6


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_text_stops_at_a_nul_character_as_pyreadstat_writes_it(fmt: str, tmp_path: Path) -> None:
    lay = layout(open_text=True)
    rows = example_rows(lay, 3, dict(FULL, behoefte="voor\0na"))
    streamed, whole = write_both(fmt, lay, chunked(rows, 2), tmp_path)
    assert_same_file(fmt, streamed, whole)
    frame, _ = read(fmt, streamed)
    assert frame.loc[0, "behoefte"] == "voor"


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_missing_columns_match_the_whole_frame(fmt: str, tmp_path: Path) -> None:
    # No date, no texts, no hours: the date column is the one-byte text pyreadstat makes of a
    # column of None only, the text columns one byte, the hours only missing codes (a double
    # in Stata where whole numbers would make a long).
    lay = layout(open_text=True, with_scores=True)
    bare = {k: v for k, v in FULL.items() if k not in ("in_dienst", "behoefte", "uren")}
    rows = example_rows(lay, 5, bare)
    streamed, whole = write_both(fmt, lay, chunked(rows, 2), tmp_path)
    assert_same_file(fmt, streamed, whole)
    _frame, meta = read(fmt, streamed, metadataonly=True)
    if fmt == "sav":
        assert meta.original_variable_types["in_dienst"] == "A1"
        assert meta.original_variable_types["behoefte"] == "A1"
    else:
        assert meta.readstat_variable_types["in_dienst"] == "string"
        assert meta.readstat_variable_types["uren"] == "double"
        assert meta.readstat_variable_types["ervaring"] == "int32"


@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_memory_does_not_grow_with_the_rows(fmt: str, tmp_path: Path) -> None:
    lay = layout(open_text=True, with_scores=True)
    # Open answers of an SPSS very long string and a Stata strL.
    chunk = example_rows(lay, 250, dict(FULL, uren_toelichting=HUGE, behoefte=LONG))

    def peak(n: int) -> int:
        def chunks() -> Iterator[Sequence[Row]]:
            for _ in range(n // len(chunk)):
                yield chunk  # the same rows again: the source itself holds one chunk

        tracemalloc.start()
        try:
            get_writer(fmt).write(TableData(lay, chunks(), n), tmp_path / f"m{n}.{fmt}")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(250)  # first call: imports and caches, which are not the table's
    small, large = peak(2_000), peak(20_000)
    frame, _ = read(fmt, tmp_path / f"m20000.{fmt}", usecols=["behoefte", "uren_toelichting"])
    answered = 80 * sum(LONG in r for r in chunk)
    assert len(frame) == 20_000 and (frame["behoefte"] == LONG).sum() == answered
    assert (frame["uren_toelichting"] == HUGE).sum() == answered
    # Ten times the rows; the whole-frame writers needed 6 to 12 MB more here (their columns).
    assert large < small * 1.2 + 256 * 1024, (small, large)


# --- the klantmanager study in the store, SQLite and PostgreSQL ------------------------------

OPEN = ["Meer tijd voor klanten", LONG, "Minder administratie — “beter” overleg ✓", HUGE]


def _answer(study: Study, item: Any, rng: random.Random) -> Any:
    if item.type in (ItemType.SINGLE, ItemType.MATRIX):
        return rng.choice([c.code for c in study.choices_of(item)])
    if item.type is ItemType.CONSENT:
        return 1
    if item.type is ItemType.INTEGER:
        return rng.randint(int(item.min or 0), int(min(item.max or 100, 60)))
    return rng.choice(OPEN)


def populate(engine: sa.Engine, n: int) -> None:
    """`n` synthetic responses to the klantmanager study: some answers left empty, a fifth
    dropped out part way, open answers long and non-ASCII, times with microseconds."""
    study = load_study_file(KLANTMANAGERS)
    digest, _new = load_study(engine, study, KLANTMANAGERS.read_text("utf-8"))
    rng = random.Random(7)
    pages = list(study.pages)
    t0 = dt.datetime(2026, 9, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
    response_rows, answer_rows = [], []
    for i in range(n):
        rid = f"k{i:05d}"
        began = t0 + dt.timedelta(seconds=37 * i, microseconds=i)
        dropout = rng.random() < 0.2
        reached = rng.randint(2, len(pages) - 1) if dropout else len(pages)
        for page in pages[:reached]:
            for item in page.items:
                if item.type is ItemType.NOTE or rng.random() < 0.1:
                    continue
                for variable in item.variables():
                    answer_rows.append({
                        "response_id": rid, "variable": variable, "page_id": page.id,
                        "value": _answer(study, item, rng), "updated_at": began,
                    })  # fmt: skip
        done = began + dt.timedelta(seconds=rng.randint(300, 2400), microseconds=777)
        response_rows.append({
            "id": rid, "study_id": study.id, "version_hash": digest,
            "language": rng.choice(["nl", "en"]), "source": rng.choice(study.sources),
            "status": "active" if dropout else "completed", "is_test": False,
            "current_page": pages[reached].id if dropout else None,
            "path": [p.id for p in pages[:reached]], "seed": i, "orders": {},
            "resume_hash": f"test{i:05d}", "started_at": began,
            "completed_at": None if dropout else done, "updated_at": done,
        })  # fmt: skip
    with engine.begin() as conn:
        conn.execute(responses.insert(), response_rows)
        conn.execute(answers.insert(), answer_rows)


@pytest.mark.parametrize("fmt", FORMATS)
def test_klantmanager_export_from_the_store_equals_the_whole_frame(
    fmt: str, database_url: str, tmp_path: Path
) -> None:
    engine = open_database(database_url)
    try:
        populate(engine, 60)
        options = ExportOptions(completed_only=False, with_scores=True, open_text=True)
        streamed = tmp_path / f"streamed.{fmt}"
        result = export_to_file(engine, "klantmanagers", fmt, streamed, options, chunk_size=7)
        assert result.rows == 60
        # The reference: the same rows from the store, gathered into one frame.
        source = open_source(engine, "klantmanagers", options)
        lay = build_layout(source, options)
        whole = tmp_path / f"whole.{fmt}"
        with ResponseReader(source, options, 7) as reader:
            write_whole(fmt, lay, _rows(lay, reader, [0]), whole)
    finally:
        engine.dispose()
    if fmt == "sav":
        assert_same_file(fmt, streamed, whole)
    else:  # the open answers are strLs, some repeated in other chunks: the same data
        assert_reads_back_alike(fmt, streamed, whole)
    got, meta = read(fmt, streamed, user_missing=True)
    assert len(got) == 60 and set(OPEN) >= set(got["open_nodig"]) - {""}
    assert HUGE in set(got["open_nodig"]) | set(got["open_overig"])
    assert (got["status"] == "active").any()
    assert (got["kv_1"] == (-6 if fmt == "sav" else "d")).any()
    if fmt == "sav":
        assert meta.missing_ranges["kv_1"] == [{"lo": -9.0, "hi": -6.0}]
    else:
        assert meta.variable_value_labels["kv_1"]["d"].startswith("afgehaakt")
