"""Browser fixtures: the app served by uvicorn in a background thread on a free port (a real
database with the example study open), and Debian's Chromium driven by Playwright.

Backends: a browser test costs seconds per page, so each module runs on one backend rather than
both. The respondent flows (test_respondent_browser, test_klantmanagers_browser, test_mirror) set
`DATABASE_BACKEND = "postgresql"`: the multi-server deployment is where many respondents arrive.
The console and live-condition modules keep the default, SQLite (what `vakstem demo` and a
one-machine deployment use). Everything these pages do in the database is tested on both
backends without a browser (tests/web, tests/console, tests/feedback)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy.engine import Engine

import vakstem
from vakstem.instrument.loader import load_study_file
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.web.app import create_app

EXAMPLE = Path(vakstem.__file__).parent / "studies" / "voorbeeld" / "study.yaml"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    engine: Engine


def module_backend(request: pytest.FixtureRequest) -> str:
    """The module's `DATABASE_BACKEND` ("sqlite" unless it says "postgresql")."""
    return str(getattr(request.module, "DATABASE_BACKEND", "sqlite"))


@pytest.fixture(scope="module")
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    database_on: Callable[[str], str],
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("live")
    engine = open_database(database_on(module_backend(request)))
    load_study(engine, load_study_file(EXAMPLE), EXAMPLE.read_text(encoding="utf-8"))
    set_status(engine, "voorbeeld", "open")
    app = create_app(Settings(data_dir=data, secret_key="browser-test"), engine)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", engine)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.dispose()


@pytest.fixture(scope="module")
def live_server(live: LiveServer) -> str:
    return live.url


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
