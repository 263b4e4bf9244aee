"""The respondent pages of an answer quota: a respondent whose answer falls in a full group gets
the friendly quota-full page (Dutch and English) right after that page, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.invitations.factories import load_open, opened
from tests.quotas.test_answer_quotas import screening_study

from vakstem.service import quotas
from vakstem.settings import Settings
from vakstem.web.app import create_app

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, secret_key="web-test-secret")
    with opened(database_url) as engine:
        load_open(engine, screening_study())
        quotas.set_quota(engine, "screen", "gemeentelijk", 0, variable="org_type", value=2)
        with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
            yield client


def _submit_org(client: TestClient, org: str, lang: str) -> str:
    first = client.get(f"/s/screen?lang={lang}")
    assert first.status_code == 200
    form = dict(HIDDEN.findall(first.text)) | {"org_type": org}
    done = client.post("/s/screen", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    following = client.get(done.headers["location"])
    assert following.status_code == 200
    return following.text


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("nl", "genoeg deelnemers"), ("en", "enough participants")],
)
def test_answer_in_a_full_group_gets_the_friendly_quota_page(
    client: TestClient, lang: str, expected: str
) -> None:
    html = _submit_org(client, "2", lang)
    assert expected in html
    assert 'name="tevreden"' not in html


def test_answer_in_an_open_group_gets_the_next_page(client: TestClient) -> None:
    html = _submit_org(client, "3", "nl")
    assert 'name="tevreden"' in html and "genoeg deelnemers" not in html
