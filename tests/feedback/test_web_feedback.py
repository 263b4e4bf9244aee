"""The feedback pages through the real web app and respondent service (SQLite and PostgreSQL):
the mirror on the closing page from the 30th completed response on, its own address by resume
code, a withdrawal taking effect at once, and the public summary only when switched on."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.feedback.factories import complete

from vakstem.feedback.store import set_public_summary
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.web.app import create_app

LATER = "Je vergelijking met andere klantmanagers is er nog niet"
TABLE = 'class="mirror-table"'


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret")
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield client


def _closing(client: TestClient, code: str) -> str:
    response = client.get(f"/s/klantmanagers/r/{code}")
    assert response.status_code == 200
    return response.text


def test_mirror_appears_at_thirty_completed_responses_and_not_at_twenty_nine(
    engine: Engine, client: TestClient
) -> None:
    service = ResponseService(engine)
    rng = random.Random(7)
    for _ in range(28):
        complete(service, rng, organisatie=363)
    # Neither a test response nor one still being filled in counts.
    complete(service, rng, test=True, organisatie=363)
    service.start("klantmanagers")
    _state, code29 = complete(service, rng, organisatie=363)
    page29 = _closing(client, code29)
    assert LATER in page29 and TABLE not in page29
    assert f"/s/klantmanagers/r/{code29}/spiegel" in page29
    _state, code30 = complete(service, rng, organisatie=363)
    page30 = _closing(client, code30)
    assert TABLE in page30 and LATER not in page30
    assert "30 klantmanagers" in page30
    assert "<svg" in page30 and "Jouw score" in page30
    # The 29th respondent sees theirs by the link they were given.
    later = client.get(f"/s/klantmanagers/r/{code29}/spiegel")
    assert later.status_code == 200 and TABLE in later.text
    # A withdrawal counts at once: no cached figure outlives it.
    service.withdraw(code29)
    page = _closing(client, code30)
    assert LATER in page and TABLE not in page


def test_mirror_shows_own_scores_and_nothing_that_identifies(
    engine: Engine, client: TestClient
) -> None:
    service = ResponseService(engine)
    rng = random.Random(3)
    for _ in range(30):
        complete(service, rng, organisatie=14)
    matrix = {f"br_{i}": 5 for i in range(1, 5)} | {"br_5": 1}
    _state, code = complete(service, rng, organisatie=14, **matrix)
    html = client.get(f"/s/klantmanagers/r/{code}/spiegel?lang=en").text
    row = re.search(r"<th scope=\"row\">Discretion</th><td>([^<]+)</td>", html)
    assert row is not None and row.group(1) == "5.0"
    assert "Groningen" not in html  # the organisation is never shown
    assert "Your answers compared" in html


def test_mirror_address_of_an_unfinished_response_leads_back_to_its_page(
    engine: Engine, client: TestClient
) -> None:
    state = ResponseService(engine).start("klantmanagers")
    response = client.get(f"/s/klantmanagers/r/{state.resume_code}/spiegel", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/s/klantmanagers/r/{state.resume_code}"


def test_mirror_with_an_unknown_code_is_a_friendly_not_found(client: TestClient) -> None:
    response = client.get("/s/klantmanagers/r/AAAAAAAAAA/spiegel")
    assert response.status_code == 404
    assert "Traceback" not in response.text


def test_public_summary_is_shown_only_after_the_owner_switches_it_on(
    engine: Engine, client: TestClient
) -> None:
    service = ResponseService(engine)
    rng = random.Random(5)
    for _ in range(12):
        complete(service, rng, organisatie=363, org_type=1, open_nodig="Minder werkdruk graag")
    off = client.get("/s/klantmanagers/resultaten")
    assert off.status_code == 404
    assert "niet openbaar" in off.text
    set_public_summary(engine, "klantmanagers", True)
    on = client.get("/s/klantmanagers/resultaten")
    assert on.status_code == 200
    assert "12 klantmanagers hebben de vragenlijst helemaal ingevuld" in on.text
    assert "Minder werkdruk graag" not in on.text  # counts of themes, never the texts
    english = client.get("/s/klantmanagers/resultaten?lang=en")
    assert "12 klantmanagers have filled in" in english.text


def test_public_summary_follows_new_and_withdrawn_responses(
    engine: Engine, client: TestClient
) -> None:
    """The page is kept between requests, but never past a change in the responses it counts:
    a new completion and a withdrawal each give a new page."""
    service = ResponseService(engine)
    rng = random.Random(8)
    for _ in range(12):
        complete(service, rng, organisatie=363, org_type=1)
    set_public_summary(engine, "klantmanagers", True)
    assert "12 klantmanagers hebben" in client.get("/s/klantmanagers/resultaten").text
    assert "12 klantmanagers hebben" in client.get("/s/klantmanagers/resultaten").text
    _last, code = complete(service, rng, organisatie=363, org_type=1)
    assert "13 klantmanagers hebben" in client.get("/s/klantmanagers/resultaten").text
    service.withdraw(code)
    assert "12 klantmanagers hebben" in client.get("/s/klantmanagers/resultaten").text
    test_run, _code = complete(service, rng, test=True, organisatie=363, org_type=1)
    assert test_run.is_test
    assert "12 klantmanagers hebben" in client.get("/s/klantmanagers/resultaten").text


def test_public_summary_of_an_unknown_study_is_not_found(client: TestClient) -> None:
    assert client.get("/s/nergens/resultaten").status_code == 404
