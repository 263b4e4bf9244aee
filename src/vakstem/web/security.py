"""Rate limits on the doors that can be hammered: console login, password reset, starting
a response (HTML and API) and typing a resume code (to continue or to withdraw). Security
headers, CSRF and the body limit live in `guard.py` and the routes; this module only counts.

Privacy by construction: a client is known only by a keyed hash of its address, the key is
random, held in process memory and replaced every `rotate_seconds` (which also forgets every
bucket), so no address is ever written anywhere and a hash cannot be linked across periods.
The workers of one `vakstem serve --workers N` count together in a table in shared memory
(`rate_table.py`), so a client gets each limit once per server, not once per worker.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vakstem.web.rate_table import Bucket, SharedTable


@dataclass(frozen=True)
class Limit:
    """A token bucket: `burst` requests at once, refilled at `per_minute`."""

    burst: float
    per_minute: float


#: Resume-code entry, per client address (an organisation's respondents share one).
CODE_LIMIT = Limit(burst=30, per_minute=30)

#: A whole organisation may sit behind one address, so starting responses gets room; guessing
#: passwords does not.
DEFAULT_LIMITS: tuple[tuple[re.Pattern[str], str, Limit], ...] = (
    (re.compile(r"^/console/login$"), "login", Limit(burst=20, per_minute=20)),
    (re.compile(r"^/console/(forgot|reset/[^/]+)$"), "reset", Limit(burst=5, per_minute=5)),
    (re.compile(r"^/s/[^/]+$"), "start", Limit(burst=120, per_minute=120)),
    (re.compile(r"^/api/v1/studies/[^/]+/responses$"), "start", Limit(burst=120, per_minute=120)),
    # Typing a resume code (to continue or to withdraw): one door, so a guesser gets no more
    # tries by alternating; a person mistyping a few times is never stopped.
    (re.compile(r"^/s/[^/]+/(hervat|intrekken)$"), "code", CODE_LIMIT),
    (re.compile(r"^/api/v1/studies/[^/]+/withdrawals$"), "code", CODE_LIMIT),
)

_PAGE = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Even geduld / Please wait</title><link rel="stylesheet" href="/static/vakstem.css">
</head><body><main>
<h1>Even geduld</h1>
<p>Er kwamen veel verzoeken tegelijk van uw netwerk. Probeer het over een minuut opnieuw;
er is niets verloren gegaan.</p>
<h2 lang="en">Please wait</h2>
<p lang="en">Many requests came from your network at once. Please try again in a minute;
nothing has been lost.</p>
</main></body></html>"""


def monotonic() -> float:
    """The limiter's clock (a module function, so tests can freeze it)."""
    return time.monotonic()


class RateLimiter:
    """Token buckets keyed by a rotating keyed hash of the client address."""

    def __init__(
        self,
        *,
        rotate_seconds: float = 3600.0,
        max_clients: int = 100_000,
        clock: Callable[[], float] | None = None,
        shared: str | None = None,
    ) -> None:
        """`shared`: the path of the workers' common table (`rate_table.TABLE_ENV`); without
        it this process counts on its own."""
        self.rotate_seconds = rotate_seconds
        self.max_clients = max_clients
        self.clock = clock or monotonic
        self._lock = threading.Lock()
        self._table = SharedTable(shared) if shared else None
        self._rotate(self.clock())

    def _rotate(self, now: float) -> None:
        self._key = secrets.token_bytes(32)
        self._since = now
        self._buckets: dict[tuple[str, bytes], tuple[float, float]] = {}

    def client_key(self, address: str) -> bytes:
        key = self._key
        if self._table is not None:
            with self._lock, self._table.locked():
                key = self._table.key(self.clock(), self.rotate_seconds)
        return _hash(address, key)

    def allow(self, door: str, address: str, limit: Limit) -> float:
        """0 when allowed; otherwise the seconds until a request would be."""
        now = self.clock()
        if self._table is not None:
            return self._allow_shared(self._table, door, address, limit, now)
        with self._lock:
            if now - self._since >= self.rotate_seconds:
                self._rotate(now)
            if len(self._buckets) >= self.max_clients:
                # Under a flood from many addresses: forget everyone rather than grow without
                # bound (a reset only ever lets requests through, never blocks wrongly).
                self._buckets.clear()
            key = (door, _hash(address, self._key))
            tokens, wait = _take(*self._buckets.get(key, (limit.burst, now)), now, limit)
            self._buckets[key] = (tokens, now)
            return wait

    def _allow_shared(
        self, table: SharedTable, door: str, address: str, limit: Limit, now: float
    ) -> float:
        with self._lock, table.locked():
            client = _hash(address, table.key(now, self.rotate_seconds))
            index, bucket = table.find(door, client)
            if bucket is None:
                bucket = Bucket(door, client, limit.burst, now)
            tokens, wait = _take(bucket.tokens, bucket.last, now, limit)
            table.put(index, Bucket(door, client, tokens, now))
            return wait

    def remembered(self) -> list[tuple[str, bytes]]:
        """What the limiter holds (for tests: doors and hashes, never an address)."""
        if self._table is not None:
            with self._lock, self._table.locked():
                return [(b.door, b.client) for b in self._table.buckets()]
        with self._lock:
            return list(self._buckets)


def _hash(address: str, key: bytes) -> bytes:
    return hashlib.blake2b(address.encode(), key=key, digest_size=16).digest()


def _take(tokens: float, last: float, now: float, limit: Limit) -> tuple[float, float]:
    """A bucket refilled up to `now` and, if it holds a token, one taken: the tokens left and
    0, or the tokens and the seconds until one will be there."""
    rate = limit.per_minute / 60.0
    tokens = min(limit.burst, tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


class RateLimitMiddleware:
    """Answers 429 (a friendly page, or JSON under /api/) once a client exceeds a door's limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter | None = None,
        limits: tuple[tuple[re.Pattern[str], str, Limit], ...] = DEFAULT_LIMITS,
    ) -> None:
        self.app = app
        self.limiter = limiter or RateLimiter()
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        for pattern, door, limit in self.limits:
            if pattern.match(path):
                # uvicorn puts the proxy's X-Forwarded-For here when the proxy is trusted.
                client = scope.get("client")
                address = str(client[0]) if client else "unknown"
                wait = self.limiter.allow(door, address, limit)
                if wait > 0:
                    await _too_many(path, wait)(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)


def _too_many(path: str, wait: float) -> Response:
    headers = {"retry-after": str(max(1, int(wait + 0.999)))}
    if path.startswith("/api/"):
        body = {"detail": "Te veel verzoeken; probeer het zo opnieuw. / Too many requests."}
        return JSONResponse(body, status_code=429, headers=headers)
    return HTMLResponse(_PAGE, status_code=429, headers=headers)
