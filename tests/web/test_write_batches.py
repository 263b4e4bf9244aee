"""Page writes of one worker on SQLite share a write lock, a transaction and a commit
(`vakstem.web.write_batches`): each function keeps its own all-or-nothing outcome, a read sees
the writes before it in the batch, and the event loop goes on serving while another writer holds
the lock."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vakstem.store.engine import (
    create_database_engine,
    read_connection,
    shared_write_transaction,
    write_transaction,
)
from vakstem.web.database_calls import DatabaseCalls
from vakstem.web.write_batches import WriteBatches

metadata = sa.MetaData()
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.String, nullable=False),
)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'batches.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _texts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(notes.c.text).order_by(notes.c.id)).scalars())


def _add(engine: Engine, text: str) -> Connection:
    with write_transaction(engine) as conn:
        conn.execute(notes.insert().values(text=text))
        return conn


def test_writes_queued_while_the_lock_is_taken_share_one_transaction(
    sqlite_engine: Engine,
) -> None:
    batches = WriteBatches(sqlite_engine)
    other_writer_has_lock, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        # Another process or thread writing: it holds the writer queue and SQLite's lock.
        with write_transaction(sqlite_engine) as conn:
            conn.execute(notes.insert().values(text="ander"))
            other_writer_has_lock.set()
            release.wait(10)

    async def run() -> tuple[list[Connection], int]:
        thread = threading.Thread(target=other_writer)
        thread.start()
        assert other_writer_has_lock.wait(10)
        writes = [
            asyncio.ensure_future(batches(_add, sqlite_engine, f"pagina {i}")) for i in range(5)
        ]
        # The loop is not blocked by the wait for the lock: other work goes on meanwhile.
        ticks = 0
        for _ in range(5):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not any(write.done() for write in writes)
        release.set()
        connections = await asyncio.gather(*writes)
        thread.join()
        return connections, ticks

    connections, ticks = asyncio.run(run())
    assert ticks == 5
    assert len({id(conn) for conn in connections}) == 1  # one shared transaction
    assert _texts(sqlite_engine) == ["ander"] + [f"pagina {i}" for i in range(5)]


def test_a_failing_write_is_undone_alone_and_its_error_reaches_its_own_caller(
    sqlite_engine: Engine,
) -> None:
    batches = WriteBatches(sqlite_engine)

    def add_then_fail(text: str) -> None:
        with write_transaction(sqlite_engine) as conn:
            conn.execute(notes.insert().values(text=text))
            raise LookupError("geen pagina")

    def nested(text: str) -> str:
        # An inner write that fails and is handled: only the inner one is undone.
        with write_transaction(sqlite_engine) as conn:
            conn.execute(notes.insert().values(text=text))
            try:
                with write_transaction(sqlite_engine) as inner:
                    inner.execute(notes.insert().values(text="binnen"))
                    raise ValueError("binnen mislukt")
            except ValueError:
                pass
        return text

    async def run() -> list[object]:
        return await asyncio.gather(
            batches(_add, sqlite_engine, "eerste"),
            batches(add_then_fail, "kapot"),
            batches(nested, "buiten"),
            batches(_add, sqlite_engine, "laatste"),
            return_exceptions=True,
        )

    _first, failed, outer, _last = asyncio.run(run())
    assert isinstance(failed, LookupError) and str(failed) == "geen pagina"
    assert outer == "buiten"
    assert _texts(sqlite_engine) == ["eerste", "buiten", "laatste"]


def test_a_read_in_a_batch_sees_the_writes_before_it(sqlite_engine: Engine) -> None:
    batches = WriteBatches(sqlite_engine)

    def count() -> int:
        with read_connection(sqlite_engine) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(notes)).scalar_one())

    async def run() -> list[object]:
        return await asyncio.gather(
            batches(_add, sqlite_engine, "een"),
            batches(count),
            batches(_add, sqlite_engine, "twee"),
            batches(count),
        )

    results = asyncio.run(run())
    assert results[1] == 1 and results[3] == 2


def test_the_lock_is_given_back_after_every_batch(sqlite_engine: Engine) -> None:
    batches = WriteBatches(sqlite_engine)
    asyncio.run(batches(_add, sqlite_engine, "een"))
    # A writer of another thread gets the lock at once (it would wait 30 s otherwise).
    done = threading.Event()

    def writer() -> None:
        _add(sqlite_engine, "twee")
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert done.wait(5)
    thread.join()
    # And the batches work again on a new event loop (a restarted test client).
    asyncio.run(batches(_add, sqlite_engine, "drie"))
    assert _texts(sqlite_engine) == ["een", "twee", "drie"]


def test_these_batches_are_for_sqlite_alone_and_shared_transactions_do_not_nest(
    engine: Engine, sqlite_engine: Engine
) -> None:
    if engine.dialect.name != "sqlite":
        # PostgreSQL's page writes have batches of their own (test_pg_write_batches.py).
        with pytest.raises(ValueError, match="SQLite"):
            WriteBatches(engine)
        # Inline calls on PostgreSQL write as before, one transaction each.
        calls = DatabaseCalls("inline", engine)
        assert asyncio.run(calls.write(lambda: 7)) == 7
    with (
        shared_write_transaction(sqlite_engine),
        pytest.raises(RuntimeError, match="already running"),
        shared_write_transaction(sqlite_engine),
    ):
        pass


def test_a_write_on_the_loop_thread_outside_the_batches_fails_instead_of_hanging(
    sqlite_engine: Engine,
) -> None:
    """While a batch's helper thread holds (or waits for) the writer queue, the loop's thread
    must not wait for the queue itself: the helper gives it back only after the batch has run
    on that very thread. Such a write is refused with a message naming the way to write."""
    batches = WriteBatches(sqlite_engine)
    other_has_lock, release = threading.Event(), threading.Event()

    def other_process() -> None:
        # Another process: only the file lock, as a second open file of the lock file.
        path = Path(str(sqlite_engine.url.database) + "-writers")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            other_has_lock.set()
            release.wait(10)
        finally:
            os.close(fd)

    async def run() -> object:
        thread = threading.Thread(target=other_process)
        thread.start()
        assert other_has_lock.wait(10)
        queued = asyncio.ensure_future(batches(_add, sqlite_engine, "gebundeld"))
        await asyncio.sleep(0.05)  # the helper now holds the thread lock, waiting for the file
        try:
            with pytest.raises(RuntimeError, match=r"DatabaseCalls\.write"):
                _add(sqlite_engine, "los")
        finally:
            release.set()
        result = await queued
        thread.join()
        return result

    asyncio.run(run())
    assert _texts(sqlite_engine) == ["gebundeld"]


def test_when_sqlite_rolls_the_batch_back_no_page_is_reported_stored(
    sqlite_engine: Engine,
) -> None:
    """SQLite rolls a whole transaction back on some errors (a full disk, an I/O error). The
    pages written before in the batch are then gone as well: every request of the batch gets
    the error, and the pages after are not written outside the batch."""
    batches = WriteBatches(sqlite_engine)

    def lost(text: str) -> None:
        with write_transaction(sqlite_engine) as conn:
            conn.execute(notes.insert().values(text=text))
            # What SQLite does itself after such an error.
            conn.connection.driver_connection.execute("ROLLBACK")  # type: ignore[union-attr]
            raise OSError("schijf vol")

    async def run() -> list[object]:
        return await asyncio.gather(
            batches(_add, sqlite_engine, "eerder"),
            batches(lost, "verloren"),
            batches(_add, sqlite_engine, "later"),
            return_exceptions=True,
        )

    results = asyncio.run(run())
    assert all(isinstance(r, Exception) for r in results), results
    assert "rolled back" in str(results[0])
    assert _texts(sqlite_engine) == []
    # The next batch works again.
    asyncio.run(batches(_add, sqlite_engine, "daarna"))
    assert _texts(sqlite_engine) == ["daarna"]
