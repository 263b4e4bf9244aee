"""Every page of the shipped studies, with the CSS and script it loads, stays under 30 KB as
transferred to a phone (issue 2). Pages go uncompressed (see `vakstem.web.static_files`); the
static files go gzip-compressed to clients that accept it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

import vakstem
from vakstem.instrument.loader import load_study_file
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.web.app import create_app

STUDIES = Path(vakstem.__file__).parent / "studies"
BUDGET = 30 * 1024


@pytest.fixture
def shipped(database_url: str, tmp_path: Path) -> Iterator[tuple[Engine, TestClient]]:
    engine = open_database(database_url)
    for name in ("voorbeeld", "klantmanagers"):
        path = STUDIES / name / "study.yaml"
        load_study(engine, load_study_file(path), path.read_text(encoding="utf-8"))
        set_status(engine, name, "open")
    settings = Settings(data_dir=tmp_path, secret_key="weight")
    with TestClient(create_app(settings, engine)) as client:
        yield engine, client
    engine.dispose()


def _answers(page: dict[str, Any]) -> dict[str, Any]:
    """Answers that keep every gate open: the first choice ("ja"), numbers at their minimum."""
    out: dict[str, Any] = {}
    for item in page["items"]:
        codes = [c["code"] for c in item["choices"] if not c["missing"]]
        low = item["min"] if item["min"] is not None else 1
        match item["type"]:
            case "note":
                pass
            case "matrix":
                out.update({row["id"]: codes[0] for row in item["rows"]})
            case "single" | "consent":
                out[item["id"]] = 1 if item["type"] == "consent" else codes[0]
            case "multiple":
                out[item["id"]] = [codes[0]]
            case "integer":
                out[item["id"]] = int(low)
            case "decimal":
                out[item["id"]] = float(low)
            case "date":
                out[item["id"]] = "2020-01-15"
            case _:
                out[item["id"]] = "Een antwoord"
    return out


def _transferred(client: TestClient, url: str) -> int:
    response = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, url
    return int(response.headers["content-length"])


def _walk(client: TestClient, study: str) -> Iterator[tuple[str, str]]:
    """(page id, HTML) for each page a respondent who answers "ja" everywhere sees."""
    started = client.post(f"/api/v1/studies/{study}/responses", json={"language": "nl"})
    assert started.status_code == 201, started.text
    body = started.json()
    code = body["resume_code"]
    auth = {"Authorization": f"Bearer {code}"}
    page = body["page"]
    for _ in range(40):
        html = client.get(f"/s/{study}/r/{code}", headers={"Accept-Encoding": "gzip"})
        assert html.status_code == 200
        yield page["id"], html.text
        sent = client.post(
            f"/api/v1/responses/{body['id']}/pages/{page['id']}",
            json={"answers": _answers(page)},
            headers=auth,
        )
        assert sent.status_code == 200, sent.text
        if sent.json()["completed"]:
            return
        page = sent.json()["page"]
    raise AssertionError(f"{study}: more than 40 pages")


@pytest.mark.parametrize("study", ["voorbeeld", "klantmanagers"])
def test_every_page_with_its_css_and_script_stays_under_30_kb(
    shipped: tuple[Engine, TestClient], study: str
) -> None:
    _engine, client = shipped
    seen = 0
    for page_id, html in _walk(client, study):
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
        assert assets, page_id
        total = len(html.encode("utf-8")) + sum(_transferred(client, a) for a in assets)
        assert total < BUDGET, f"{study}/{page_id}: {total} bytes"
        seen += 1
    assert seen >= 5


def test_static_files_are_gzipped_only_for_clients_that_accept_it(
    shipped: tuple[Engine, TestClient],
) -> None:
    _engine, client = shipped
    css = Path(vakstem.__file__).parent / "web" / "static" / "vakstem.css"
    raw = css.read_bytes()
    zipped = client.get("/static/vakstem.css", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) < len(raw) / 2
    assert zipped.content == raw  # httpx2 decodes it: the same file
    assert "immutable" in zipped.headers["cache-control"]
    plain = client.get("/static/vakstem.css", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == raw
