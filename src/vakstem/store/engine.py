"""Opening the database: one engine per process, migrated to the newest schema on open.

SQLite is the embedded default (a file under the data folder), PostgreSQL (through psycopg 3)
serves several web processes. `open_database` is the only way in, so every process that touches
the data has the same connection settings and an up-to-date schema.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:
    from alembic.config import Config

if sys.platform != "win32":
    import fcntl

#: Milliseconds a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
WRITE_LOCK = "vakstem_write_lock"
#: One writer queue per SQLite engine: threads of a process wait here for their turn to write.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, _WriterQueue] = weakref.WeakKeyDictionary()
#: Any constant: PostgreSQL advisory lock key that serialises migrations of parallel starts.
_MIGRATION_LOCK_KEY = 7_061_726_513
#: The shared write transaction this thread is running (`shared_write_transaction`), if any.
_SHARED = threading.local()


class DatabaseError(Exception):
    """The database URL is unusable (wrong scheme, unreachable server, unwritable folder)."""


class _WriterQueue:
    """Where the writers to one SQLite file wait for their turn: the threads of this process on
    a lock, then the processes (several web workers, a command beside the server) on an
    exclusive `flock` of a file next to the database.

    SQLite's own busy handler polls with sleeps of up to 100 ms and serves no one in order, so
    under load a writer of one process could sleep while the lock passed back and forth in the
    other (page submits of 250 ms and more at a person's pace). A blocked `flock` is woken by
    the kernel as soon as the lock is free. The queue only orders writers: SQLite's own locking
    still guards the data, and a writer that does not queue here (a plain BEGIN) waits in
    SQLite's busy handler as before. Reentrant within a thread, like the write transactions."""

    def __init__(self, lock_path: Path | None) -> None:
        self._threads = threading.RLock()
        self._lock_path = lock_path if sys.platform != "win32" else None
        self._fd: int | None = None
        #: The process that opened `_fd`: a forked child shares the parent's open file, and
        #: with it the lock, so it opens its own.
        self._pid = 0
        self._depth = 0

    def _lock_file(self) -> int:
        assert self._lock_path is not None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
            weakref.finalize(self, os.close, self._fd)
        return self._fd

    def __enter__(self) -> None:
        if not self._threads.acquire(blocking=False):
            if _on_event_loop():
                # Another thread of this process holds the queue; it may be a write batch's
                # helper, whose batch needs this very thread to run: waiting would never end.
                raise RuntimeError(
                    "a write on the event loop's thread must go through DatabaseCalls.write "
                    "(vakstem.web.write_batches), not wait for the writer queue"
                )
            self._threads.acquire()
        self._take_file(wait=True)

    def try_enter(self) -> bool:
        """Take the queue if no one holds it, without waiting; False if someone does."""
        return self._threads.acquire(blocking=False) and self._take_file(wait=False)

    def _take_file(self, *, wait: bool) -> bool:
        """With the thread lock held: the file lock (when this is the outermost entry), or
        False and the thread lock given back if another process holds it and `wait` is off."""
        try:
            if self._depth == 0 and self._lock_path is not None:
                flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
                fcntl.flock(self._lock_file(), flags)
        except BlockingIOError:
            self._threads.release()
            return False
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1
        return True

    def __exit__(self, *_exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._lock_path is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def _on_event_loop() -> bool:
    """Whether this thread is running an asyncio event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _alembic_config() -> Config:
    # Alembic is imported only when a schema must change: a database already at the newest
    # revision opens without it (a fifth of a second of every command's start-up).
    from alembic.config import Config

    config = Config()
    location = resources.files("vakstem.store") / "migrations"
    config.set_main_option("script_location", str(location))
    return config


def _sqlite_path(url: sa.URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the sqlite3 module's own implicit
        # transactions start too late and cannot take the write lock up front).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: in WAL mode, NORMAL may lose the last committed transactions on power loss or an
        # OS crash. A page the respondent saw acknowledged must survive that, so every commit
        # waits for fsync of the WAL.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN, so two submits of one response queue up
        # (waiting up to busy_timeout) instead of one failing with "database is locked" when it
        # tries to upgrade a read lock after the other has written.
        if connection.get_execution_options().get(WRITE_LOCK):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


#: PostgreSQL connections a process keeps by default (`Settings.database_connections`).
DEFAULT_CONNECTIONS = 2
#: PostgreSQL connections a process may open beyond those it keeps, closed again after use.
OVERFLOW_CONNECTIONS = 10


def create_database_engine(url: str, *, connections: int = DEFAULT_CONNECTIONS) -> Engine:
    """An engine for `url` with Vakstem's connection settings, without migrating.

    `connections` is how many PostgreSQL connections the engine keeps (SQLite ignores it)."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(parsed)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create the folder for {path}: {exc}") from exc
        engine = sa.create_engine(parsed)
        _configure_sqlite(engine)
        lock_path = None if path is None else path.with_name(path.name + "-writers")
        _SQLITE_WRITERS[engine] = _WriterQueue(lock_path)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if connections < 1:
            raise DatabaseError(f"a database needs at least one connection, not {connections}")
        # The respondent pages run no more calls at once than the engine keeps connections
        # (`web.database_calls`), so they never open and close overflow connections (a new
        # connection costs more CPU than the statements of a page). Two kept connections
        # served 5-11 % more pages than ten with PostgreSQL on the same two cores, in
        # alternating runs: fewer server processes competing for them. The overflow is for
        # the console and commands.
        engine = sa.create_engine(parsed, pool_size=connections, max_overflow=OVERFLOW_CONNECTIONS)
        _ping_when_idle(engine)
        return engine
    raise DatabaseError(
        f"unsupported database {backend!r}: use sqlite:///path or postgresql+psycopg://..."
    )


#: A pooled PostgreSQL connection unused for longer than this is checked before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has been idle for a while.

    SQLAlchemy's `pool_pre_ping` sends a statement to the server on every checkout: under load
    one round trip more for every page (a submit's others: BEGIN, the response, its answers,
    its events, the update, COMMIT), each a wait for the server and a switch of threads. What
    it guards against (a restarted server, a connection a firewall or `idle_session_timeout`
    dropped) happens to connections that sat idle; one handed back a moment ago was working
    then. A failed check raises `DisconnectionError`, on which the pool throws the connection
    away and takes another, as with `pool_pre_ping`. A connection lost unchecked fails its
    statement and is not handed out again: SQLAlchemy replaces the pool's connections when its
    own statement meets a lost connection, and the pool discards one whose reset on return
    fails (a `Prepared` statement's case; both tested).
    """
    dialect = engine.dialect
    idle_since = "vakstem_idle_since"

    @sa.event.listens_for(engine, "checkin")
    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[idle_since] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(idle_since)
        # A new connection (no time yet) has just spoken to the server.
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise sa.exc.DisconnectionError(str(error)) from error
            raise


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's write lock on SQLite from its first statement.

    On PostgreSQL rows are locked individually (SELECT ... FOR UPDATE) by the caller instead.
    On SQLite the writers also queue before they ask for the lock (`_WriterQueue`: threads on a
    lock, processes on a file lock): a writer that finds it taken would otherwise wait in
    SQLite's busy handler, which polls with sleeps of up to 100 ms, so under load writers sleep
    while the lock is free. Reentrant, so a nested write transaction behaves as before (it
    waits on SQLite's lock).
    """
    shared: Connection | None = getattr(_SHARED, "conn", None)
    if shared is not None and shared.engine is engine:
        # Inside a shared transaction (`write_batches`, SQLite only): a savepoint, so this
        # one's writes are undone alone when it fails, as its own transaction's would be.
        # Issued on the driver's connection: SQLAlchemy's own savepoints cost as much as two
        # statements of a page, and it needs to know nothing of these.
        raw = _SHARED.raw
        name = f"vakstem_write_{_SHARED.depth}"
        raw.execute(f"SAVEPOINT {name}")
        _SHARED.depth += 1
        try:
            yield shared
        except BaseException:
            raw.execute(f"ROLLBACK TO {name}")
            raise
        finally:
            _SHARED.depth -= 1
            raw.execute(f"RELEASE {name}")
        return
    queue = _SQLITE_WRITERS.get(engine) if isinstance(engine, Engine) else None
    with (
        queue if queue is not None else nullcontext(),
        engine.connect().execution_options(**{WRITE_LOCK: True}) as conn,
        conn.begin(),
    ):
        yield conn


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to read with: the shared write transaction of this thread, if one is
    running on `engine`, so a read sees the writes before it in the same batch. On PostgreSQL
    each statement is its own transaction: for reads of one row, not for reads that must agree
    with each other."""
    shared: Connection | None = getattr(_SHARED, "conn", None)
    if shared is not None and shared.engine is engine:
        yield shared
        return
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Each read is one statement: in a transaction of its own it would cost a BEGIN
            # and a ROLLBACK, two more round trips to the server, on every page shown.
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def writer_queue(engine: Engine) -> _WriterQueue | None:
    """The queue of SQLite writers to `engine`'s file (None on PostgreSQL)."""
    return _SQLITE_WRITERS.get(engine)


@contextmanager
def shared_write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction that every `write_transaction(engine)` of this thread joins, as a
    savepoint, until it ends (`vakstem.web.write_batches`). On SQLite the caller holds the
    writer queue already."""
    if getattr(_SHARED, "conn", None) is not None:
        raise RuntimeError("a shared write transaction is already running in this thread")
    with engine.connect().execution_options(**{WRITE_LOCK: True}) as conn, conn.begin():
        _SHARED.conn, _SHARED.raw, _SHARED.depth = conn, conn.connection.driver_connection, 0
        try:
            yield conn
        finally:
            _SHARED.conn = _SHARED.raw = None


_REVISION = re.compile(r'^(down_)?revision\s*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


@functools.cache
def newest_revision() -> str | None:
    """The newest migration's revision, read from the migration files themselves (the one no
    other revises); None when that is not one revision, and Alembic must decide. Read once
    per process: the files do not change while it runs."""
    revisions: set[str] = set()
    revised: set[str] = set()
    folder = resources.files("vakstem.store") / "migrations" / "versions"
    for entry in folder.iterdir():
        if not entry.name.endswith(".py") or entry.name.startswith("_"):
            continue
        for down, value in _REVISION.findall(entry.read_text("utf-8")):
            if value:
                (revised if down else revisions).add(value)
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def _at_newest(engine: Engine) -> bool:
    """Whether the database already stands at the newest revision (then nothing migrates)."""
    newest = newest_revision()
    if newest is None:
        return False
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return False
        stamped = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        return list(stamped) == [newest]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe when processes start at once)."""
    if _at_newest(engine):
        return
    from alembic import command

    config = _alembic_config()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def schema_revision(engine: Engine) -> str | None:
    """The migration revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def open_database(url: str, *, connections: int = DEFAULT_CONNECTIONS) -> Engine:
    """Open (creating if needed) the database at `url` and migrate it to the newest schema;
    `connections` as for `create_database_engine`."""
    engine = create_database_engine(url, connections=connections)
    try:
        migrate(engine)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(f"cannot open the database {_safe(url)}: {reason}") from exc
    return engine


def _safe(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"
