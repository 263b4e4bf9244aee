"""Backups of the database while it serves (`vakstem backup` and `vakstem restore`).

SQLite: the online backup API copies a consistent snapshot page by page while other
connections keep writing (each step holds the read lock briefly; a write in between restarts
the copy of the changed pages), so a backup never has to stop the server. PostgreSQL: the
snapshot is `pg_dump`'s job (one repeatable-read transaction); we run it when it is installed
and otherwise say exactly which command to run.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa

from vakstem.store.engine import DatabaseError, _sqlite_path, open_database


class BackupError(Exception):
    """The backup or restore cannot be made; the message says why and what to do."""


class NeedsTool(BackupError):
    """PostgreSQL without pg_dump/pg_restore on PATH: the message holds the command to run."""


def _libpq(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _parse(database_url: str) -> sa.URL:
    try:
        return sa.make_url(database_url)
    except sa.exc.ArgumentError:
        raise BackupError(f"not a database URL: {database_url!r}") from None


def _sqlite_file(url: sa.URL) -> Path:
    path = _sqlite_path(url)
    if path is None:
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return path


def pg_dump_command(database_url: str, out: Path) -> list[str]:
    """The documented PostgreSQL backup: custom format, restorable with pg_restore."""
    return [
        "pg_dump",
        "--format=custom",
        "--no-owner",
        f"--file={out}",
        _libpq(_parse(database_url)),
    ]


def pg_restore_command(database_url: str, backup: Path) -> list[str]:
    return [
        "pg_restore", "--no-owner", "--clean", "--if-exists",
        f"--dbname={_libpq(_parse(database_url))}", str(backup),
    ]  # fmt: skip


def backup(database_url: str, out: Path) -> None:
    """Write a consistent copy of the database to `out` (which must not exist yet)."""
    url = _parse(database_url)
    if out.exists():
        raise BackupError(f"{out} exists already; choose a new file name")
    if not out.parent.is_dir():
        raise BackupError(f"folder {out.parent} does not exist")
    if url.get_backend_name() == "postgresql":
        command = pg_dump_command(database_url, out)
        _run_tool(command, "pg_dump")
        return
    source_path = _sqlite_file(url)
    if not source_path.exists():
        raise BackupError(f"there is no database at {source_path}")
    partial = out.with_name(out.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target, pages=256)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    # Renamed only when complete, so a file named like the backup is never half a backup.
    partial.replace(out)


def _run_tool(command: list[str], tool: str) -> None:
    shown = " ".join(command)
    if shutil.which(tool) is None:
        raise NeedsTool(f"{tool} is not installed here; run on a machine that has it:\n  {shown}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip() or done.returncode}")


def _has_data(database_url: str) -> bool:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            for name in ("studies", "responses", "users"):
                if (
                    name in tables
                    and conn.execute(sa.text(f"SELECT 1 FROM {name} LIMIT 1")).first()
                ):
                    return True
    finally:
        engine.dispose()
    return False


def restore(database_url: str, backup_file: Path, *, force: bool = False) -> None:
    """Replace the database with `backup_file`, then migrate it to the newest schema.

    Refuses to overwrite a database that holds studies, responses or accounts unless `force`.
    """
    url = _parse(database_url)
    if not backup_file.is_file():
        raise BackupError(f"there is no backup file at {backup_file}")
    if url.get_backend_name() != "postgresql":
        # SQLite opens a short or empty file as an empty database, so check the header.
        with backup_file.open("rb") as head:
            if head.read(16) != b"SQLite format 3\x00":
                raise BackupError(f"{backup_file} is not a SQLite database backup")
    target = _sqlite_file(url) if url.get_backend_name() != "postgresql" else None
    exists = target is None or target.exists()
    if exists and _has_data(database_url) and not force:
        raise BackupError(
            "the database is not empty; restoring would overwrite it. Add --force to do so."
        )
    if target is None:
        _run_tool(pg_restore_command(database_url, backup_file), "pg_restore")
    else:
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        destination = sqlite3.connect(target, timeout=30)
        try:
            source.backup(destination)
        finally:
            destination.close()
            source.close()
    try:
        open_database(database_url).dispose()
    except DatabaseError as exc:
        raise BackupError(f"the restored database does not open: {exc}") from None
