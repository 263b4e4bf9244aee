"""Web security audit over the real app: every state-changing HTML form route (found by walking
`app.routes`) refuses a post without its CSRF token and changes nothing; every page type sends
a strict CSP (no 'unsafe-inline', frame-ancestors 'none') and no referrer; console cookies are
HttpOnly and SameSite, and Secure behind TLS. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.console.helpers import World, build_world, login

from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.web.app import create_app


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    engine = open_database(database_url)
    yield build_world(engine)
    engine.dispose()


def _app(world: World, tmp_path: Path, **settings: Any) -> FastAPI:
    return create_app(
        Settings(data_dir=tmp_path, secret_key="security-secret", **settings), world.engine
    )


def _snapshot(engine: Engine, tables: list[sa.Table]) -> dict[str, list[str]]:
    """Every row of `tables` (from `_tables`, reflected once for many snapshots)."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in tables:
            # A session's last activity moves with every request; which sessions exist does not.
            columns = [c for c in table.columns if c.name != "last_seen_at"]
            out[table.name] = sorted(repr(tuple(row)) for row in conn.execute(sa.select(*columns)))
    return out


def _tables(engine: Engine) -> list[sa.Table]:
    """Every table except the audit log (a refused post may be audited)."""
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        meta = sa.MetaData()
        return [
            sa.Table(name, meta, autoload_with=conn)
            for name in names
            if name not in {"audit_log", "alembic_version"}
        ]


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, also inside included routers (FastAPI keeps those as wrappers)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(list(inner.routes))
        else:
            yield route


def _html_post_routes(app: FastAPI) -> list[str]:
    paths = []
    for route in _routes(list(app.routes)):
        methods = getattr(route, "methods", None) or set()
        path = str(getattr(route, "path", ""))
        # The JSON APIs authenticate with a bearer header, which a browser never sends by
        # itself, so cross-site requests cannot ride on them.
        if "POST" in methods and not path.startswith("/api/"):
            paths.append(path)
    return sorted(paths)


def _fill(path: str, world: World) -> str:
    values = {
        "study_id": "alpha",
        "code": world.resume_code,
        "response_id": world.completed,
        "user_id": str(world.users["viewer"].id),
        "token_id": "1",
        "token": "abcdefghijklmnopqrstuvwxyz",
        "name": "x",
    }
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), path)


def test_every_html_post_route_refuses_a_post_without_its_csrf_token(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(world, tmp_path)
    routes = _html_post_routes(app)
    assert len(routes) >= 25  # respondent, reach and console forms
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        login(client, "owner@example.org")
        tables = _tables(world.engine)
        before = _snapshot(world.engine, tables)
        for path in routes:
            url = _fill(path, world)
            for data in ({}, {"csrf": "forged", "_csrf": "forged"}):
                response = client.post(url, data=data)
                # The friendly 500 page says nothing: show the logged traceback instead.
                assert response.status_code < 500, (url, caplog.text[-4000:])
                # Refused, shown again or sent back to its page: in every case nothing changed.
                assert _snapshot(world.engine, tables) == before, (url, data, response.status_code)


def _check_headers(response: Any, what: str) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, what
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert "default-src 'self'" in csp, what
    assert response.headers.get("referrer-policy") == "no-referrer", what
    assert response.headers.get("x-content-type-options") == "nosniff", what


def test_every_page_type_sends_a_strict_csp_and_no_referrer(world: World, tmp_path: Path) -> None:
    app = _app(world, tmp_path)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        pages = {
            "welcome": client.get("/s/alpha"),
            "resume form": client.get("/s/alpha/hervat"),
            "question page": client.get(f"/s/alpha/r/{world.resume_code}"),
            "unknown study": client.get("/s/bestaat_niet"),
            "unknown code": client.get("/s/alpha/r/ABCDEFGHJK"),
            "api": client.post("/api/v1/studies/alpha/responses", json={}),
            "api error": client.get("/api/v1/responses/x"),
            "openapi": client.get("/openapi.json"),
            "static": client.get("/static/vakstem.css"),
            "console login": client.get("/console/login"),
            "too large": client.post("/s/alpha", content=b"x" * 200_000),
        }
        login(client, "owner@example.org")
        pages["console"] = client.get("/console")
        pages["console study"] = client.get("/console/studies/alpha")
        pages["console responses"] = client.get("/console/studies/alpha/responses")
        pages["export"] = client.get("/console/studies/alpha/export?format=csv")
        for what, response in pages.items():
            _check_headers(response, what)
        assert pages["too large"].status_code == 413
        for what in ("welcome", "question page", "console", "console study"):
            html = pages[what].text
            # No inline script or style the CSP would have to allow.
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), what
            assert not re.search(r"\sstyle=|<style", html), what
            assert not re.search(r"\son[a-z]+=", html), what


@pytest.mark.parametrize("behind_tls", [False, True])
def test_console_cookies_are_httponly_samesite_and_secure_behind_tls(
    world: World, tmp_path: Path, behind_tls: bool
) -> None:
    app = _app(world, tmp_path, behind_tls=behind_tls)
    base = "https://testserver" if behind_tls else "http://testserver"
    with TestClient(
        app, base_url=base, follow_redirects=False, raise_server_exceptions=False
    ) as client:
        anon = client.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', anon.text)
        assert token is not None
        done = client.post(
            "/console/login",
            data={"email": "owner@example.org", "password": "a long test password",
                  "csrf": token.group(1)},
        )  # fmt: skip
        assert done.status_code == 303
        cookies = anon.headers.get_list("set-cookie") + done.headers.get_list("set-cookie")
        session = [c for c in cookies if c.startswith("vakstem_console=")]
        assert session, cookies
        for cookie in cookies:
            low = cookie.lower()
            if "lang" in low.split("=")[0]:
                continue
            assert "httponly" in low, cookie
            assert "samesite=" in low, cookie
            assert ("; secure" in low) is behind_tls, cookie
        if behind_tls:
            assert "max-age=" in done.headers.get("strict-transport-security", "")
