"""Rate limits on login, password reset and starting responses: a friendly 429 (HTML page, or
JSON under /api/) with Retry-After and the usual security headers; buckets keyed by a
rotating keyed hash, so the limiter never holds an address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.console.helpers import build_world

from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.web import security
from vakstem.web.app import create_app
from vakstem.web.security import Limit, RateLimiter


@pytest.fixture
def client(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    # A frozen clock: no refill while the test runs, however slow the machine.
    monkeypatch.setattr(security, "monotonic", lambda: 1000.0)
    engine = open_database(database_url)
    build_world(engine)
    app = create_app(Settings(data_dir=tmp_path, secret_key="limits"), engine)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client
    engine.dispose()


def test_login_attempts_beyond_the_limit_get_a_friendly_429_page(client: TestClient) -> None:
    statuses = [
        client.post("/console/login", data={"email": "x@example.org", "password": "p"})
        for _ in range(25)
    ]
    codes = [r.status_code for r in statuses]
    assert 429 not in codes[:20] and codes[-1] == 429, codes
    refused = statuses[-1]
    assert "Even geduld" in refused.text and "Please wait" in refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
    # Other doors count separately.
    assert client.get("/s/alpha").status_code == 200


def test_password_reset_requests_are_limited(client: TestClient) -> None:
    codes = [client.post("/console/forgot", data={"email": "a@b.nl"}).status_code for _ in range(7)]
    assert codes[-1] == 429 and 429 not in codes[:5], codes


def test_starting_responses_through_the_api_is_limited_with_json(client: TestClient) -> None:
    codes = [client.post("/api/v1/studies/alpha/responses", json={}) for _ in range(122)]
    assert all(r.status_code == 201 for r in codes[:120])
    assert codes[-1].status_code == 429
    assert "Too many requests" in codes[-1].json()["detail"]


def test_limiter_refills_keeps_addresses_apart_and_forgets_on_rotation() -> None:
    now = [0.0]
    limiter = RateLimiter(rotate_seconds=3600, clock=lambda: now[0])
    limit = Limit(burst=2, per_minute=6)
    assert limiter.allow("login", "192.0.2.1", limit) == 0
    assert limiter.allow("login", "192.0.2.1", limit) == 0
    wait = limiter.allow("login", "192.0.2.1", limit)
    assert 9 < wait <= 10  # one token per 10 s
    assert limiter.allow("login", "192.0.2.2", limit) == 0  # another client
    now[0] += 10
    assert limiter.allow("login", "192.0.2.1", limit) == 0
    held = limiter.remembered()
    assert all(b"192.0.2" not in key and len(key) == 16 for _door, key in held)
    before = limiter.client_key("192.0.2.1")
    now[0] += 3600
    assert limiter.allow("login", "192.0.2.1", limit) == 0
    assert limiter.client_key("192.0.2.1") != before
    assert len(limiter.remembered()) == 1
