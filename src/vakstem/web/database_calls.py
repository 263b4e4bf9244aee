"""How the respondent pages call the database from the event loop: inline or in the thread pool.

A page's database work (find the response, store the page in one write transaction) is a
millisecond or two. Handing it to Starlette's thread pool costs more than the hop itself: under
load the pool's threads and the event loop take turns at the GIL, so the thread holding SQLite's
write lock waits for the GIL while every other writer waits for the lock (the lock was held
about 85 % of the time, 2.05 ms of wall time for 1.1 ms of CPU per transaction). Run inline,
the transaction holds the GIL from BEGIN to COMMIT and the worker processes take the lock in
turn. In alternating runs against the thread pool on the two-core bench machine, page submits
rose by a fifth to a quarter (403 → 485–534 and 300–336 → 376–386 per second as the machine's
speed moved), the servers' CPU per page fell by a fifth and the closed-loop p95 by about 40 %
(`bench/respondents.py --quick --shape matrix8x10 --repeat 2`; `docs/performance.md`, fifth
session). One respondent at a time, without contention, it makes no difference. Taking the
lock inline only when it is free, and the pool otherwise, measured no better than the pool.

The page writes (`DatabaseCalls.write`) go one step further on SQLite: each worker runs the
writes that arrived together in one shared transaction, and waits for the write lock without
blocking its event loop (`write_batches`, seventh session: 170-290 → 290-410 page submits per
second in alternating runs on the bench machine).

Inline is the default on SQLite, an embedded file with no network between the page and its
data. On PostgreSQL the default stays the thread pool: a server on another host adds a network
round trip per statement, during which an inline call would hold up every other request of the
worker. With PostgreSQL on the same machine inline once measured faster (418–448 submits
per second against 311–314 in the pool, fifth session), but not on later code: 348 against
371–384 in the pool (twelfth session), with a view p95 above a second while the loop waits.
In the pool, a worker runs no more page calls at once than its engine keeps connections
(`VAKSTEM_DATABASE_CONNECTIONS`, two by default): with the pool's forty threads it opened
about twenty overflow connections a second and closed them again, and capping the calls took
PostgreSQL from 292–296 to 349–365 submits per second in alternating runs (eighth session).
Two kept connections then served 5–11 % more than ten (twelfth session). The page writes share
calls of the pool and transactions there too (`write_batches.PooledWriteBatches`, thirteenth
session: about a quarter more page submits a second).

Work that can take long (the closing page's personal comparison waits up to two seconds for its
scoring) is always sent to the thread pool, whatever the mode. Short work with writes of its own
outside the page writes (the closing page marks an invitation completed) goes through `in_pool`:
the thread pool in either mode, under the same cap (in Starlette's pool it took most of the
connections PostgreSQL opened and closed again under load, ninth session).

The price of inline calls: while another process holds SQLite's write lock for long (a purge of
a large study, an import), a worker waiting for it serves none of its other requests either,
where with the pool only the waiting writes stood still. Such writes are rare maintenance; run
them outside fieldwork hours or set `VAKSTEM_DATABASE_CALLS=threads`.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any, Literal, ParamSpec, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

from vakstem.store.engine import writer_queue
from vakstem.web.write_batches import PooledWriteBatches, WriteBatches

DatabaseCallMode = Literal["inline", "threads"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def default_mode(engine: Engine) -> DatabaseCallMode:
    """Inline on SQLite, the thread pool on PostgreSQL (see the module's docstring)."""
    return "inline" if engine.dialect.name == "sqlite" else "threads"


class DatabaseCalls:
    """Calls a short, blocking database function from a request handler.

    `write` is for a function that stores a page: inline on SQLite it joins the worker's
    write batches (`write_batches`), so it shares one write lock and one commit with the
    pages that arrived meanwhile, and the worker goes on serving while it waits for the lock.
    """

    def __init__(self, mode: DatabaseCallMode, engine: Engine | None = None) -> None:
        self.mode: DatabaseCallMode = mode
        # In the pool, no more calls at once than the engine keeps connections: the pool's
        # forty threads would otherwise open overflow connections and close them again on
        # return, and on PostgreSQL a new connection (a server process) costs more than the
        # statements of a page. Under load PostgreSQL saw about twenty new connections a second.
        pool = engine.pool if engine is not None else None
        self._connections = pool.size() if isinstance(pool, QueuePool) else None
        # Page writes that arrive together share one transaction (`write_batches`): inline on
        # SQLite, in one call of the pool on PostgreSQL.
        self._batches: WriteBatches | PooledWriteBatches | None = None
        if engine is not None and mode == "inline" and writer_queue(engine) is not None:
            self._batches = WriteBatches(engine)
        elif engine is not None and mode == "threads" and engine.dialect.name == "postgresql":
            self._batches = PooledWriteBatches(engine, self.in_pool)
        # One limiter per event loop (a test client may run each request in a new loop).
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def most_at_once(self) -> int | None:
        """The most calls run in the pool at once: the engine's kept connections (None: no
        cap, for an engine without a fixed pool)."""
        return self._connections

    async def __call__(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self.mode == "inline":
            return func(*args, **kwargs)
        return await self.in_pool(func, *args, **kwargs)

    async def in_pool(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """In the thread pool whatever the mode, under the same cap on calls at once: for short
        database work with writes of its own, which inline on SQLite would wait for the write
        lock on the event loop (the write batches take only page writes)."""
        limiter = None
        if self._connections is not None:
            loop = asyncio.get_running_loop()
            limiter = self._limiters.get(loop)
            if limiter is None:
                limiter = self._limiters[loop] = anyio.CapacityLimiter(self._connections)
        call = functools.partial(func, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=limiter)

    async def write(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._batches is not None:
            return await self._batches(func, *args, **kwargs)
        return await self(func, *args, **kwargs)
