"""Page writes of one worker on PostgreSQL that arrive together share one call of the thread
pool and one transaction (`vakstem.web.write_batches.PooledWriteBatches`): each write keeps the
outcome it would have had alone, and no result is handed out before its commit."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.store.engine import create_database_engine, read_connection, write_transaction
from vakstem.web.database_calls import DatabaseCalls

pytestmark = pytest.mark.postgres

metadata = sa.MetaData()
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.String, nullable=False),
)


@pytest.fixture
def engine(database_on: Callable[[str], str]) -> Iterator[Engine]:
    engine = create_database_engine(database_on("postgresql"))
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _texts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(notes.c.text)).scalars())


def _add(engine: Engine, text: str) -> int:
    """Stores a note; the id of the transaction that stored it."""
    with write_transaction(engine) as conn:
        conn.execute(notes.insert().values(text=text))
        return int(conn.exec_driver_sql("SELECT txid_current()").scalar_one())


class _Gate:
    """A first write that holds its batch until the test lets it go, so that the writes after
    it queue meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.entered, self.release = threading.Event(), threading.Event()

    def write(self) -> int:
        txid = _add(self.engine, "eerste")
        self.entered.set()
        assert self.release.wait(10)
        return txid

    async def hold(self, calls: DatabaseCalls) -> asyncio.Future[int]:
        first = asyncio.ensure_future(calls.write(self.write))
        for _ in range(2000):
            if self.entered.is_set() or first.done():
                break
            await asyncio.sleep(0.005)
        assert self.entered.is_set(), "the first write never started"
        return first

    def batch(self, calls: DatabaseCalls, *writes: Callable[[], Any]) -> list[Any]:
        """`writes` queued behind this first write, which then lets go: their outcomes (a
        result or an exception), in order."""

        async def run() -> list[Any]:
            first = await self.hold(calls)
            queued = [asyncio.ensure_future(calls.write(write)) for write in writes]
            self.release.set()
            await first
            return list(await asyncio.gather(*queued, return_exceptions=True))

        return asyncio.run(run())


def test_writes_that_arrive_together_share_one_transaction(engine: Engine) -> None:
    calls = DatabaseCalls("threads", engine)
    gate = _Gate(engine)

    async def run() -> tuple[int, list[int], list[list[str]]]:
        first = await gate.hold(calls)
        later = [asyncio.ensure_future(calls.write(_add, engine, f"pagina {i}")) for i in range(5)]
        await asyncio.sleep(0.05)
        assert not any(write.done() for write in later)
        gate.release.set()
        seen: list[list[str]] = []
        for write in asyncio.as_completed(later):
            await write
            # Handed out only after the commit: another connection sees the page at once.
            seen.append(_texts(engine))
        return await first, [await write for write in later], seen

    first, later, seen = asyncio.run(run())
    assert len(set(later)) == 1
    assert later[0] != first
    everything = sorted(["eerste"] + [f"pagina {i}" for i in range(5)])
    assert seen == [everything] * 5


def test_a_failing_write_is_undone_runs_again_alone_and_its_error_reaches_its_caller(
    engine: Engine,
) -> None:
    calls = DatabaseCalls("threads", engine)
    gate = _Gate(engine)
    attempts: list[int] = []

    def failing() -> None:
        with write_transaction(engine) as conn:
            conn.execute(notes.insert().values(text="half"))
            attempts.append(int(conn.exec_driver_sql("SELECT txid_current()").scalar_one()))
            raise ValueError("ongeldige pagina")

    before, error, after = gate.batch(
        calls,
        functools.partial(_add, engine, "voor"),
        failing,
        functools.partial(_add, engine, "na"),
    )
    assert isinstance(error, ValueError) and str(error) == "ongeldige pagina"
    assert before == after
    # Once in the batch, once in a transaction of its own.
    assert len(attempts) == 2 and attempts[0] == before and attempts[1] != before
    assert _texts(engine) == ["eerste", "na", "voor"]


def test_a_write_that_fails_only_in_the_batch_succeeds_alone(engine: Engine) -> None:
    # As a deadlock would: the batch holds its row locks until its commit, a write alone not.
    calls = DatabaseCalls("threads", engine)
    gate = _Gate(engine)
    attempts: list[int] = []

    def once_in_the_way() -> int:
        attempts.append(1)
        txid = _add(engine, "tweede keer")
        if len(attempts) == 1:
            raise sa.exc.OperationalError("UPDATE", {}, Exception("deadlock detected"))
        return txid

    other, flaky = gate.batch(calls, functools.partial(_add, engine, "ander"), once_in_the_way)
    assert len(attempts) == 2 and flaky != other
    assert _texts(engine) == ["ander", "eerste", "tweede keer"]


