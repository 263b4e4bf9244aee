"""Hostile input: markup and script typed into a text answer is shown escaped in the console
(responses list and response detail) and stays plain text in the xlsx export (a cell typed as
text, so `=...` is no formula)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from tests.console.helpers import World, build_world, login

from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.web.app import create_app

from .respondents import HOSTILE_TEXT


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    engine = open_database(database_url)
    yield build_world(engine)
    engine.dispose()


def test_markup_in_an_answer_is_escaped_in_the_console_and_text_in_xlsx(
    world: World, tmp_path: Path
) -> None:
    service = ResponseService(world.engine)
    hostile = service.start("alpha")
    service.submit_page(hostile.id, "p1", {"org_type": 1, "opm": HOSTILE_TEXT})
    service.submit_page(hostile.id, "p2", {"jaren": 2})
    app = create_app(Settings(data_dir=tmp_path, secret_key="hostile"), world.engine)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "owner@example.org")
        detail = client.get(f"/console/studies/alpha/responses/{hostile.id}")
        assert detail.status_code == 200
        assert "<script>alert(1)</script>" not in detail.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
        listing = client.get("/console/studies/alpha/responses")
        assert "<script>alert(1)" not in listing.text
        xlsx = client.get("/console/studies/alpha/export?format=xlsx")
        assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row if c.value == HOSTILE_TEXT]
    assert cells and all(c.data_type == "s" for c in cells)
