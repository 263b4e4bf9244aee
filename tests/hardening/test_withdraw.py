"""Withdrawal by resume code, on the respondent pages (`/s/{study}/intrekken`) and the API
(`POST /api/v1/studies/{study}/withdrawals`): every answer leaves the database, every export
format, the dashboard's cached records and the feedback data; a second withdrawal says so; a
code of another study is not found; no CSRF token, no withdrawal; guessing is rate-limited;
hostile input is shown escaped. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openpyxl
import pyarrow.parquet as pq
import pyreadstat
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.console.helpers import small_study, study_yaml

from vakstem.export.api import export_to_file
from vakstem.export.formats import FORMATS
from vakstem.export.table import ExportOptions
from vakstem.feedback.data import completed_ids
from vakstem.service.console import RecordCache
from vakstem.service.responses import ResponseService
from vakstem.service.types import AlreadyWithdrawn, ResponseStatus
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.store.tables import answers, page_events, responses
from vakstem.web import security
from vakstem.web.app import create_app

SECRET = "Mijn teruggetrokken opmerking"
#: A number nobody else answers, to find the response's answers in any export format.
YEARS = 4711
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass(frozen=True)
class Fieldwork:
    """Studies alpha and beta open; in alpha one completed and one half-way response of others
    (no console accounts: their password hashes would only slow these tests down)."""

    engine: Engine
    completed: str
    active: str
    resume_code: str


@pytest.fixture
def world(database_url: str) -> Iterator[Fieldwork]:
    engine = open_database(database_url)
    for study_id in ("alpha", "beta"):
        study = small_study(study_id)
        load_study(engine, study, study_yaml(study))
        set_status(engine, study_id, "open")
    service = ResponseService(engine)
    done = service.start("alpha")
    service.submit_page(done.id, "p1", {"org_type": 1, "opm": "Mijn geheime opmerking"})
    service.submit_page(done.id, "p2", {"jaren": 7})
    half = service.start("alpha")
    service.submit_page(half.id, "p1", {"org_type": 1})
    yield Fieldwork(engine, done.id, half.id, half.resume_code)
    engine.dispose()


@pytest.fixture
def client(world: Fieldwork, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path, secret_key="withdraw-secret"), world.engine)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


def _respond(engine: Engine, study_id: str = "alpha", *, complete: bool = True) -> tuple[str, str]:
    """A response with a recognisable open answer; (response id, resume code)."""
    service = ResponseService(engine)
    state = service.start(study_id)
    service.submit_page(state.id, "p1", {"org_type": 2, "opm": SECRET})
    if complete:
        service.submit_page(state.id, "p2", {"jaren": YEARS})
    return state.id, state.resume_code


def _stored(engine: Engine, response_id: str) -> tuple[str, dict[str, Any]]:
    with engine.connect() as conn:
        status = conn.execute(
            sa.select(responses.c.status).where(responses.c.id == response_id)
        ).scalar_one()
        values = dict(
            conn.execute(
                sa.select(answers.c.variable, answers.c.value).where(
                    answers.c.response_id == response_id
                )
            ).all()
        )
    return status, values


def _hidden(html: str, form: int = 0) -> dict[str, str]:
    forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
    return dict(HIDDEN.findall(forms[form]))


def _check_headers(response: httpx2.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"


def _ask(client: TestClient, code: str, lang: str = "nl", study: str = "alpha") -> httpx2.Response:
    """The first step, as the form sends it (its own hidden fields, the typed code)."""
    form = client.get(f"/s/{study}/intrekken?lang={lang}")
    assert form.status_code == 200
    _check_headers(form)
    return client.post(f"/s/{study}/intrekken", data={**_hidden(form.text), "code": code})


def _withdraw_by_html(client: TestClient, code: str, lang: str = "nl") -> httpx2.Response:
    confirm = _ask(client, code, lang)
    assert confirm.status_code == 200, confirm.text
    return client.post("/s/alpha/intrekken", data=_hidden(confirm.text))


def test_withdrawal_through_the_pages_asks_first_then_deletes_every_answer(
    world: Fieldwork, client: TestClient
) -> None:
    response_id, code = _respond(world.engine)
    assert _stored(world.engine, response_id) == (
        "completed",
        {"org_type": 2, "opm": SECRET, "jaren": YEARS},
    )
    # Typed carelessly: lower case, no dashes, spaces around.
    confirm = _ask(client, f"  {code.replace('-', '').lower()} ")
    assert confirm.status_code == 200
    _check_headers(confirm)
    assert "Weet je het zeker?" in confirm.text
    assert "niet ongedaan maken" in confirm.text and code in confirm.text
    # Asking changed nothing yet.
    assert _stored(world.engine, response_id)[0] == "completed"
    done = client.post("/s/alpha/intrekken", data=_hidden(confirm.text))
    assert done.status_code == 303
    # The code travels in POST bodies only, never in an address (access logs, history).
    assert (
        code not in done.headers["location"]
        and code.replace("-", "") not in done.headers["location"]
    )
    page = client.get(done.headers["location"])
    assert page.status_code == 200
    _check_headers(page)
    assert "Je antwoorden zijn ingetrokken" in page.text
    assert _stored(world.engine, response_id) == ("withdrawn", {})
    with world.engine.connect() as conn:
        # The route through the pages and its timings are gone with the answers.
        events = conn.execute(
            sa.select(sa.func.count()).where(page_events.c.response_id == response_id)
        ).scalar_one()
        path = conn.execute(
            sa.select(responses.c.path).where(responses.c.id == response_id)
        ).scalar_one()
    assert events == 0 and path == []
    # The response's own page says it is withdrawn; nothing can be answered any more.
    own = client.get(f"/s/alpha/r/{code}")
    assert "ingetrokken" in own.text and SECRET not in own.text


def test_second_withdrawal_says_plainly_it_was_already_withdrawn(
    world: Fieldwork, client: TestClient
) -> None:
    response_id, code = _respond(world.engine)
    confirm = _ask(client, code, "en")
    fields = _hidden(confirm.text)
    assert client.post("/s/alpha/intrekken", data=fields).status_code == 303
    # The same confirmation sent again (a double click, a reload) and a new attempt.
    again = client.post("/s/alpha/intrekken", data=fields)
    assert again.status_code == 409
    assert "Your answers have already been withdrawn" in again.text
    anew = _ask(client, code, "nl")
    assert anew.status_code == 409
    assert "Je antwoorden zijn al ingetrokken" in anew.text
    api = client.post("/api/v1/studies/alpha/withdrawals", json={"resume_code": code})
    assert api.status_code == 409
    assert "al ingetrokken" in api.json()["detail"]
    assert _stored(world.engine, response_id) == ("withdrawn", {})


def test_code_of_another_study_is_not_found_and_its_answers_stay(
    world: Fieldwork, client: TestClient
) -> None:
    beta_id, beta_code = _respond(world.engine, "beta")
    unknown = _ask(client, "ABCD-EFGH-JK")
    elsewhere = _ask(client, beta_code)
    assert unknown.status_code == elsewhere.status_code == 404
    message = "We vinden geen antwoorden met deze code in dit onderzoek."
    assert message in unknown.text and message in elsewhere.text
    # Nothing tells a code of another study from a code that does not exist.
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", unknown.text) == strip.sub("", elsewhere.text)
    api = client.post(
        "/api/v1/studies/alpha/withdrawals", json={"resume_code": beta_code, "language": "en"}
    )
    assert api.status_code == 404
    assert "could not find answers with this code" in api.json()["detail"]
    assert _stored(world.engine, beta_id) == (
        "completed",
        {"org_type": 2, "opm": SECRET, "jaren": YEARS},
    )
    # Its own study withdraws it.
    api = client.post("/api/v1/studies/beta/withdrawals", json={"resume_code": beta_code})
    assert api.status_code == 200 and api.json()["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("lang", "typed", "status", "message"),
    [
        ("nl", "", 422, "Vul je code in."),
        ("nl", "K7QM-3XH", 422, "Dit is geen geldige code."),
        ("en", "K7QM-3XHD-9PU", 422, "This is not a valid code."),
        ("en", "K7QM-3XHD-9P", 404, "We could not find answers with this code in this survey."),
    ],
)
def test_bad_codes_get_a_specific_error_linked_to_the_field(
    client: TestClient, lang: str, typed: str, status: int, message: str
) -> None:
    page = _ask(client, typed, lang)
    assert page.status_code == status
    assert f'<html lang="{lang}">' in page.text
    summary = re.search(r'<div class="error-summary".*?</div>', page.text, flags=re.S)
    assert summary is not None and 'href="#code"' in summary.group(0)
    assert message in summary.group(0)
    field = re.search(r'<input id="code"[^>]*>', page.text)
    assert field is not None
    assert 'aria-invalid="true"' in field.group(0) and "e-code" in field.group(0)
    assert re.search(r'<p class="error" id="e-code">[^<]*' + re.escape(message), page.text)


def test_without_the_right_csrf_token_nothing_is_withdrawn(
    world: Fieldwork, client: TestClient
) -> None:
    response_id, code = _respond(world.engine)
    other_id, other_code = _respond(world.engine)
    ask_fields = _hidden(client.get("/s/alpha/intrekken").text)
    confirm_other = _hidden(_ask(client, other_code).text)
    attempts = [
        {"_step": "check", "code": code},
        {"_step": "confirm", "code": code},
        {"_step": "confirm", "code": code, "_csrf": "forged"},
        # The first step's token does not confirm, and a confirmation is bound to its code.
        {**ask_fields, "_step": "confirm", "code": code},
        {**confirm_other, "code": code},
    ]
    for data in attempts:
        refused = client.post("/s/alpha/intrekken", data=data)
        assert refused.status_code == 403, data
        assert "verlopen" in refused.text and "niets verwijderd" in refused.text
        _check_headers(refused)
    assert _stored(world.engine, response_id)[0] == "completed"
    assert _stored(world.engine, other_id)[0] == "completed"


def test_guessing_codes_is_rate_limited_together_with_resuming(
    world: Fieldwork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frozen clock: no refill while the test runs, however slow the machine.
    monkeypatch.setattr(security, "monotonic", lambda: 1000.0)
    app = create_app(Settings(data_dir=tmp_path, secret_key="limits"), world.engine)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        fields = _hidden(client.get("/s/alpha/intrekken").text)
        codes = []
        for i in range(int(security.CODE_LIMIT.burst)):
            guess = {**fields, "code": f"ABCD-EFGH-{i:02d}"}
            path = "/s/alpha/hervat" if i % 2 else "/s/alpha/intrekken"
            codes.append(client.post(path, data=guess).status_code)
        assert 429 not in codes
        refused = [
            client.post("/s/alpha/intrekken", data={**fields, "code": "ABCD-EFGH-99"}),
            client.post("/s/alpha/hervat", data={"code": "ABCD-EFGH-99"}),
            client.post(
                "/api/v1/studies/alpha/withdrawals", json={"resume_code": world.resume_code}
            ),
        ]
        assert [r.status_code for r in refused] == [429, 429, 429]
        assert int(refused[0].headers["retry-after"]) >= 1
        assert "Too many requests" in refused[2].json()["detail"]
        # Other doors count separately.
        assert client.get("/s/alpha/intrekken").status_code == 200
    # The refused API call withdrew nothing.
    assert _stored(world.engine, world.active)[0] == "active"


@pytest.mark.parametrize(
    "hostile", ['"><script>alert(1)</script>', "<img src=x onerror=alert(1)>", "ABCD'-<b>EF"]
)
def test_hostile_input_in_the_code_field_is_shown_escaped(client: TestClient, hostile: str) -> None:
    page = _ask(client, hostile)
    assert page.status_code == 422
    assert hostile not in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    field = re.search(r'<input id="code"[^>]*>', page.text)
    assert field is not None and "&lt;" in field.group(0)
    api = client.post("/api/v1/studies/alpha/withdrawals", json={"resume_code": hostile})
    assert api.status_code == 422
    assert hostile not in api.text


def _cells(path: Path, fmt: str) -> list[str]:
    """Every cell of an export file, as text."""
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return [cell for row in csv.reader(fh) for cell in row]
    if fmt == "xlsx":
        book = openpyxl.load_workbook(path, read_only=True)
        try:
            return [
                str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row
            ]
        finally:
            book.close()
    if fmt in ("sav", "dta"):
        reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
        frame, _meta = reader(str(path))
    else:
        frame = pq.read_table(path).to_pandas()
    return [str(v) for v in frame.astype(str).to_numpy().ravel()]


def test_withdrawn_answers_are_gone_from_every_export_format_and_cached_aggregate(
    world: Fieldwork, client: TestClient, tmp_path: Path
) -> None:
    response_id, code = _respond(world.engine)
    options = ExportOptions(completed_only=False, open_text=True)
    cache = RecordCache()

    def exported(stage: str) -> dict[str, list[str]]:
        cells = {}
        for fmt in FORMATS:
            out = tmp_path / stage / f"alpha.{fmt}"
            out.parent.mkdir(exist_ok=True)
            export_to_file(world.engine, "alpha", fmt, out, options)
            cells[fmt] = _cells(out, fmt)
        return cells

    def found(cells: list[str]) -> bool:
        return any(SECRET in c for c in cells) or any(c in {"4711", "4711.0"} for c in cells)

    before = exported("before")
    assert all(found(cells) for cells in before.values()), "the test must see the answers first"
    records = {r.id: r for r in cache.records(world.engine, "alpha")}
    assert records[response_id].answers["opm"] == SECRET
    assert response_id in completed_ids(world.engine, "alpha")

    assert _withdraw_by_html(client, code).status_code == 303

    after = exported("after")
    assert not [fmt for fmt, cells in after.items() if found(cells)]
    # The other completed response is still exported.
    assert all(any("Mijn geheime opmerking" in c for c in cells) for cells in after.values())
    record = {r.id: r for r in cache.records(world.engine, "alpha")}[response_id]
    assert record.status == "withdrawn" and dict(record.answers) == {} and not record.completed
    assert response_id not in completed_ids(world.engine, "alpha")
    assert world.completed in completed_ids(world.engine, "alpha")


def test_question_page_and_closing_page_offer_withdrawal(
    world: Fieldwork, client: TestClient
) -> None:
    active_id, active_code = _respond(world.engine, complete=False)
    page = client.get(f"/s/alpha/r/{active_code}")
    offer = re.search(r'<section class="withdraw-offer".*?</section>', page.text, flags=re.S)
    assert offer is not None
    assert 'action="/s/alpha/intrekken"' in offer.group(0)
    # The button leads to the confirmation, with the code filled in; nothing is deleted yet.
    confirm = client.post("/s/alpha/intrekken", data=_hidden(offer.group(0)))
    assert confirm.status_code == 200 and active_code in confirm.text
    assert _stored(world.engine, active_id)[0] == "active"
    # "No, keep my answers" goes back to the questionnaire.
    keep = client.post("/s/alpha/hervat", data=_hidden(confirm.text, form=1))
    assert keep.status_code == 303 and keep.headers["location"] == f"/s/alpha/r/{active_code}"

    done_id, done_code = _respond(world.engine)
    closing = client.get(f"/s/alpha/r/{done_code}")
    offer = re.search(r'<section class="withdraw-offer".*?</section>', closing.text, flags=re.S)
    assert offer is not None
    # The closing page shows the code, to withdraw now or later.
    assert "Bewaar daarvoor deze code" in offer.group(0) and done_code in offer.group(0)
    confirm = client.post("/s/alpha/intrekken", data=_hidden(offer.group(0)))
    assert client.post("/s/alpha/intrekken", data=_hidden(confirm.text)).status_code == 303
    assert _stored(world.engine, done_id) == ("withdrawn", {})
    # A withdrawn response's page offers nothing more.
    assert "withdraw-offer" not in client.get(f"/s/alpha/r/{done_code}").text


def test_api_withdrawal_is_documented_and_answers_in_the_chosen_language(
    world: Fieldwork, client: TestClient
) -> None:
    response_id, code = _respond(world.engine)
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/studies/{study_id}/withdrawals"]["post"]
    assert {"200", "404", "409", "422", "429"} <= set(operation["responses"])
    done = client.post(
        "/api/v1/studies/alpha/withdrawals",
        json={"resume_code": code.lower().replace("-", " "), "language": "en"},
    )
    assert done.status_code == 200
    assert done.json() == {
        "status": "withdrawn",
        "detail": "We have deleted all the answers you gave with this code.",
    }
    assert _stored(world.engine, response_id) == ("withdrawn", {})
    malformed = client.post("/api/v1/studies/alpha/withdrawals", json={"resume_code": "12"})
    assert malformed.status_code == 422
    problem = malformed.json()["errors"]["resume_code"][0]
    assert problem["code"] == "malformed_code" and "geen geldige code" in problem["message"]
    missing = client.post("/api/v1/studies/alpha/withdrawals", json={})
    assert missing.status_code == 422 and "body.resume_code" in missing.json()["errors"]
    nostudy = client.post("/api/v1/studies/gamma/withdrawals", json={"resume_code": code})
    assert nostudy.status_code == 404


def test_two_simultaneous_withdrawals_exactly_one_succeeds(world: Fieldwork) -> None:
    response_id, code = _respond(world.engine)
    service = ResponseService(world.engine)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def withdraw() -> None:
        barrier.wait()
        try:
            state = service.withdraw(code, study_id="alpha")
            outcomes.append(state.status.value)
        except AlreadyWithdrawn:
            outcomes.append("already")

    threads = [threading.Thread(target=withdraw) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["already", ResponseStatus.WITHDRAWN.value]
    assert _stored(world.engine, response_id) == ("withdrawn", {})
