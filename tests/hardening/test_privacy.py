"""Privacy: after a whole run (respondents through the HTML pages and the API, a console login,
the responses list, an export and the researcher API) no table of the database holds the
client's address or its User-Agent string, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.console.helpers import World, build_world, login
from tests.web.flow import FULL_RUN, Respondent

from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.web.app import create_app

from .server import open_study

USER_AGENT = "PrivacyProbe/9.1 (X11; Hardening; rv:77.0) Gecko/20100101"
FORWARDED = "203.0.113.77"
#: The Starlette test client's address is the string "testclient".
MARKERS = ("127.0.0.1", "testclient", FORWARDED, USER_AGENT, "PrivacyProbe", "Gecko/20100101")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    open_study(database_url, "voorbeeld")
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def _every_value(engine: Engine) -> list[str]:
    """Every cell of every table, as text."""
    cells: list[str] = []
    with engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for row in conn.execute(sa.select(table)):
                cells.extend(repr(value) for value in row)
    return cells


def test_no_address_or_user_agent_is_stored_anywhere(engine: Engine, tmp_path: Path) -> None:
    world: World = build_world(engine)
    settings = Settings(data_dir=tmp_path, secret_key="privacy-test-secret")
    headers = {"User-Agent": USER_AGENT, "X-Forwarded-For": FORWARDED, "X-Real-IP": FORWARDED}
    with TestClient(
        create_app(settings, engine),
        headers=headers,
        raise_server_exceptions=False,
        follow_redirects=False,
    ) as client:
        # Two respondents through the HTML pages, one through the API.
        for _ in range(2):
            person = Respondent(client)
            person.open("?src=nieuwsbrief")
            for _page, values in FULL_RUN:
                assert person.submit(values).status_code == 200
        started = client.post("/api/v1/studies/alpha/responses", json={"language": "en"})
        assert started.status_code == 201
        body = started.json()
        auth = {"Authorization": f"Bearer {body['resume_code']}"}
        client.post(
            f"/api/v1/responses/{body['id']}/pages/p1",
            json={"answers": {"org_type": 1, "opm": "api"}},
            headers=auth,
        )
        # A failed and a good console login, the lists, an export, the researcher API.
        client.post("/console/login", data={"email": "owner@example.org", "password": "wrong"})
        login(client, "owner@example.org")
        for path in (
            "/console",
            "/console/studies/alpha",
            "/console/studies/alpha/responses",
            "/console/studies/alpha/export?format=csv",
            "/console/studies/alpha/audit",
        ):
            assert client.get(path).status_code == 200, path
        token = world.accounts.create_api_token(world.users["researcher"], "privacy")
        exported = client.get(
            "/api/v1/studies/alpha/export?format=csv",
            headers={"authorization": f"Bearer {token}"},
        )
        assert exported.status_code == 200
    cells = _every_value(engine)
    assert len(cells) > 100  # the run really stored something
    found = {marker: [c for c in cells if marker in c][:3] for marker in MARKERS}
    assert not any(found.values()), found
