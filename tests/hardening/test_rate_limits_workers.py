"""Rate limits hold per server, not per worker: the workers of `vakstem serve --workers N`
count in one table in shared memory (an anonymous memfd), checked with limiters that open the
same table as two workers would, and against a real two-worker server. The table holds keyed
hashes only, never an address."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from vakstem.web.rate_table import create_shared_table
from vakstem.web.security import DEFAULT_LIMITS, Limit, RateLimiter

from .server import Server

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="memfd tables are Linux-only")


def _table(slots: int = 1024) -> str:
    path = create_shared_table(slots)
    assert path is not None
    return path


def test_two_workers_share_one_bucket_per_client_and_door() -> None:
    now = [100.0]
    path = _table()
    first, second = (RateLimiter(shared=path, clock=lambda: now[0]) for _ in range(2))
    limit = Limit(burst=3, per_minute=6)
    allowed = [limiter.allow("login", "192.0.2.1", limit) == 0 for limiter in (first, second) * 3]
    # Three in all, whichever worker answered: not three per worker.
    assert allowed == [True, True, True, False, False, False]
    assert 9 < second.allow("login", "192.0.2.1", limit) <= 10  # one token per 10 s
    assert first.allow("reset", "192.0.2.1", limit) == 0  # another door counts apart
    assert second.allow("login", "192.0.2.2", limit) == 0  # and another client
    now[0] += 10
    assert first.allow("login", "192.0.2.1", limit) == 0
    assert second.allow("login", "192.0.2.1", limit) > 0
    assert first.client_key("192.0.2.1") == second.client_key("192.0.2.1")
    assert sorted(first.remembered()) == sorted(second.remembered())
    assert len(first.remembered()) == 3


def test_the_shared_table_holds_no_address_and_forgets_on_rotation() -> None:
    now = [0.0]
    path = _table()
    first = RateLimiter(shared=path, clock=lambda: now[0], rotate_seconds=3600)
    second = RateLimiter(shared=path, clock=lambda: now[0], rotate_seconds=3600)
    limit = Limit(burst=1, per_minute=1)
    addresses = [f"198.51.100.{n}" for n in range(50)] + ["2001:db8::1"]
    for address in addresses:
        assert first.allow("start", address, limit) == 0
    raw = Path(path).read_bytes()
    for address in addresses:
        assert address.encode() not in raw
    assert all(len(client) == 16 for _door, client in second.remembered())
    assert second.allow("start", "2001:db8::1", limit) > 0
    before = first.client_key("2001:db8::1")
    now[0] += 3600
    # A new key for every worker, and every bucket forgotten.
    assert second.allow("start", "2001:db8::1", limit) == 0
    assert first.client_key("2001:db8::1") == second.client_key("2001:db8::1") != before
    assert len(first.remembered()) == 1


def test_a_full_table_forgets_the_least_recently_seen_client() -> None:
    now = [0.0]
    limiter = RateLimiter(shared=_table(slots=4), clock=lambda: now[0])
    limit = Limit(burst=1, per_minute=1)
    for n in range(40):
        now[0] += 1
        # A bucket pushed out only ever lets a request through; nothing fails.
        assert limiter.allow("login", f"203.0.113.{n}", limit) == 0
    assert len(limiter.remembered()) == 4
    assert limiter.allow("login", "203.0.113.39", limit) > 0  # the latest is still known


def test_door_names_of_any_length_count_apart() -> None:
    limiter = RateLimiter(shared=_table(), clock=lambda: 0.0)
    limit = Limit(burst=1, per_minute=1)
    for door in ("password_reset_request", "password_reset_confirm", "x"):
        assert limiter.allow(door, "192.0.2.9", limit) == 0
        assert limiter.allow(door, "192.0.2.9", limit) > 0
    assert len(limiter.remembered()) == 3


def test_workers_in_other_processes_count_in_the_same_table() -> None:
    path = _table()
    script = (
        "import sys\n"
        "from vakstem.web.security import Limit, RateLimiter\n"
        "limiter = RateLimiter(shared=sys.argv[1])\n"
        "print(sum(limiter.allow('reset', '192.0.2.7', Limit(5, 0.001)) == 0 for _ in range(4)))\n"
    )
    counts = [
        int(
            subprocess.run(
                [sys.executable, "-c", script, path], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    assert sum(counts) == 5 and counts[0] == 4, counts


def test_a_two_worker_server_gives_a_client_each_limit_once(
    database_url: str, tmp_path: Path
) -> None:
    reset = next(limit for _pattern, door, limit in DEFAULT_LIMITS if door == "reset")
    requests = 4 * int(reset.burst)
    server = Server(database_url, tmp_path, workers=2)
    server.start()
    try:
        server.wait_for_workers()
        workers = server.worker_pids()
        assert len(workers) >= 2
        for pid in workers:
            # A worker imports the app only, not the command line with its plotting and
            # statistics libraries (seconds of start-up per worker on a busy machine).
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert "/matplotlib/" not in maps and "/scipy/stats/" not in maps, pid
        # All at once, each on its own connection, so both workers take some of them.
        clients = [httpx2.Client(base_url=server.base, timeout=120) for _ in range(requests)]
        barrier = threading.Barrier(requests)
        codes: list[int] = []

        def ask(client: httpx2.Client) -> None:
            client.get("/openapi.json")  # connected before the race
            barrier.wait()
            codes.append(client.post("/console/forgot", data={"email": "a@b.nl"}).status_code)

        began = time.monotonic()
        threads = [threading.Thread(target=ask, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        elapsed = time.monotonic() - began
        for client in clients:
            client.close()
    finally:
        server.stop()
    assert len(codes) == requests
    allowed = sum(code != 429 for code in codes)
    # The burst, plus what refilled while the requests were made (slowly on a busy machine).
    refilled = int(elapsed * reset.per_minute / 60)
    assert reset.burst <= allowed <= reset.burst + refilled, (allowed, elapsed, codes)
