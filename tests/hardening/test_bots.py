"""Likely bots are flagged, never blocked, and a welcome page posted twice makes one response.

A filled honeypot flags the response and keeps every answer; a completion faster than the
study's minimum time per answer field shown flags `too_fast`; an ordinary run is not flagged.
The welcome form's one-time start key makes a repeated POST (one after the other, or many at
the same moment against a real `vakstem serve`) continue one response. The flags reach the
console dashboard and every export format, read back with the library a user would use.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.console.helpers import build_world, login
from tests.web.conftest import EXAMPLE, load_example
from tests.web.flow import FULL_RUN, Respondent, hidden_fields

from vakstem.analysis.quality import assess_quality
from vakstem.export.api import export_to_file
from vakstem.export.formats.csv_format import codebook_path
from vakstem.export.table import ExportOptions
from vakstem.instrument.loader import load_study_file
from vakstem.service import bots
from vakstem.service.console import dashboard_records
from vakstem.service.dashboard import compute_dashboard
from vakstem.service.responses import START_KEY_REUSE, ResponseService
from vakstem.service.resume_codes import code_hash, normalise
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import get_study
from vakstem.store.tables import answers, responses
from vakstem.web.app import create_app

from .server import Server, open_study

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
#: FULL_RUN shows 20 answer fields (the consent, 6 background questions with functie_anders,
#: overleg and its follow-up, 4 matrix rows, afspraken, 3 matrix rows and a number, and both
#: closing questions): 40 seconds at the default 2 seconds each.
FULL_RUN_MINIMUM_S = 40
#: A shorter route: no functie_anders, no overleg_keer, the afspraken page and
#: uren_toelichting skipped by their conditions: 13 fields, 26 seconds.
SHORT_RUN: list[tuple[str, dict[str, Any]]] = [
    ("welkom", {"toestemming": "1"}),
    (
        "achtergrond",
        {"functie": "1", "provincie": "7", "ervaring": "3", "uren": "32", "in_dienst": ""},
    ),
    (
        "werk",
        {"overleg": ["-1"], "br_1": "4", "br_2": "5", "br_3": "2", "br_4": "3", "afspraken": "0"},
    ),
    ("tot_slot", {"behoefte": "Tijd."}),
]
SHORT_RUN_MINIMUM_S = 26


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    load_example(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, secret_key="bots")
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield client


def flags_of(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(responses.c.id, responses.c.quality_flags)).all()
    return {r.id: list(r.quality_flags or ()) for r in rows}


def answer_count(engine: Engine, response_id: str) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(answers.c.response_id == response_id)
        return int(conn.execute(query).scalar_one())


def run_pages(
    r: Respondent, run: list[tuple[str, dict[str, Any]]], honeypot: dict[int, str]
) -> None:
    """Fill in every page as a browser does: the honeypot field is sent, empty unless given."""
    r.open()
    for index, (page_id, values) in enumerate(run):
        assert r.page_id == page_id
        response = r.submit(values, _opmerking=honeypot.get(index, ""))
        assert response.status_code == 200, response.text


# --- honeypot ----------------------------------------------------------------------------------


def test_every_respondent_page_carries_the_honeypot_out_of_sight(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    for _page_id, values in FULL_RUN[:2]:
        html = r.last.text
        field = html[html.index('<div class="hp"') :]
        field = field[: field.index("</div>")]
        assert 'aria-hidden="true"' in field
        assert 'name="_opmerking"' in field and 'tabindex="-1"' in field
        assert 'autocomplete="off"' in field and "Laat dit veld leeg" in field
        assert "style=" not in field  # hidden by the static stylesheet: the CSP allows no inline
        r.submit(values)
    css = client.get("/static/vakstem.css").text
    assert ".hp {" in css and "left: -10000px" in css


def test_filled_honeypot_flags_the_response_and_keeps_every_answer(
    client: TestClient, engine: Engine
) -> None:
    bot = Respondent(client)
    run_pages(bot, FULL_RUN, honeypot={2: "https://spam.example"})
    assert "Hartelijk dank" in bot.last.text
    person = Respondent(client)
    run_pages(person, FULL_RUN, honeypot={})
    with engine.connect() as conn:
        rows = {
            r.resume_hash: r
            for r in conn.execute(
                sa.select(responses.c.id, responses.c.status, responses.c.resume_hash)
            )
        }
    assert {r.status for r in rows.values()} == {"completed"}
    flags = flags_of(engine)
    by_code = {code: row.id for code, row in rows.items()}
    bot_id = by_code[code_hash(normalise(bot.code) or "")]
    person_id = by_code[code_hash(normalise(person.code) or "")]
    assert bots.HONEYPOT in flags[bot_id]
    assert bots.HONEYPOT not in flags[person_id]
    # Flagged, not punished: the bot's answers are all there, as many as the person's.
    assert answer_count(engine, bot_id) == answer_count(engine, person_id) > 15


def test_honeypot_on_the_welcome_page_flags_the_new_response(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    r.submit({"toestemming": "1"}, _opmerking="buy now")
    assert r.page_id == "achtergrond"
    [(response_id, flags)] = flags_of(engine).items()
    assert flags == [bots.HONEYPOT]
    assert answer_count(engine, response_id) == 1


def test_filled_honeypot_on_a_page_with_errors_still_flags_and_keeps_saved_answers(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    r.submit({"toestemming": "1"})
    bad = r.submit({"functie": "1", "ervaring": "veel"}, _opmerking="x")
    assert bad.status_code == 422
    [(response_id, flags)] = flags_of(engine).items()
    assert flags == [bots.HONEYPOT]
    assert answer_count(engine, response_id) == 1  # the consent, saved before


# --- time to complete ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def complete_in(engine: Engine, run: list[tuple[str, dict[str, Any]]], seconds: float) -> list[str]:
    """Complete `run` through the service; the last page arrives `seconds` after the start."""
    clock = Clock()
    service = ResponseService(engine, clock=clock)
    state = service.start("voorbeeld")
    for index, (page_id, values) in enumerate(run):
        if index == len(run) - 1:
            clock.now = T0 + timedelta(seconds=seconds)
        result = service.submit_page(state.id, page_id, values, from_form=True)
        assert result.ok, result.errors
    assert result.state.completed
    return flags_of(engine)[state.id]


def test_completion_under_the_minimum_per_answer_shown_is_flagged_too_fast(
    engine: Engine,
) -> None:
    assert complete_in(engine, FULL_RUN, FULL_RUN_MINIMUM_S - 1) == [bots.TOO_FAST]
    assert complete_in(engine, FULL_RUN, FULL_RUN_MINIMUM_S) == []
    assert complete_in(engine, FULL_RUN, 14 * 60) == []


def test_the_minimum_counts_only_what_the_respondent_was_shown(engine: Engine) -> None:
    # 30 seconds is too fast for the 20 fields of the full route, not for the 13 of the short.
    assert complete_in(engine, SHORT_RUN, 30) == []
    assert complete_in(engine, SHORT_RUN, SHORT_RUN_MINIMUM_S - 1) == [bots.TOO_FAST]
    assert complete_in(engine, FULL_RUN, 30) == [bots.TOO_FAST]


def test_too_fast_and_honeypot_flags_accumulate_without_loss(engine: Engine) -> None:
    clock = Clock()
    service = ResponseService(engine, clock=clock)
    state = service.start("voorbeeld")
    for page_id, values in FULL_RUN:
        service.submit_page(state.id, page_id, values, from_form=True, flags=[bots.HONEYPOT])
    assert flags_of(engine)[state.id] == [bots.HONEYPOT, bots.TOO_FAST]
    assert service.state(state.id).completed


# --- one response per welcome form --------------------------------------------------------------


def test_welcome_form_posted_twice_continues_one_response(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    form = {**hidden_fields(r.last.text), "toestemming": "1"}
    first = client.post("/s/voorbeeld", data=form, follow_redirects=False)
    second = client.post("/s/voorbeeld", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(flags_of(engine)) == 1
    page = client.get(second.headers["location"])
    assert 'name="_page" value="achtergrond"' in page.text  # welcome answered once, moved on
    # A fresh showing of the welcome page is a fresh key: a second person, a second response.
    other = Respondent(client)
    other.open()
    other.submit({"toestemming": "1"})
    assert len(flags_of(engine)) == 2 and other.url != first.headers["location"]


def test_welcome_form_without_a_valid_start_key_creates_nothing(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    form = {**hidden_fields(r.last.text), "toestemming": "1"}
    for key in ("", "kort", bots.new_start_key()):  # missing, malformed, not the signed one
        refused = client.post("/s/voorbeeld", data={**form, "_start": key})
        assert refused.status_code == 403
        assert "verlopen" in refused.text  # the page again, asking to send it once more
    assert flags_of(engine) == {}


def test_concurrent_starts_with_one_key_make_one_response(engine: Engine) -> None:
    service = ResponseService(engine)
    key = bots.new_start_key()
    barrier = threading.Barrier(6)
    results: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            state = service.start("voorbeeld", start_key=key)
            results.append((state.id, state.resume_code))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 6
    assert list(flags_of(engine)) == [results[0][0]]
    # The code handed out is the response's real resume code.
    assert service.resume(results[0][1]).id == results[0][0]


def test_welcome_page_double_submitted_to_a_real_server_makes_one_response(
    database_url: str, tmp_path: Path
) -> None:
    study = open_study(database_url, "voorbeeld")
    server = Server(database_url, tmp_path)
    server.start()
    try:
        with httpx2.Client(base_url=server.base, timeout=60) as http:
            welcome = http.get(f"/s/{study}")
            assert welcome.status_code == 200
        form = {**hidden_fields(welcome.text), "toestemming": "1"}
        barrier = threading.Barrier(8)
        replies: list[httpx2.Response] = []

        def post() -> None:
            with httpx2.Client(base_url=server.base, timeout=60) as http:
                barrier.wait()
                replies.append(http.post(f"/s/{study}", data=form))

        threads = [threading.Thread(target=post) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
    assert [r.status_code for r in replies] == [303] * 8
    assert len({r.headers["location"] for r in replies}) == 1
    engine = open_database(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(responses.c.id, responses.c.current_page)).all()
        assert [r.current_page for r in rows] == ["achtergrond"]
        assert answer_count(engine, rows[0].id) == 1
    finally:
        engine.dispose()


# --- where researchers see the flags ------------------------------------------------------------


@pytest.fixture
def flagged_world(database_url: str, tmp_path: Path) -> Iterator[tuple[Engine, str, str]]:
    """Study alpha of the console tests with a completed honeypot bot, plus the world's own
    responses (whose completion within milliseconds is too fast for its three questions)."""
    engine = open_database(database_url)
    world = build_world(engine)
    clock = Clock()
    service = ResponseService(engine, clock=clock)
    bot = service.start("alpha")
    service.submit_page(bot.id, "p1", {"org_type": 1}, flags=[bots.HONEYPOT])
    clock.now = T0 + timedelta(minutes=5)
    service.submit_page(bot.id, "p2", {"jaren": 3})
    yield engine, bot.id, world.completed
    engine.dispose()


def test_dashboard_counts_flagged_responses(
    flagged_world: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, _bot, _fast = flagged_world
    app = create_app(Settings(data_dir=tmp_path, secret_key="bots"), engine)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "owner@example.org")
        page = client.get("/console/studies/alpha")
        english = client.get("/console/studies/alpha?lang=en")
    # The researcher API answers with exactly this JSON.
    quality = dashboard_json(engine)["quality"]
    assert (quality["honeypot"], quality["too_fast"], quality["likely_bots"]) == (1, 1, 2)
    assert "Vermoedelijk bots (verborgen lokveld ingevuld): 1" in page.text
    assert "Te snel afgerond (onder de minimumtijd per vraag van het onderzoek): 1" in page.text
    assert "Likely bots (hidden trap field filled in): 1" in english.text


def dashboard_json(engine: Engine) -> dict[str, Any]:
    """What the researcher API's dashboard route returns for study alpha."""
    study = get_study(engine, "alpha").study
    return compute_dashboard(study, dashboard_records(engine, "alpha")).as_json()


