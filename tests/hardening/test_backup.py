"""Backups: `vakstem backup` while respondents are submitting pages to a running server (SQLite's
online backup; on PostgreSQL the documented pg_dump), `vakstem restore` into an empty database
(which then opens, migrates and holds a consistent snapshot), refusal to overwrite a database
with data without --force; without pg_dump the command names it and exits 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from vakstem.cli import app
from vakstem.store import open_database
from vakstem.store.tables import answers, responses

from .server import VAKSTEM, Server, open_study
from .test_crash import Respondent, Run

if TYPE_CHECKING:
    from tests.conftest import Databases


def _vakstem(args: list[str], url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`vakstem <args>` as its own process, as cron would run a backup beside the server."""
    env = {**os.environ, "VAKSTEM_DATABASE_URL": url, "VAKSTEM_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [str(VAKSTEM), *args], env=env, capture_output=True, text=True, timeout=300
    )


def _in_process(args: list[str], url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """The same command in this process (no interpreter start, seconds on a busy machine); an
    unexpected exception is reported as the traceback the command line would print."""
    env = {"VAKSTEM_DATABASE_URL": url, "VAKSTEM_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    result = CliRunner().invoke(app, args, env=env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback:\n" + "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, stderr)


def test_backup_while_respondents_submit_restores_a_consistent_snapshot(
    databases: Databases, tmp_path: Path
) -> None:
    if databases.backend == "postgresql" and not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed (apt-get install postgresql-client)")
    url = databases.new("live")
    study = open_study(url)
    server = Server(url, tmp_path)
    server.start()
    run = Run(server.base, study)
    people = [Respondent(n) for n in range(20)]
    threads = [threading.Thread(target=run.respond, args=(who,)) for who in people]
    out = tmp_path / "snapshot.vakstem"
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 180
        while run.acks < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        acked_before = run.acks
        made = _vakstem(["backup", "--out", str(out)], url, tmp_path)
        acked_after = run.acks
    finally:
        # The snapshot is taken: finishing the questionnaires would add nothing to the test.
        run.stop.set()
        for thread in threads:
            thread.join(240)
        server.stop()
    assert made.returncode == 0, made.stderr
    assert not [who.problem for who in people if who.problem]
    # Respondents really were submitting while the backup command ran.
    assert acked_before >= 40 and acked_after > acked_before
    restored = databases.new("restored", empty=True)
    done = _in_process(["restore", str(out)], restored, tmp_path)
    assert done.returncode == 0, done.stderr
    engine = open_database(restored)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(responses)).all()
            stored = conn.execute(sa.select(answers.c.response_id, answers.c.page_id)).all()
    finally:
        engine.dispose()
    sent = {who.id: who for who in people}
    pages_in_backup = 0
    for row in rows:
        pages = {page for rid, page in stored if rid == row.id}
        # A snapshot: each response is whole up to some page, never half a page.
        assert pages <= set(row.path), (row.id, pages, row.path)
        assert len(row.path) == len(set(row.path))
        assert all(page in sent[row.id].sent for page in row.path)
        pages_in_backup += len(row.path)
    print(
        f"\nbackup: {len(rows)} responses, {pages_in_backup} pages in the snapshot; "
        f"{acked_before} acknowledged before and {acked_after} after the backup command"
    )
    assert acked_before <= pages_in_backup
    # Restoring over a database with data needs --force.
    again = _in_process(["restore", str(out)], restored, tmp_path)
    assert again.returncode == 1
    assert "--force" in again.stderr and "Traceback" not in again.stderr
    forced = _in_process(["restore", str(out), "--force"], restored, tmp_path)
    assert forced.returncode == 0, forced.stderr


def test_backup_refuses_an_existing_file_and_restore_a_non_backup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    open_database(url).dispose()
    taken = tmp_path / "taken"
    taken.write_text("x")
    refused = _in_process(["backup", "--out", str(taken)], url, tmp_path)
    assert refused.returncode == 1 and "exists already" in refused.stderr
    bad = _in_process(["restore", str(taken)], f"sqlite:///{tmp_path / 'n.db'}", tmp_path)
    assert bad.returncode == 1 and "not a SQLite database backup" in bad.stderr
    assert "Traceback" not in refused.stderr + bad.stderr


@pytest.mark.postgres
def test_postgresql_backup_uses_pg_dump_or_names_the_command(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "pg.dump"
    done = _in_process(["backup", "--out", str(out)], postgres_admin_url, tmp_path)
    if shutil.which("pg_dump"):
        assert done.returncode == 0, done.stderr
        assert out.stat().st_size > 0
    else:
        assert done.returncode == 2
        assert "pg_dump --format=custom" in done.stderr