def test_a_statement_failing_outside_a_savepoint_costs_no_other_page(engine: Engine) -> None:
    # A read in the batch runs on its transaction outside `write_transaction`'s savepoint:
    # PostgreSQL takes no more statements in a transaction after a failed one, until it rolls
    # back to the savepoint the batch took before the write.
    calls = DatabaseCalls("threads", engine)
    gate = _Gate(engine)

    def bad_read() -> None:
        with read_connection(engine) as conn:
            conn.exec_driver_sql("SELECT * FROM no_such_table")

    one, error, two = gate.batch(
        calls,
        functools.partial(_add, engine, "een"),
        bad_read,
        functools.partial(_add, engine, "twee"),
    )
    assert isinstance(error, sa.exc.ProgrammingError) and "no_such_table" in str(error)
    assert isinstance(one, int) and one == two
    assert _texts(engine) == ["een", "eerste", "twee"]


def test_a_failed_commit_runs_every_write_alone(engine: Engine) -> None:
    # A constraint checked at commit fails the whole batch: nothing of it was stored, and
    # each write then gets the outcome it has alone.
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE codes (code text, CONSTRAINT one_code UNIQUE (code) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
    calls = DatabaseCalls("threads", engine)
    gate = _Gate(engine)

    def code(value: str) -> str:
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("INSERT INTO codes VALUES (%(code)s)", {"code": value})
        return value

    x, twice, y = gate.batch(calls, *(functools.partial(code, v) for v in ("x", "x", "y")))
    assert (x, y) == ("x", "y")
    assert isinstance(twice, sa.exc.IntegrityError) and "one_code" in str(twice)
    with engine.connect() as conn:
        stored = sorted(conn.exec_driver_sql("SELECT code FROM codes").scalars())
    assert stored == ["x", "y"]


def test_batches_work_on_each_new_event_loop_and_only_in_the_pool(engine: Engine) -> None:
    calls = DatabaseCalls("threads", engine)
    # A restarted test client runs its requests on a new loop.
    first = asyncio.run(calls.write(_add, engine, "een"))
    second = asyncio.run(calls.write(_add, engine, "twee"))
    assert first != second
    # Inline calls on PostgreSQL write as before, one transaction each, on the loop's thread.
    inline = DatabaseCalls("inline", engine)
    caller = threading.get_ident()
    assert asyncio.run(inline.write(threading.get_ident)) == caller
    assert _texts(engine) == ["een", "twee"]


def test_a_deadlock_between_two_workers_batches_costs_no_page(engine: Engine) -> None:
    # Each worker's batch takes a row lock with its first page and keeps it until its commit;
    # its second page then wants the row the other batch holds. PostgreSQL ends one of the two
    # statements (after `deadlock_timeout`); that page runs again alone once its batch has
    # committed, as it would have succeeded alone.
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counters (id integer PRIMARY KEY, n integer)")
        conn.exec_driver_sql("INSERT INTO counters VALUES (1, 0), (2, 0)")
    both_hold_a_row = threading.Barrier(2, timeout=10)
    attempts: dict[str, int] = {}

    def count(name: str, row: int, *, then_wait: bool) -> str:
        attempts[name] = attempts.get(name, 0) + 1
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("UPDATE counters SET n = n + 1 WHERE id = %(id)s", {"id": row})
        if then_wait and attempts[name] == 1:
            both_hold_a_row.wait()
        return name

    def worker(first: int, second: int, outcomes: list[Any]) -> None:
        calls = DatabaseCalls("threads", engine)  # a worker process of its own

        async def run() -> list[Any]:
            # Queued in the same turn of the loop: one batch.
            writes = [
                asyncio.ensure_future(
                    calls.write(count, f"{first}-{first}", first, then_wait=True)
                ),
                asyncio.ensure_future(
                    calls.write(count, f"{first}-{second}", second, then_wait=False)
                ),
            ]
            return list(await asyncio.gather(*writes, return_exceptions=True))

        outcomes.extend(asyncio.run(run()))

    one: list[Any] = []
    two: list[Any] = []
    threads = [
        threading.Thread(target=worker, args=(1, 2, one)),
        threading.Thread(target=worker, args=(2, 1, two)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert one == ["1-1", "1-2"] and two == ["2-2", "2-1"]
    # One second page met the deadlock in its batch and ran again alone.
    assert sorted(attempts.values()) == [1, 1, 1, 2]
    with engine.connect() as conn:
        counts = dict(conn.exec_driver_sql("SELECT id, n FROM counters").all())
    assert counts == {1: 2, 2: 2}
