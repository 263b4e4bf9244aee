"""The streamed .sav writer against pyreadstat writing the whole table as one frame.

The reference is what the writer did before it streamed: `gather_frame` and one call to
`pyreadstat.write_sav` with the same dictionary. Both files are read back with pyreadstat (as a
researcher would) and compared cell by cell and in every piece of metadata, and byte by byte
apart from the header's creation time. A memory test checks that the writer's peak allocation
does not grow with the number of rows.
"""

from __future__ import annotations

import datetime as dt
import random
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa

import vakstem
from vakstem.export.api import _rows, build_layout, export_to_file
from vakstem.export.database import ResponseReader, open_source
from vakstem.export.formats import TableData
from vakstem.export.formats._frame import gather_frame
from vakstem.export.formats.sav_format import WRITER as SAV
from vakstem.export.formats.sav_format import sav_options
from vakstem.export.table import ExportOptions, Row, TableLayout
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import ItemType, Study
from vakstem.store import open_database
from vakstem.store.studies import load_study
from vakstem.store.tables import answers, responses

from .factories import ALL_PAGES, FULL, layout, record

KLANTMANAGERS = Path(vakstem.__file__).parent / "studies" / "klantmanagers" / "study.yaml"
#: Bytes 92 to 108 of a .sav header hold the creation date and time.
CREATED = slice(92, 109)

LONG = "é" * 200 + "x" * 100 + "ü"  # 503 bytes in UTF-8: an SPSS very long string
HUGE = "Zoë ☕ " * 400 + "einde"  # 3,605 bytes: fifteen segments


