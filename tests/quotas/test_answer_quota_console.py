"""The console side of answer quotas: the owner sets one on the reach page (a bad value is a
clear 422), and the dashboard counts screened-out responses apart, out of the completion rate's
denominator (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.console.helpers import PASSWORD, login
from tests.invitations.factories import load_open, opened
from tests.quotas.test_answer_quotas import screening_study

from vakstem.service import quotas
from vakstem.service.accounts import Accounts, Role
from vakstem.service.audit import Actor
from vakstem.service.console import dashboard_records
from vakstem.service.dashboard import compute_dashboard
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseStatus
from vakstem.settings import Settings
from vakstem.web.app import create_app

PAGE = "/console/studies/screen/reach"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with opened(database_url) as engine:
        load_open(engine, screening_study())
        yield engine


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    accounts = Accounts(engine)
    user = accounts.create_user("eigenaar@example.org", "Eigenaar", PASSWORD)
    accounts.set_member("screen", user.email, Role.OWNER, actor=Actor.system("test"))
    settings = Settings(data_dir=tmp_path, secret_key="console-secret")
    with TestClient(create_app(settings, engine), follow_redirects=False) as client:
        yield client


def test_owner_sets_an_answer_quota_on_the_reach_page(client: TestClient, engine: Engine) -> None:
    csrf = login(client, "eigenaar@example.org")
    form = {"csrf": csrf, "name": "gemeentelijk", "max_completes": "150", "sources": ""}
    saved = client.post(f"{PAGE}/quotas", data=form | {"variable": "org_type", "value": "2"})
    assert saved.status_code == 303
    [quota] = quotas.list_quotas(engine, "screen")
    assert (quota.variable, quota.value, quota.max_completes) == ("org_type", 2, 150)
    assert "org_type = 2" in client.get(PAGE).text
    bad = client.post(f"{PAGE}/quotas", data=form | {"variable": "org_type", "value": "8"})
    assert bad.status_code == 422 and "is not a code of" in bad.text


def test_dashboard_counts_screened_out_apart_from_dropouts(
    client: TestClient, engine: Engine
) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    quotas.set_quota(engine, "screen", "gemeentelijk", 1, variable="org_type", value=2)
    statuses = []
    for _ in range(2):
        state = service.start("screen")
        statuses.append(service.submit_page(state.id, "p1", {"org_type": 2}).state)
    assert [s.status for s in statuses] == [ResponseStatus.ACTIVE, ResponseStatus.SCREENED_OUT]
    assert service.submit_page(statuses[0].id, "p2", {"tevreden": 1}).state.completed
    dashboard = compute_dashboard(screening_study(), dashboard_records(engine, "screen"))
    assert (dashboard.starts, dashboard.completes, dashboard.screened_out) == (2, 1, 1)
    # The one who was screened out is no drop-out: every eligible response completed.
    assert dashboard.completion_rate == 1.0 and dashboard.refused == 0
    login(client, "eigenaar@example.org")
    html = client.get("/console/studies/screen?lang=en").text
    assert re.search(r"(Screened out by quota|Gestopt door quotum)</dt><dd>1</dd>", html)
