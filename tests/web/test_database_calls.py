"""Respondent pages call their short database work inline on the event loop on SQLite and in the
thread pool on PostgreSQL (`vakstem.web.database_calls`), `VAKSTEM_DATABASE_CALLS` overrides
either, and the closing page's comparison, which may wait for its scoring, always runs in the
pool. Each mode takes a respondent through every page on both backends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
from fastapi.testclient import TestClient
from markupsafe import Markup
from sqlalchemy.engine import Engine

from vakstem.settings import Settings
from vakstem.web.app import create_app
from vakstem.web.database_calls import DatabaseCalls, default_mode

from .flow import FULL_RUN, Respondent, response_rows, stored_answers


def _on_loop() -> bool:
    """Whether the caller runs on an event loop's thread (inline) rather than in the pool."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_inline_calls_run_on_the_loop_thread_and_pool_calls_beside_it() -> None:
    def where(a: int, *, b: int) -> tuple[int, bool, int]:
        return a + b, _on_loop(), threading.get_ident()

    async def run(mode: Any) -> tuple[tuple[int, bool, int], int]:
        return await DatabaseCalls(mode)(where, 2, b=3), threading.get_ident()

    (total, on_loop, thread), loop_thread = asyncio.run(run("inline"))
    assert (total, on_loop, thread) == (5, True, loop_thread)
    (total, on_loop, thread), loop_thread = asyncio.run(run("threads"))
    assert (total, on_loop) == (5, False) and thread != loop_thread


def test_an_error_in_a_call_reaches_the_handler_in_either_mode() -> None:
    def fail() -> None:
        raise LookupError("geen antwoord")

    for mode in ("inline", "threads"):
        with pytest.raises(LookupError, match="geen antwoord"):
            asyncio.run(DatabaseCalls(mode)(fail))  # type: ignore[arg-type]


def test_the_default_follows_the_backend(engine: Engine) -> None:
    expected = "inline" if engine.dialect.name == "sqlite" else "threads"
    assert default_mode(engine) == expected


def test_an_unknown_mode_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAKSTEM_DATABASE_CALLS", "fibers")
    with pytest.raises(pydantic.ValidationError, match="database_calls"):
        Settings()
    monkeypatch.setenv("VAKSTEM_DATABASE_CALLS", "threads")
    assert Settings().database_calls == "threads"


