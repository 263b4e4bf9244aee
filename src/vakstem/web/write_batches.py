"""Page writes of one web worker, run together: one transaction and one commit for every page
that arrived while the previous ones were being written (group commit). On SQLite
(`WriteBatches`) they also share one take of the write lock; on PostgreSQL
(`PooledWriteBatches`) one call of the thread pool.

SQLite has one writer at a time. Called inline (`database_calls`), each page held the lock for
its own BEGIN, statements and COMMIT, and a worker waiting for the lock while another process
held it stood still: it could not read or render any other respondent's page meanwhile. Under
load the two workers of the bench machine then spent about 40 % of their time waiting, not
working, and a second worker added only a fifth to what one gave.

On SQLite a page's write function is queued and the request waits for its result. One task per
worker drains the queue: it waits for the writer queue (`store.engine.writer_queue`: this
process's threads, then the other processes, by `flock`) in a helper thread, so the event loop
serves other requests meanwhile; it then runs every queued function on the loop's thread inside
one shared transaction (`store.engine.shared_write_transaction`), each function's own write
transactions as savepoints, and commits once. A function that fails has its savepoint rolled
back and its error raised in its own request; the others are committed. Results are handed out
only after the commit, so a respondent never sees a page as stored that is not yet durable.

On PostgreSQL each page had a thread hop and a transaction of its own: under load a page cost
twice SQLite's CPU (2.2–3.0 against 1.4 ms, twelfth session). Here one task per worker takes
the pages waiting (at most `MOST_PER_BATCH`) to one pool thread, which runs each in a savepoint
of one transaction and commits once; the pages that came meanwhile make the next batch. Each
page keeps the outcome it would have had alone: one that fails is rolled back to its savepoint
and run again alone after the commit (the batch holds every row lock it took until then, so a
page could fail in it, a deadlock with the other worker's batch say, that would not alone), and
when the commit itself fails each page runs alone. One batch at a time leaves the worker's other
kept connection to the pages shown: in alternating runs on the bench machine (`bench/
respondents.py --shape matrix8x10 --postgres`, thirteenth session) page submits went from
309–321 to 380–402 a second and the server CPU per page from 3.4–3.6 to 2.6–2.8 ms, where two
batches at once served 353–374.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.engine import Engine

from vakstem.store.engine import shared_write_transaction, writer_queue

#: The pause between two batches of a worker with pages still waiting (see `_run`).
HANDOVER_SECONDS = 0.001
#: The most page writes one PostgreSQL transaction takes: it holds their rows' locks until it
#: commits (see `PooledWriteBatches`).
MOST_PER_BATCH = 32

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(slots=True)
class _Job:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]


class WriteBatches:
    """Runs the write functions of one event loop's requests in shared SQLite transactions."""

    def __init__(self, engine: Engine) -> None:
        queue = writer_queue(engine)
        if queue is None:
            raise ValueError("write batches are for SQLite engines")
        self._engine = engine
        self._queue = queue
        self._pending: list[_Job] = []
        self._drain: asyncio.Task[None] | None = None
        # The writer queue's thread lock is held by the thread that took it: one helper thread
        # takes and gives back the lock, so the loop never waits for it.
        self._lock_thread = ThreadPoolExecutor(1, thread_name_prefix="vakstem-write-lock")
        self._held = False

    async def __call__(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._pending.append(_Job(func, args, kwargs, future))
        drain = self._drain
        if drain is None or drain.done() or drain.get_loop() is not loop:
            self._drain = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            # Free: taken here at once. Taken by another writer: waited for in the helper
            # thread while the loop serves other requests. Given back by the thread that took
            # it (the thread lock has an owner).
            here = self._queue.try_enter()
            if not here:
                try:
                    await loop.run_in_executor(self._lock_thread, self._take)
                except asyncio.CancelledError:
                    # The loop is closing: give the lock back once the helper has it, or the
                    # other workers would wait for it forever.
                    self._lock_thread.submit(self._give)
                    _fail(self._pending, RuntimeError("the server is stopping"))
                    self._pending = []
                    raise
                except Exception as exc:
                    _fail(self._pending, exc)
                    self._pending = []
                    return
            try:
                jobs, self._pending = self._pending, []
                self._write(jobs)
            finally:
                if here:
                    self._queue.__exit__(None)
                else:
                    await loop.run_in_executor(self._lock_thread, self._give)
            if self._pending:
                # A lock given back is not handed to the writer waiting longest: the one that
                # just gave it back would take it again at once, and the other workers'
                # respondents would wait. A millisecond lets a waiting worker have its turn;
                # this loop serves other requests meanwhile.
                await asyncio.sleep(HANDOVER_SECONDS)

    # Both run on the helper thread only.
    def _take(self) -> None:
        self._queue.__enter__()
        self._held = True

    def _give(self) -> None:
        if self._held:
            self._held = False
            self._queue.__exit__(None)

    def _write(self, jobs: list[_Job]) -> None:
        outcomes: list[tuple[_Job, bool, Any]] = []
        try:
            with shared_write_transaction(self._engine) as conn:
                driver = conn.connection.driver_connection
                for job in jobs:
                    try:
                        outcomes.append((job, True, job.func(*job.args, **job.kwargs)))
                    except Exception as exc:
                        outcomes.append((job, False, exc))
                    if not driver.in_transaction:  # type: ignore[union-attr]
                        # SQLite rolled the whole transaction back (a full disk, an I/O
                        # error): the pages before are gone too, so none may be reported
                        # as stored, and the next would be written outside the batch.
                        raise _Lost("the database rolled back the shared write transaction")
        except BaseException as exc:
            # BEGIN or COMMIT failed (or the process is stopping): nothing was stored.
            _fail(jobs, exc)
            if not isinstance(exc, Exception):
                raise
            return
        _hand_out(outcomes)


class _Lost(Exception):
    """The shared transaction ended under the batch: nothing of it was stored."""


def _fail(jobs: list[_Job], exc: BaseException) -> None:
    error = exc if isinstance(exc, Exception) else RuntimeError("the write was interrupted")
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error)


