"""The respondent side of reaching respondents over HTTP: counted source links, the friendly
page of a full quota, and personal invitation links (start once, used, declined, made up),
with the completion recorded from the closing page — on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from vakstem.service import invitations as inv
from vakstem.service import links, quotas
from vakstem.settings import Settings
from vakstem.store.invitations import invitations, link_opens
from vakstem.web.app import create_app

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="web-test-secret", public_url="https://x.example")


@pytest.fixture
def client(engine: Engine, web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings, engine), raise_server_exceptions=False) as client:
        yield client


def _hidden(html: str) -> dict[str, str]:
    """The hidden fields of the page's first form (the answers), as a browser sends them; the
    withdrawal form beside the resume code has its own token."""
    first = re.search(r"<form\b.*?</form>", html, flags=re.S)
    return dict(HIDDEN.findall(first.group(0) if first else html))


def _answer_first_page(client: TestClient, url: str, html: str) -> None:
    form = _hidden(html) | {"tevreden": "1"}
    done = client.post(url, data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    closing = client.get(done.headers["location"])
    assert closing.status_code == 200


def test_source_link_counts_the_open_and_keeps_the_tag_through_to_completion(
    client: TestClient, engine: Engine
) -> None:
    first = client.get("/s/bereik/l/gemeente-x", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/s/bereik?bron=gemeente-x"
    client.get("/s/bereik/l/gemeente-x", follow_redirects=False)
    made_up = client.get("/s/bereik/l/verzonnen", follow_redirects=False)
    assert made_up.headers["location"] == "/s/bereik"
    welcome = client.get(first.headers["location"])
    _answer_first_page(client, "/s/bereik", welcome.text)
    counts = {c.source: c for c in links.source_counts(engine, "bereik")}
    assert (counts["gemeente-x"].opens, counts["gemeente-x"].starts) == (2, 1)
    assert counts["gemeente-x"].completes == 1
    assert counts[""].opens == 1
    # A counter per study, source and day: nothing else about the visitors is stored.
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(link_opens)).scalar_one() == 2


def test_full_quota_shows_a_friendly_page_in_dutch_and_english(
    client: TestClient, engine: Engine
) -> None:
    quotas.set_quota(engine, "bereik", "gemeenten", 0, sources=["gemeente-x"])
    dutch = client.get("/s/bereik/l/gemeente-x")
    assert dutch.status_code == 409
    assert "genoeg deelnemers" in dutch.text and 'lang="nl"' in dutch.text
    english = client.get("/s/bereik/l/gemeente-x?lang=en")
    assert english.status_code == 409 and "enough participants" in english.text
    other = client.get("/s/bereik/l/nieuwsbrief-nov", follow_redirects=False)
    assert other.status_code == 303
    # Who arrives at the welcome page anyway (an old tab) gets the closing page on starting.
    welcome = client.get("/s/bereik?bron=gemeente-x")
    refused = client.post("/s/bereik", data=_hidden(welcome.text) | {"tevreden": "1"})
    assert refused.status_code == 409


def _token(engine: Engine, settings: Settings, email: str) -> str:
    inv.import_csv(engine, settings, "bereik", f"email,language\n{email},en\n".encode())
    with engine.connect() as conn:
        invitation_id = conn.execute(
            sa.select(invitations.c.id).where(invitations.c.email == email)
        ).scalar_one()
    return inv.token_for(settings, "bereik", invitation_id)


def test_invitation_link_starts_once_and_the_closing_page_records_completion(
    client: TestClient, engine: Engine, web_settings: Settings
) -> None:
    token = _token(engine, web_settings, "a@example.org")
    shown = client.get(f"/s/bereik/i/{token}")
    assert shown.status_code == 200 and "Start the questionnaire" in shown.text
    # Looking at the link (mail scanners do) uses nothing.
    assert inv.summary(engine, "bereik").used == 0
    started = client.post(f"/s/bereik/i/{token}", data=_hidden(shown.text), follow_redirects=False)
    assert started.status_code == 303
    response_url = started.headers["location"]
    assert re.fullmatch(r"/s/bereik/r/[0-9A-Z-]+", response_url)
    page = client.get(response_url)
    _answer_first_page(client, response_url, page.text)
    summary = inv.summary(engine, "bereik")
    assert (summary.used, summary.completed) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(sa.select(invitations.c.claim_hash)).scalar_one() is None
    again = client.get(f"/s/bereik/i/{token}")
    assert again.status_code == 409 and "has been used" in again.text
    replay = client.post(f"/s/bereik/i/{token}", data=_hidden(shown.text), follow_redirects=False)
    assert replay.status_code == 409


def test_decline_page_confirms_then_the_link_says_so(
    client: TestClient, engine: Engine, web_settings: Settings
) -> None:
    token = _token(engine, web_settings, "b@example.org")
    confirm = client.get(f"/s/bereik/i/{token}/weiger")
    assert confirm.status_code == 200 and inv.summary(engine, "bereik").declined == 0
    forged = client.post(f"/s/bereik/i/{token}/weiger", data={"_csrf": "x"}, follow_redirects=False)
    assert forged.status_code == 303 and inv.summary(engine, "bereik").declined == 0
    done = client.post(f"/s/bereik/i/{token}/weiger", data=_hidden(confirm.text))
    assert done.status_code == 200 and "no more reminders" in done.text
    assert inv.summary(engine, "bereik").declined == 1
    assert "You have said you will not take part" in client.get(f"/s/bereik/i/{token}").text


def test_made_up_and_expired_links_get_the_same_404_page(
    client: TestClient, engine: Engine, web_settings: Settings
) -> None:
    token = _token(engine, web_settings, "c@example.org")
    inv.purge_contacts(engine, "bereik")
    purged = client.get(f"/s/bereik/i/{token}")
    made_up = client.get("/s/bereik/i/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert purged.status_code == made_up.status_code == 404
    assert purged.text == made_up.text
    assert client.get(f"/s/bestaat-niet/i/{token}").status_code == 404