@pytest.mark.postgres
def test_the_connections_setting_reaches_the_apps_engine_and_its_cap(
    database_on: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`VAKSTEM_DATABASE_CONNECTIONS`: the connections a server process keeps on PostgreSQL,
    and so the most page calls it runs at once; nothing below one."""
    monkeypatch.setenv("VAKSTEM_DATABASE_CONNECTIONS", "0")
    with pytest.raises(pydantic.ValidationError, match="database_connections"):
        Settings()
    monkeypatch.setenv("VAKSTEM_DATABASE_CONNECTIONS", "3")
    settings = Settings(data_dir=tmp_path, database_url=database_on("postgresql"))
    assert settings.database_connections == 3
    app = create_app(settings)
    web = app.state.web
    try:
        assert web.engine.pool.size() == 3
        assert web.db.most_at_once == 3
    finally:
        web.engine.dispose()


def _record(target: Any, name: str, seen: list[tuple[str, bool]]) -> None:
    original: Callable[..., Any] = getattr(target, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        seen.append((name, _on_loop()))
        return original(*args, **kwargs)

    setattr(target, name, recorded)


@pytest.mark.parametrize("mode", [None, "inline", "threads"])
def test_every_page_of_a_response_calls_the_database_as_the_mode_says(
    engine: Engine, tmp_path: Path, mode: Any
) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret", database_calls=mode)
    app = create_app(settings, engine)
    web = app.state.web
    seen: list[tuple[str, bool]] = []
    for name in ("start", "submit_by_code", "resume"):
        _record(web.service, name, seen)
    closing: list[bool] = []

    def closing_section(*_args: Any) -> Markup:
        closing.append(_on_loop())
        return Markup("<p>vergelijking</p>")

    web.closing_section = closing_section
    completed: list[bool] = []
    web.completion_hooks.append(lambda _state: completed.append(_on_loop()))
    with TestClient(app) as client:
        respondent = Respondent(client)
        respondent.open()
        for _title, values in FULL_RUN:
            respondent.submit(values)
        assert "vergelijking" in respondent.reload().text

    inline = (mode or default_mode(engine)) == "inline"
    names = {name for name, _ in seen}
    assert {"start", "submit_by_code", "resume"} <= names
    assert all(on_loop is inline for _, on_loop in seen), seen
    # The closing page's comparison may wait for its scoring: never on the loop.
    assert closing and not any(closing)
    # The invitation's completion, which may write outside the page writes: in the pool too.
    assert completed and not any(completed)
    assert [row.status for row in response_rows(engine)] == ["completed"]
    assert {variable for _, variable, _ in stored_answers(engine)} >= {"toestemming", "behoefte"}


@pytest.mark.parametrize("mode", [None, "threads"])
def test_the_json_api_calls_the_database_as_the_mode_says(
    engine: Engine, tmp_path: Path, mode: Any
) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret", database_calls=mode)
    app = create_app(settings, engine)
    seen: list[tuple[str, bool]] = []
    for name in ("start", "authorize", "submit_page", "state", "back"):
        _record(app.state.web.service, name, seen)
    api = "/api/v1"
    with TestClient(app) as client:
        started = client.post(f"{api}/studies/voorbeeld/responses", json={})
        assert started.status_code == 201, started.text
        url = f"{api}/responses/{started.json()['id']}"
        auth = {"Authorization": f"Bearer {started.json()['resume_code']}"}
        assert client.get(url, headers=auth).json()["page"]["id"] == "welkom"
        stored = client.post(
            f"{url}/pages/welkom", json={"answers": {"toestemming": 1}}, headers=auth
        )
        assert stored.status_code == 200 and stored.json()["page"]["id"] == "achtergrond"
        # A page that is no longer current: 409 with the state read in the same call.
        stale = client.post(f"{url}/pages/welkom", json={"answers": {}}, headers=auth)
        assert stale.status_code == 409 and stale.json()["state"]["page"]["id"] == "achtergrond"
        assert client.post(f"{url}/back", headers=auth).json()["page"]["id"] == "welkom"
        assert client.get(url, headers={"Authorization": "Bearer AAAA-BBBB-CC"}).status_code == 404

    inline = (mode or default_mode(engine)) == "inline"
    assert {name for name, _ in seen} == {"start", "authorize", "submit_page", "state", "back"}
    assert all(on_loop is inline for _, on_loop in seen), seen


@pytest.mark.parametrize("mode", ["threads", "inline"])
def test_pool_calls_never_outnumber_the_engines_kept_connections(engine: Engine, mode: Any) -> None:
    """More calls at once than the pool keeps connections would open overflow connections and
    close them again (on PostgreSQL a server process each): the extra calls wait their turn.
    `in_pool` (the closing page's invitation) runs in the pool in either mode, under the same
    cap: outside it, it took most of the connections PostgreSQL opened under load."""
    kept = engine.pool.size()  # type: ignore[attr-defined]
    database_calls = DatabaseCalls(mode, engine)
    calls = database_calls if mode == "threads" else database_calls.in_pool
    running, most = 0, 0
    lock = threading.Lock()

    def one() -> None:
        nonlocal running, most
        assert not _on_loop()
        with lock:
            running += 1
            most = max(most, running)
        with engine.connect():
            threading.Event().wait(0.02)
        with lock:
            running -= 1

    async def many() -> None:
        await asyncio.gather(*(calls(one) for _ in range(kept * 4)))

    asyncio.run(many())
    asyncio.run(many())  # a second event loop gets a limiter of its own
    assert most == kept
    assert engine.pool.overflow() <= 0  # type: ignore[attr-defined]
