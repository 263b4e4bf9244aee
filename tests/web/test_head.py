"""HEAD on respondent pages (link checkers, mail scanners): answered like GET without a body,
and nothing is created."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from vakstem.store.tables import responses


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(responses)).scalar_one())


def test_head_on_the_study_link_answers_like_get_without_body_or_response(
    client: TestClient, engine: Engine
) -> None:
    get = client.get("/s/voorbeeld")
    head = client.head("/s/voorbeeld")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert "content-security-policy" in head.headers
    assert _count(engine) == 0


def test_head_on_resume_form_and_unknown_study(client: TestClient) -> None:
    assert client.head("/s/voorbeeld/hervat").status_code == 200
    missing = client.head("/s/bestaat-niet")
    assert missing.status_code == 404
    assert missing.content == b""