def chunked(rows: Sequence[Row], size: int) -> list[Sequence[Row]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def write_both(lay: TableLayout, chunks: list[Sequence[Row]], folder: Path) -> tuple[Path, Path]:
    """The streamed file and the whole-frame reference of the same rows."""
    total = sum(len(c) for c in chunks)
    streamed, whole = folder / "streamed.sav", folder / "whole.sav"
    seen: list[int] = []
    assert SAV.write(TableData(lay, iter(chunks), total, seen.append), streamed) == []
    assert sum(seen) == total
    frame = gather_frame(TableData(lay, iter(chunks), total))
    pyreadstat.write_sav(frame, str(whole), **sav_options(lay))
    return streamed, whole


def assert_same_file(streamed: Path, whole: Path) -> None:
    """Read back alike (values with user-missing codes, labels, missing ranges, measures,
    formats, widths) and the same bytes but for the creation time."""
    for user_missing in (True, False):
        got, got_meta = pyreadstat.read_sav(str(streamed), user_missing=user_missing)
        want, want_meta = pyreadstat.read_sav(str(whole), user_missing=user_missing)
        pd.testing.assert_frame_equal(got, want)
        for name in (
            "column_names", "column_names_to_labels", "variable_value_labels", "missing_ranges",
            "variable_measure", "variable_display_width", "original_variable_types",
            "readstat_variable_types", "variable_storage_width", "number_rows", "file_label",
        ):  # fmt: skip
            assert getattr(got_meta, name) == getattr(want_meta, name), name
    a, b = streamed.read_bytes(), whole.read_bytes()
    assert len(a) == len(b)
    assert a[: CREATED.start] == b[: CREATED.start] and a[CREATED.stop :] == b[CREATED.stop :]


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


@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_streamed_sav_equals_the_whole_frame_file(chunk: int, tmp_path: Path) -> None:
    lay = layout(open_text=True)
    rows = example_rows(lay, 10)
    streamed, whole = write_both(lay, chunked(rows, chunk), tmp_path)
    assert_same_file(streamed, whole)
    frame, meta = pyreadstat.read_sav(str(streamed), user_missing=True)
    assert len(frame) == 10 and meta.number_rows == 10
    assert frame.loc[0, "in_dienst"] == dt.date(2019, 4, 1)
    assert frame.loc[3, "functie"] == -6  # dropped out, a user-missing code
    assert meta.original_variable_types["in_dienst"] == "DATE11"


def test_zero_rows_give_the_dictionary_and_no_cases(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    streamed, whole = write_both(lay, [], tmp_path)
    assert_same_file(streamed, whole)
    frame, meta = pyreadstat.read_sav(str(streamed))
    assert len(frame) == 0 and list(frame.columns) == lay.names and meta.number_rows == 0


def test_long_and_non_ascii_texts_are_very_long_strings(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    texts = dict(FULL, uren_toelichting=LONG, behoefte=HUGE)
    rows = example_rows(lay, 7, texts)
    # The widest text arrives in the last chunk only: the width must still be the widest.
    rows += example_rows(lay, 2, dict(FULL, behoefte=HUGE + "ñ" * 300))
    streamed, whole = write_both(lay, chunked(rows, 2), tmp_path)
    assert_same_file(streamed, whole)
    frame, meta = pyreadstat.read_sav(str(streamed))
    assert frame.loc[0, "uren_toelichting"] == LONG
    assert frame.loc[1, "behoefte"] == HUGE
    assert frame.loc[7, "behoefte"] == HUGE + "ñ" * 300
    assert frame.loc[3, "behoefte"] == ""
    width = len((HUGE + "ñ" * 300).encode("utf-8"))
    assert meta.original_variable_types["behoefte"] == f"A{width}"


def test_a_text_stops_at_a_nul_character_as_pyreadstat_writes_it(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    rows = example_rows(lay, 3, dict(FULL, behoefte="voor\0na"))
    streamed, whole = write_both(lay, chunked(rows, 2), tmp_path)
    assert_same_file(streamed, whole)
    frame, _ = pyreadstat.read_sav(str(streamed))
    assert frame.loc[0, "behoefte"] == "voor"


def test_all_missing_columns_match_the_whole_frame(tmp_path: Path) -> None:
    # No date, no texts, no source: the date column is the one-byte text pyreadstat makes of
    # a column of None only, the text columns one byte of blanks.
    lay = layout(open_text=True)
    bare = {k: v for k, v in FULL.items() if k not in ("in_dienst", "behoefte", "uren")}
    rows = example_rows(lay, 5, bare)
    streamed, whole = write_both(lay, chunked(rows, 2), tmp_path)
    assert_same_file(streamed, whole)
    _frame, meta = pyreadstat.read_sav(str(streamed), metadataonly=True)
    assert meta.original_variable_types["in_dienst"] == "A1"
    assert meta.original_variable_types["behoefte"] == "A1"


def test_writer_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    lay = layout(open_text=True)
    chunk = example_rows(lay, 250, dict(FULL, behoefte=LONG))

    def peak(n: int) -> int:
        def chunks() -> Iterator[Sequence[Row]]:
            for _ in range(n // len(chunk)):
                yield chunk  # the same rows again: the source itself holds one chunk

        tracemalloc.start()
        try:
            SAV.write(TableData(lay, chunks(), n), tmp_path / f"m{n}.sav")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(250)  # first call: imports and caches, which are not the table's
    small, large = peak(2_000), peak(20_000)
    frame, _ = pyreadstat.read_sav(str(tmp_path / "m20000.sav"), usecols=["behoefte"])
    assert len(frame) == 20_000 and (frame["behoefte"] == LONG).sum() == 80 * sum(
        LONG in r for r in chunk
    )
    # Ten times the rows; the whole-frame writer needed ~6 MB more here (its columns).
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


def test_klantmanager_export_from_the_store_equals_the_whole_frame(
    database_url: str, tmp_path: Path
) -> None:
    engine = open_database(database_url)
    try:
        populate(engine, 60)
        options = ExportOptions(completed_only=False, with_scores=True, open_text=True)
        streamed = tmp_path / "streamed.sav"
        result = export_to_file(engine, "klantmanagers", "sav", streamed, options, chunk_size=7)
        assert result.rows == 60
        # The reference: the same rows from the store, gathered into one frame.
        source = open_source(engine, "klantmanagers", options)
        lay = build_layout(source, options)
        with ResponseReader(source, options, 7) as reader:
            data = TableData(lay, _rows(lay, reader, [0]), reader.count())
            frame = gather_frame(data)
        whole = tmp_path / "whole.sav"
        pyreadstat.write_sav(frame, str(whole), **sav_options(lay))
    finally:
        engine.dispose()
    assert_same_file(streamed, whole)
    got, meta = pyreadstat.read_sav(str(streamed), user_missing=True)
    assert len(got) == 60 and set(OPEN) >= set(got["open_nodig"]) - {""}
    assert HUGE in set(got["open_nodig"]) | set(got["open_overig"])
    assert (got["status"] == "active").any() and (got["kv_1"] == -6).any()
    assert meta.missing_ranges["kv_1"] == [{"lo": -9.0, "hi": -6.0}]
