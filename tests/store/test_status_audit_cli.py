"""`vakstem study open|close|archive` leave an entry in the audit trail (who: the command line
and the OS user; what: from and to), and a refused change leaves none."""

from __future__ import annotations

import getpass
from pathlib import Path

from typer.testing import CliRunner

import vakstem
from vakstem.cli import app
from vakstem.service import audit
from vakstem.store import open_database

EXAMPLE = Path(vakstem.__file__).parent / "studies" / "voorbeeld" / "study.yaml"


def test_status_commands_are_recorded_in_the_audit_trail(database_url: str) -> None:
    runner = CliRunner()
    env = {"VAKSTEM_DATABASE_URL": database_url, "COLUMNS": "200"}

    def run(*args: str) -> int:
        return runner.invoke(app, ["study", *args], env=env).exit_code

    assert run("load", str(EXAMPLE)) == 0
    assert run("open", "voorbeeld") == 0
    assert run("close", "voorbeeld") == 0
    assert run("open", "voorbeeld") == 0
    assert run("open", "voorbeeld") == 1  # already open: refused, not recorded
    engine = open_database(database_url)
    try:
        rows = [
            e
            for e in audit.entries(engine, study_id="voorbeeld")
            if e.action == audit.STATUS_CHANGED
        ]
    finally:
        engine.dispose()
    changes = sorted((e.details["from"], e.details["to"]) for e in rows)
    assert changes == [("closed", "open"), ("draft", "open"), ("open", "closed")]
    assert {e.actor for e in rows} == {f"command line ({getpass.getuser()})"}
    assert all(e.user_id is None for e in rows)