class PooledWriteBatches:
    """Runs the write functions of one event loop's requests on PostgreSQL in shared
    transactions, one batch at a time, each in one call of the thread pool (`run_in_pool`)."""

    def __init__(
        self, engine: Engine, run_in_pool: Callable[[Callable[[], Any]], Awaitable[Any]]
    ) -> None:
        self._engine = engine
        self._run_in_pool = run_in_pool
        # One queue per event loop (a test client may run each request in a new loop).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _LoopQueue()
        future: asyncio.Future[_T] = loop.create_future()
        queue.pending.append(_Job(func, args, kwargs, future))
        if queue.drain is None or queue.drain.done():
            queue.drain = loop.create_task(self._run(queue))
        return await future

    async def _run(self, queue: _LoopQueue) -> None:
        while queue.pending:
            jobs = queue.pending[:MOST_PER_BATCH]
            del queue.pending[:MOST_PER_BATCH]
            try:
                outcomes = await self._run_in_pool(functools.partial(self._write, jobs))
            except BaseException as exc:
                # The pool refused the call or the loop is stopping: nothing was stored.
                _fail(jobs, exc)
                if not isinstance(exc, Exception):
                    _fail(queue.pending, exc)
                    queue.pending.clear()
                    raise
                continue
            _hand_out(outcomes)

    def _write(self, jobs: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        """On a pool thread: the jobs in one transaction, each in a savepoint of its own, then
        each job that failed in it again alone, in a transaction of its own. So each job gets
        the outcome it would have had alone: the batch holds its row locks until its commit,
        which a job alone would not have waited for (a deadlock with another worker's batch).
        A job that fails for its own reasons (an unknown resume code) so runs twice, which
        costs a little on a rare path and keeps every outcome exactly as alone."""
        outcomes: list[tuple[_Job, bool, Any]] = []
        alone: list[_Job] = []
        try:
            with shared_write_transaction(self._engine) as conn:
                raw = conn.connection.driver_connection
                for job in jobs:
                    raw.execute("SAVEPOINT vakstem_page")  # type: ignore[union-attr]
                    try:
                        value = job.func(*job.args, **job.kwargs)
                    except Exception:
                        raw.execute("ROLLBACK TO SAVEPOINT vakstem_page")  # type: ignore[union-attr]
                        alone.append(job)
                    else:
                        raw.execute("RELEASE SAVEPOINT vakstem_page")  # type: ignore[union-attr]
                        outcomes.append((job, True, value))
        except Exception:
            # BEGIN or COMMIT failed: nothing of the batch was stored, so each job runs alone.
            outcomes, alone = [], list(jobs)
        for job in alone:
            try:
                outcomes.append((job, True, job.func(*job.args, **job.kwargs)))
            except Exception as exc:
                outcomes.append((job, False, exc))
        return outcomes


@dataclass(slots=True)
class _LoopQueue:
    pending: list[_Job] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None


def _hand_out(outcomes: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in outcomes:
        if job.future.done():  # the request was cancelled
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