def _export(engine: Engine, fmt: str, out: Path) -> Path:
    path = out / f"alpha.{fmt}"
    export_to_file(engine, "alpha", fmt, path, ExportOptions(language="en"))
    return path


def test_flags_are_columns_of_every_export_format(
    flagged_world: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, bot, fast = flagged_world
    expected = {bot: (1, 0), fast: (0, 1)}

    def check(ids: list[Any], honeypot: list[Any], too_fast: list[Any], fmt: str) -> None:
        got = {str(i): (int(h), int(t)) for i, h, t in zip(ids, honeypot, too_fast, strict=True)}
        assert got == expected, fmt

    path = _export(engine, "csv", tmp_path)
    frame = pd.read_csv(path)
    check(
        list(frame["response_id"]),
        list(frame["flag_honeypot"]),
        list(frame["flag_too_fast"]),
        "csv",
    )
    with codebook_path(path).open(encoding="utf-8") as fh:
        codebook = "\n".join(",".join(row) for row in csv.reader(fh))
    assert (
        "flag_honeypot" in codebook and "Likely bot (filled in the hidden trap field)" in codebook
    )

    sheet = openpyxl.load_workbook(_export(engine, "xlsx", tmp_path)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    columns = {name: [r[header.index(name)] for r in rows[1:]] for name in header}
    check(columns["response_id"], columns["flag_honeypot"], columns["flag_too_fast"], "xlsx")

    sav, meta = pyreadstat.read_sav(str(_export(engine, "sav", tmp_path)))
    check(list(sav["response_id"]), list(sav["flag_honeypot"]), list(sav["flag_too_fast"]), "sav")
    labels = meta.column_names_to_labels
    assert (
        labels["flag_too_fast"] == "Completed too fast (under the minimum time per question shown)"
    )
    assert meta.variable_value_labels["flag_honeypot"] == {0.0: "no", 1.0: "yes"}

    dta, dmeta = pyreadstat.read_dta(str(_export(engine, "dta", tmp_path)))
    check(list(dta["response_id"]), list(dta["flag_honeypot"]), list(dta["flag_too_fast"]), "dta")
    assert dmeta.column_names_to_labels["flag_honeypot"].startswith("Likely bot")

    table = pq.read_table(_export(engine, "parquet", tmp_path)).to_pydict()
    check(table["response_id"], table["flag_honeypot"], table["flag_too_fast"], "parquet")


def test_console_download_carries_the_flags(
    flagged_world: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, bot, _fast = flagged_world
    app = create_app(Settings(data_dir=tmp_path, secret_key="bots"), engine)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "owner@example.org")
        download = client.get("/console/studies/alpha/export?format=csv")
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert {r["response_id"]: r["flag_honeypot"] for r in rows}[bot] == "1"


def test_analysis_can_exclude_the_bot_flags_from_the_tidy_table() -> None:
    study = load_study_file(EXAMPLE)
    settings = {**study.analysis.settings, "quality": {"exclude": ["honeypot", "too_fast"]}}
    study = study.model_copy(
        update={"analysis": study.analysis.model_copy(update={"settings": settings})}
    )
    frame = pd.DataFrame(
        [
            {"response_id": rid, "status": "completed", "is_test": 0,
             "started_at": "2026-11-26 09:00:00", "completed_at": "2026-11-26 09:20:00",
             "flag_honeypot": honeypot, "flag_too_fast": too_fast}
            for rid, honeypot, too_fast in [("a", 1, 0), ("b", 0, 1), ("c", 0, 0), ("d", 1, 1)]
        ]
    )  # fmt: skip
    result = assess_quality(study, frame)
    assert result.excluded_by == {"honeypot": 2, "too_fast": 1}
    assert list(frame["response_id"][result.analysed_mask]) == ["c"]
    assert result.to_dict()["flags"]["too_fast"] == 2


def test_a_start_key_sent_again_later_starts_a_new_response(engine: Engine) -> None:
    # On a shared computer the next person goes back to the welcome page and sends it again:
    # a new response of their own, never the previous person's answers.
    clock = Clock()
    service = ResponseService(engine, clock=clock)
    key = bots.new_start_key()
    first = service.start("voorbeeld", start_key=key)
    clock.now = T0 + START_KEY_REUSE - timedelta(seconds=1)
    assert service.start("voorbeeld", start_key=key).id == first.id  # a retry: the same one
    clock.now = T0 + START_KEY_REUSE + timedelta(seconds=1)
    later = service.start("voorbeeld", start_key=key)
    assert later.id != first.id and later.resume_code != first.resume_code
    assert sorted(flags_of(engine)) == sorted([first.id, later.id])
    assert service.resume(later.resume_code).id == later.id
    assert service.resume(first.resume_code).id == first.id
