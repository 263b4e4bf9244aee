"""The migrations build the whole schema on an empty database, on SQLite and PostgreSQL, and
what they build matches the table definitions the code uses."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from vakstem.store import DatabaseError, open_database
from vakstem.store.engine import (
    _alembic_config,
    head_revision,
    newest_revision,
    schema_revision,
    write_transaction,
)
from vakstem.store.tables import metadata, studies

TABLES = {"studies", "instrument_versions", "responses", "answers", "page_events"}


def test_migrations_from_empty_create_every_table(empty_database_url: str) -> None:
    engine = open_database(empty_database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert names >= TABLES | {"alembic_version"}
        assert schema_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrated_schema_matches_table_definitions(empty_database_url: str) -> None:
    engine = open_database(empty_database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_opening_twice_is_harmless(empty_database_url: str) -> None:
    open_database(empty_database_url).dispose()
    engine = open_database(empty_database_url)
    try:
        assert schema_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_newest_revision_read_from_the_files_is_alembics_head() -> None:
    assert newest_revision() == head_revision() is not None


_OPENS = """
import sys
from vakstem.store import open_database
open_database(sys.argv[1]).dispose()
print("alembic" in sys.modules)
"""


def test_a_database_at_the_newest_revision_opens_without_alembic(empty_database_url: str) -> None:
    # Alembic (and loading every migration script) is a fifth of a second of each command's
    # start-up; a database that needs no migration must open without it. A new one still
    # migrates: then Alembic is loaded.
    def opens() -> str:
        done = subprocess.run(
            [sys.executable, "-c", _OPENS, empty_database_url], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert opens() == "True"  # empty: migrated by Alembic
    assert opens() == "False"  # at the newest revision: nothing to do
    engine = open_database(empty_database_url)
    try:
        assert schema_revision(engine) == head_revision()
        with write_transaction(engine) as conn:  # one revision back: Alembic upgrades again
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "-1")
        assert schema_revision(engine) != head_revision()
        assert opens() == "True"
        assert schema_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()


def test_responses_table_has_no_ip_or_user_agent(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("responses")}
        assert not {c for c in columns if "ip" in c.split("_") or "agent" in c}
    finally:
        engine.dispose()


def test_timestamps_come_back_timezone_aware_utc(database_url: str) -> None:
    engine = open_database(database_url)
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                studies.insert().values(
                    id="tijd", status="draft", created_at=moment, updated_at=moment
                )
            )
            back = conn.execute(sa.select(studies.c.created_at)).scalar_one()
        assert back == moment
        assert back.utcoffset() is not None and back.utcoffset().total_seconds() == 0
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'nested' / 'deeper' / 'v.db'}")
    try:
        assert (tmp_path / "nested" / "deeper" / "v.db").exists()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def _held_elsewhere(lock_file: Path) -> bool:
    """Whether another open file (another process, as far as flock is concerned) holds the
    writers' file lock."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_sqlite_writers_of_all_processes_queue_on_a_file_lock(tmp_path: Path) -> None:
    """Write transactions hold an exclusive flock of `<database>-writers` from before BEGIN
    IMMEDIATE to after COMMIT, so the writers of several processes wait in the kernel's queue
    instead of SQLite's sleeping busy handler."""
    database = tmp_path / "v.db"
    lock_file = tmp_path / "v.db-writers"
    engine = open_database(f"sqlite:///{database}")
    try:
        assert not _held_elsewhere(lock_file)
        with write_transaction(engine) as conn:
            assert _held_elsewhere(lock_file)
            conn.execute(sa.select(1))
        assert not _held_elsewhere(lock_file)
        # A failed transaction gives its turn up too.
        with pytest.raises(RuntimeError), write_transaction(engine):
            raise RuntimeError("boom")
        assert not _held_elsewhere(lock_file)

        # Another process holding the queue makes this one wait for it.
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys, time\n"
                f"fd = os.open({str(lock_file)!r}, os.O_RDWR)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "print('held', flush=True)\n"
                "sys.stdin.readline()\n",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        entered = threading.Event()

        def write() -> None:
            with write_transaction(engine):
                entered.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not entered.wait(0.3), "wrote while another process held the queue"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
        writer.join(timeout=30)
        assert entered.is_set()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x@localhost/db", "unsupported database"),
        ("no url at all", "not a database URL"),
    ],
)
def test_unusable_url_gives_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        open_database(url)


def test_unreachable_postgres_gives_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot open the database") as caught:
        open_database("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(caught.value)
