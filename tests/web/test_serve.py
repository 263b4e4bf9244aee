"""`vakstem serve` and `vakstem demo` as real processes on a free port, and the demo's
preparation (loading and opening the shipped studies) on both databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.commands.serve import prepare_demo, shipped_studies
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import StudyStatus, get_study, set_status
from vakstem.store.tables import responses

VAKSTEM = Path(sys.executable).parent / "vakstem"
#: Simulated responses the demo makes in these tests (its default of 500 takes half a minute).
DEMO_RESPONSES = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    args: list[str], data_dir: Path, database_url: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run `vakstem <args> --port <free>` until it answers; stop it (and its workers) after.
    The demo simulates a handful of responses, not its 500 (that is tested in tests/simulate)."""
    port = free_port()
    env = {
        **os.environ,
        "VAKSTEM_DATA_DIR": str(data_dir),
        "VAKSTEM_DATABASE_URL": database_url,
        "VAKSTEM_DEMO_RESPONSES": str(DEMO_RESPONSES),
    }
    proc = subprocess.Popen(
        [str(VAKSTEM), *args, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a busy shared machine importing the app alone can take many seconds.
        deadline = time.monotonic() + 180
        while True:
            try:
                httpx2.get(f"{base}/openapi.json", timeout=5)
                break
            except httpx2.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    output = proc.communicate()[0]
                    raise AssertionError(f"server did not start: {output}") from None
                time.sleep(0.3)
        yield base, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_prepare_demo_loads_and_opens_every_shipped_study(database_url: str) -> None:
    engine: Engine = open_database(database_url)
    try:
        settings = Settings(demo_responses=DEMO_RESPONSES)
        lines = prepare_demo(engine, settings, base_url="http://localhost:9000")
        assert (
            "Voorbeeldonderzoek werk en ondersteuning: http://localhost:9000/s/voorbeeld" in lines
        )
        assert get_study(engine, "voorbeeld").status is StudyStatus.OPEN
        assert len(shipped_studies()) >= 1
        # Again on the same database (a second `make demo`): same result, nothing new.
        set_status(engine, "voorbeeld", "closed")
        assert prepare_demo(engine, settings, base_url="http://localhost:9000") == lines
        assert get_study(engine, "voorbeeld").status is StudyStatus.OPEN
    finally:
        engine.dispose()


def test_demo_command_prints_the_links_and_serves_the_studies(
    tmp_path: Path, database_url: str
) -> None:
    with running(["demo"], tmp_path, database_url) as (base, proc):
        page = httpx2.get(f"{base}/s/voorbeeld", timeout=10)
        assert page.status_code == 200
        assert "Voorbeeldonderzoek werk en ondersteuning" in page.text
    output = proc.communicate()[0]
    assert f"{base}/s/voorbeeld" in output
    assert f"klantmanagers: {DEMO_RESPONSES} responses" in output
    engine = open_database(database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(responses)).scalar_one()
        assert stored == DEMO_RESPONSES
    finally:
        engine.dispose()


def test_serve_with_two_workers_builds_the_app_from_the_environment(
    tmp_path: Path, database_url: str
) -> None:
    engine = open_database(database_url)
    prepare_demo(engine, Settings(demo_responses=0))
    engine.dispose()
    with running(["serve", "--workers", "2"], tmp_path, database_url) as (base, _proc):
        started = httpx2.post(f"{base}/api/v1/studies/voorbeeld/responses", json={}, timeout=10)
        assert started.status_code == 201
        missing = httpx2.get(f"{base}/s/bestaat_niet", timeout=10)
        assert missing.status_code == 404
        assert "Dit onderzoek bestaat niet" in missing.text


def test_serve_refuses_a_bad_port_with_a_message() -> None:
    result = subprocess.run(
        [str(VAKSTEM), "serve", "--port", "70000"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "--port" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
