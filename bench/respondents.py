"""Respondents under load: `vakstem serve` as a real process, driven over HTTP by K concurrent
virtual respondents, against two baselines served and driven the same way in the same run.

    .venv/bin/python bench/respondents.py                      # klantmanager study, SQLite
    .venv/bin/python bench/respondents.py --shape matrix8x10   # LimeSurvey's survey shape
    .venv/bin/python bench/respondents.py --postgres           # a fresh PostgreSQL database
    .venv/bin/python bench/respondents.py --quick              # under a minute

Each virtual respondent opens the anonymous link and fills in the whole questionnaire through
the HTML pages, as a browser without JavaScript does: read the page, post its form, read the
next page from the answer (or follow a 303 where the address changes: after the welcome page,
to the closing page), until the closing page. Answers are realistic: for the klantmanager study
drawn from its population model (`vakstem.simulate`, clean respondents who all complete); for a
study without one, a random valid code per item. Only the fields the page shows are posted, so
conditions are honoured as the server applies them. The loop is closed: each of the K
respondents starts the next response when one is done, until the fixed number of completes
(after an error, a second later).

A *page submit* is the POST of a page (answers validated and committed, answered with the
next page); a *page view* is a GET that shows a page (the first page and the closing page).
Every respondent connects from its own loopback address (127.0.x.y), as respondents come from
their own networks, so the per-address limit on starting responses applies as it would in the
field.

Baselines, each served by uvicorn with the same worker count and driven by the same generator
(`bench/baseline_app.py`): `form_insert` parses an urlencoded form the size of a matrix page and
inserts it as one row into the same kind of database with Vakstem's connection settings (one
commit, fsync on SQLite); `hello` returns a constant. The ratios are Vakstem's page submits per
second over each baseline's requests per second.

`page_kb_max` is the largest respondent page plus its assets as transferred (assets gzip where
the server sends them so); every page is checked for references to any other host. The last
line is `RESULT name=value ...` for comparing runs over time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import html
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from machine import python_ms

from vakstem.commands.serve import SERVER_HTTP, SERVER_LOOP
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import ItemType, Study
from vakstem.simulate import draw_population, population_file, population_for
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHAPES = {
    "klantmanagers": ROOT / "src" / "vakstem" / "studies" / "klantmanagers" / "study.yaml",
    "matrix8x10": ROOT / "bench" / "matrix8x10.yaml",
}
PG_ADMIN_URL = os.environ.get(
    "VAKSTEM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: The LimeSurvey 6.4.2 reference of issue 10 (matrix8x10 shape, the same kind of machine).
LIMESURVEY = {
    "submits_per_s": 39.0,
    "completes_per_s": 5.0,
    "p95_ms_20": 533.0,
    "p95_ms_100": 3200.0,
}

FormFields = list[tuple[str, str]]
Answers = dict[str, list[str]]

# Each starts with a literal, which lets `re` skip ahead to it: with `\b` first (as before) or
# a lazy `.*?` to the form's end, parsing a matrix page took about a millisecond of the load
# generator's CPU, on the cores the server runs on.
_ACTION = re.compile(r' action="([^"]*)"')
_HIDDEN = re.compile(r'<input type="hidden" name="(_[a-z]+)" value="([^"]*)"')
_NAME = re.compile(r' name="([a-z][a-z0-9_]*)"')
_ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')
_REF = re.compile(r'\b(?:src|href|action|srcset|formaction|poster|data)\s*=\s*"([^"]*)"', re.I)
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)")
_PAGE_ID = re.compile(r'name="_page" value="([^"]*)"')


# --- answers ------------------------------------------------------------------------------------


def _form_values(value: Any) -> list[str]:
    if value is None or value != value:  # None or NaN: unanswered
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return [str(int(value))]
    return [str(value)]


def _random_answers(study: Study, rng: random.Random) -> Answers:
    """A valid random answer to every item (for studies without a population model)."""
    out: Answers = {}
    for _page, item in study.items():
        codes = (
            [str(c.code) for c in study.choices_of(item) if not c.missing] if item.choices else []
        )
        if item.type is ItemType.MATRIX:
            lean = rng.randint(1, len(codes))  # a respondent's own tendency across a block
            for row in item.rows:
                pick = min(len(codes), max(1, lean + rng.choice((-1, 0, 0, 1))))
                out[row.id] = [codes[pick - 1]]
        elif item.type is ItemType.SINGLE:
            out[item.id] = [rng.choice(codes)]
        elif item.type is ItemType.MULTIPLE:
            out[item.id] = rng.sample(codes, k=min(2, len(codes)))
        elif item.type is ItemType.CONSENT:
            out[item.id] = ["1"]
        elif item.type in (ItemType.INTEGER, ItemType.DECIMAL):
            low = int(item.min if item.min is not None else 0)
            out[item.id] = [
                str(rng.randint(low, int(item.max if item.max is not None else low + 40)))
            ]
        elif item.type is ItemType.DATE:
            out[item.id] = [f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"]
        elif item.type in (ItemType.TEXT, ItemType.LONGTEXT):
            out[item.id] = ["Meer tijd voor klanten en minder administratie."[: item.max_length]]
    return out


def answer_sets(study: Study, n: int, seed: int) -> list[Answers]:
    """`n` respondents' answers as form values: drawn from the study's population model when it
    has one (clean respondents: all consent and complete), otherwise random valid answers."""
    if population_file(study.id) is None:
        rng = random.Random(seed)
        return [_random_answers(study, rng) for _ in range(n)]
    frame = draw_population(study, population_for(study), n, seed, mess=False)
    variables = study.variables()
    return [
        {v: vals for v in variables if (vals := _form_values(row[v]))}
        for row in frame[variables].to_dict("records")
    ]


# --- the load generator -------------------------------------------------------------------------


@dataclass
class Run:
    """What one load run saw."""

    submits: list[float] = field(default_factory=list)
    views: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    completes: int = 0
    started: int = 0
    requests: int = 0
    seconds: float = 0.0
    #: CPU seconds the server's processes used during the run.
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    #: The largest body seen per page id, with that page's HTML (for the size and host checks).
    pages: dict[str, tuple[int, str]] = field(default_factory=dict)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text)


def rate(run: Run) -> float:
    """Page submits (or baseline requests) per second of a run."""
    return len(run.submits) / run.seconds if run.seconds else 0.0


def median_run(runs: list[Run]) -> Run:
    """The run with the median rate (the lower middle one of an even number)."""
    return sorted(runs, key=rate)[(len(runs) - 1) // 2]


def median_ratio(vak_runs: list[Run], baseline_runs: list[Run]) -> float:
    """Median over repetitions of Vakstem's rate over the baseline's, run for run."""
    ratios = sorted(
        rate(v) / rate(b) for v, b in zip(vak_runs, baseline_runs, strict=False) if rate(b)
    )
    if not ratios:
        return 0.0
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


#: Seconds a virtual respondent waits after an error before starting the next response.
ERROR_PAUSE_S = 1.0


def client_address(index: int) -> str:
    """A loopback source address of its own for virtual client `index` (127.0.0.0/8 is all
    loopback on Linux)."""
    return f"127.0.{1 + index // 250}.{2 + index % 250}"


def _session(index: int) -> aiohttp.ClientSession:
    # Idle connections are dropped after 3 s, before the server's keep-alive of 5 s ends: a
    # request sent on a connection the server is closing at that moment is reset, which a
    # browser retries and aiohttp does not (a pause between pages is now and then > 5 s).
    connector = aiohttp.TCPConnector(
        limit=1, local_addr=(client_address(index), 0), keepalive_timeout=3
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=120),
        # Like a browser: compressed where the server offers it.
        headers={"Accept-Encoding": "gzip", "Accept-Language": "nl"},
    )


#: A form's body is encoded by `urlencoded`, as a browser does: aiohttp's own form encoding
#: (`data=` a list of fields) cost a tenth of the load generator's CPU.
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def urlencoded(fields: FormFields) -> bytes:
    """A form's fields as an `application/x-www-form-urlencoded` body (UTF-8)."""
    return urllib.parse.urlencode(fields).encode()


def parse_form(page: str) -> tuple[str, FormFields, list[str]] | None:
    """The answers form of a page: its action, hidden fields and answer field names (None on a
    page without one, such as the closing page)."""
    at = page.find('id="answers"')
    start = page.rfind("<form", 0, at) if at >= 0 else -1
    opened = page.find(">", at) if start >= 0 else -1
    end = page.find("</form>", opened) if opened >= 0 else -1
    action = _ACTION.search(page, start, opened) if end >= 0 else None
    if action is None:
        return None
    body = page[opened + 1 : end]
    hidden = [(k, html.unescape(v)) for k, v in _HIDDEN.findall(body)]
    names = list(dict.fromkeys(_NAME.findall(body)))
    return html.unescape(action.group(1)), hidden, names


async def respondent(
    session: aiohttp.ClientSession,
    base: str,
    study_id: str,
    answers: Answers,
    run: Run,
    think: float = 0.0,
    deadline: float | None = None,
) -> None:
    """One response from the anonymous link to the closing page; with `think`, a pause of that
    many seconds on average (exponentially distributed) on every page before sending it; with
    `deadline` (a `time.perf_counter()` reading), left where it is once that time has passed,
    as a respondent who stops part way."""
    url = f"{base}/s/{study_id}"
    submitted = 0
    page = ""
    while True:
        if url:
            began = time.perf_counter()
            async with session.get(url, allow_redirects=False) as got:
                page = (await got.read()).decode()
                status = got.status
            run.views.append(time.perf_counter() - began)
            run.requests += 1
            if status != 200:
                run.error(f"GET {url}: {status}")
                return
        form = parse_form(page)
        if form is None:
            if submitted:
                run.completes += 1
            else:
                run.error(f"GET {url}: no form on the first page")
            return
        action, hidden, names = form
        page_id = dict(hidden).get("_page", "?")
        size = len(page.encode("utf-8"))
        if size > run.pages.get(page_id, (0, ""))[0]:
            run.pages[page_id] = (size, page)
        body = hidden + [(name, value) for name in names for value in answers.get(name, [])]
        if think > 0:
            await asyncio.sleep(random.expovariate(1.0 / think))
        if deadline is not None and time.perf_counter() >= deadline:
            return
        began = time.perf_counter()
        async with session.post(
            base + action, data=urlencoded(body), headers=FORM_HEADERS, allow_redirects=False
        ) as posted:
            reply = (await posted.read()).decode()
            status = posted.status
            location = posted.headers.get("location", "")
        run.submits.append(time.perf_counter() - began)
        run.requests += 1
        submitted += 1
        if status == 200:
            # The next page came as the answer to the POST.
            page, url = reply, ""
        elif status == 303 and location:
            url = location if location.startswith("http") else base + location
        else:
            run.error(f"POST {action} (page {page_id}): {status}")
            return


async def drive_respondents(
    base: str,
    study_id: str,
    answers: list[Answers],
    k: int,
    completes: int,
    run: Run,
    *,
    think: float = 0.0,
    seconds: float | None = None,
) -> None:
    """K respondents in a closed loop until `completes` responses have been started and ended
    (or, with `seconds`, until that time has passed: the responses under way stop there, so
    the run lasts `seconds` and not a whole response longer, ~15 s at a person's pace)."""
    sessions = [_session(i) for i in range(k)]
    supply = itertools.cycle(answers)
    deadline = None if seconds is None else time.perf_counter() + seconds

    async def loop(index: int, session: aiohttp.ClientSession) -> None:
        starts = 0
        while run.started < completes and (deadline is None or time.perf_counter() < deadline):
            run.started += 1
            starts += 1
            errors, samples = run.errors, len(run.error_samples)
            try:
                await respondent(session, base, study_id, next(supply), run, think, deadline)
            except (aiohttp.ClientError, TimeoutError) as exc:
                run.error(f"{type(exc).__name__}: {exc}")
            if len(run.error_samples) > samples:
                # Which client, how far into the run: a refusal of the per-address limit on
                # starting responses can then be told from a client that starts too often.
                at = time.perf_counter() - began
                run.error_samples[-1] += f" (client {index}, its start {starts}, at {at:.1f} s)"
            if run.errors > errors:
                # As a person would, before trying again: without a pause one refused client
                # spun through the run's remaining starts, each refused in turn.
                await asyncio.sleep(ERROR_PAUSE_S)

    began = time.perf_counter()
    try:
        await asyncio.gather(*(loop(i, s) for i, s in enumerate(sessions)))
    finally:
        run.seconds = time.perf_counter() - began
        await asyncio.gather(*(s.close() for s in sessions))


async def drive_requests(
    k: int, seconds: float, request: Callable[[aiohttp.ClientSession], Awaitable[int]], run: Run
) -> None:
    """K clients in a closed loop, each sending `request` until `seconds` have passed."""
    sessions = [_session(i) for i in range(k)]
    began = time.perf_counter()
    deadline = began + seconds

    async def loop(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                status = await request(session)
            except (aiohttp.ClientError, TimeoutError) as exc:
                run.error(f"{type(exc).__name__}: {exc}")
                continue
            run.submits.append(time.perf_counter() - t0)
            run.requests += 1
            if status != 200:
                run.error(f"status {status}")

    try:
        await asyncio.gather(*(loop(s) for s in sessions))
    finally:
        run.seconds = time.perf_counter() - began
        await asyncio.gather(*(s.close() for s in sessions))


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process (its own process group) on a free port, stopped with SIGTERM."""

    def __init__(self, argv: list[str], env: dict[str, str], ready_path: str, log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.env = env
        self.ready_path = ready_path
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    sock.sendall(f"GET {self.ready_path} HTTP/1.0\r\n\r\n".encode())
                    if sock.recv(12).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def measure(self, work: Coroutine[Any, Any, None], run: Run) -> None:
        """Run the load `work` and note the CPU time the server and this client used."""
        assert self.proc is not None
        server0, client0 = cpu_seconds(self.proc.pid), time.process_time()
        asyncio.run(work)
        run.server_cpu = cpu_seconds(self.proc.pid) - server0
        run.client_cpu = time.process_time() - client0

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in process group `pgid` (the server and
    its workers): a cost per request that stays meaningful on a machine shared with others."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ...
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- page size and hosts ------------------------------------------------------------------------


async def page_weight(base: str, pages: dict[str, tuple[int, str]]) -> tuple[float, str, list[str]]:
    """The heaviest page with its assets as transferred (kB, page id), and every reference to
    another host found in the pages and their stylesheets."""
    external: list[str] = []
    host = base.split("//", 1)[1]

    def check(ref: str, where: str) -> None:
        ref = ref.strip()
        absolute = ref.startswith("//") or re.match(r"^[a-z][a-z0-9+.-]*://", ref, re.I)
        if absolute and ref.split("//", 1)[1].split("/", 1)[0] != host:
            external.append(f"{where}: {ref}")

    assets: dict[str, int] = {}
    async with aiohttp.ClientSession(
        auto_decompress=False, headers={"Accept-Encoding": "gzip"}
    ) as session:
        for page_id, (_size, page) in pages.items():
            for ref in _REF.findall(page):
                check(html.unescape(ref), f"page {page_id}")
            for asset in _ASSET.findall(page):
                if asset in assets:
                    continue
                async with session.get(base + html.unescape(asset)) as got:
                    raw = await got.read()
                    assets[asset] = len(raw)
                    if "css" in got.headers.get("content-type", ""):
                        import gzip

                        text = (
                            gzip.decompress(raw)
                            if got.headers.get("content-encoding") == "gzip"
                            else raw
                        )
                        for ref in _CSS_URL.findall(text.decode("utf-8", "replace")):
                            check(ref, asset)
    heaviest, worst = 0, ""
    for page_id, (size, page) in pages.items():
        total = size + sum(assets[a] for a in set(_ASSET.findall(page)))
        if total > heaviest:
            heaviest, worst = total, page_id
    return heaviest / 1024, worst, external


# --- reporting ----------------------------------------------------------------------------------


def quantile_ms(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # As Ctrl-C: the `finally` blocks stop the servers and drop the PostgreSQL database, which
    # a plain SIGTERM (`timeout`, a CI job's cancel) would leave behind.
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="klantmanagers")
    parser.add_argument("-k", "--respondents", type=int, default=100, help="concurrent respondents")
    parser.add_argument("-n", "--completes", type=int, help="completes to measure")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--seconds", type=float, help="seconds per baseline")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="after the closed loop, the same respondents pausing this many seconds on average"
        " on every page (0: no such run)",
    )
    parser.add_argument(
        "--paced-seconds", type=float, help="length of the paced run (10 s with --quick, else 60)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="closed-loop runs of Vakstem and the baselines, alternating; the medians are reported",
    )
    args = parser.parse_args()

    study_file = SHAPES[args.shape]
    study = load_study_file(study_file)
    pages = len(study.pages)
    completes = args.completes or (
        max(args.respondents, 2400 // pages)
        if args.quick
        else max(3 * args.respondents, 12000 // pages)
    )
    warm = min(args.respondents, 20)
    baseline_s = args.seconds or (4.0 if args.quick else 12.0)

    with tempfile.TemporaryDirectory(prefix="vakstem-bench-") as tmp:
        work = Path(tmp)
        pg_name = None
        if args.postgres:
            import psycopg

            pg_name = f"vakstem_bench_{uuid.uuid4().hex[:10]}"
            dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
            url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{pg_name}"
        else:
            url = f"sqlite:///{work / 'vakstem.db'}"
        try:
            _bench(args, study, study_file, url, work, completes, warm, baseline_s)
        finally:
            if pg_name is not None:
                import psycopg

                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def _bench(
    args: argparse.Namespace,
    study: Study,
    study_file: Path,
    url: str,
    work: Path,
    completes: int,
    warm: int,
    baseline_s: float,
) -> None:
    engine = open_database(url)
    try:
        load_study(engine, study, study_file.read_text(encoding="utf-8"))
        set_status(engine, study.id, "open")
    finally:
        engine.dispose()
    answers = answer_sets(study, warm + completes * args.repeat, args.seed)
    env = {
        **os.environ,
        "VAKSTEM_DATABASE_URL": url,
        "VAKSTEM_DATA_DIR": str(work),
        # Several workers must agree on the key that signs the forms' CSRF tokens.
        "VAKSTEM_SECRET_KEY": uuid.uuid4().hex,
        "BENCH_DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "bench"), os.environ.get("PYTHONPATH")])
        ),
    }
    log = work / "server.log"
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores"
        f" · load {load_average()}"
        f" · {'PostgreSQL' if args.postgres else 'SQLite'} · {args.workers} worker(s)"
        f" · database calls {os.environ.get('VAKSTEM_DATABASE_CALLS') or 'by backend'}"
        f" · {args.respondents} concurrent respondents · study {study.id}"
        f" ({len(study.pages)} pages) · {completes} completes"
    )
    serve = [str(BIN / "vakstem"), "serve", "--port", "{port}", "--workers", str(args.workers)]
    uvicorn = [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        "baseline_app:create_app",
        "--factory",
        "--port",
        "{port}",
        "--workers",
        str(args.workers),
        "--loop",
        SERVER_LOOP,
        "--http",
        SERVER_HTTP,
        "--timeout-worker-healthcheck",
        "60",
    ]
    if not args.skip_baselines:
        engine = open_database(url)
        try:
            from baseline_app import metadata

            metadata.create_all(engine)
        finally:
            engine.dispose()
    sample = answers[0]
    names = [n for n in sample if len(sample[n]) == 1][:10]
    form_body = [("_page", "pagina"), ("_csrf", "0" * 64)] + [(n, sample[n][0]) for n in names]
    form_bytes = urlencoded(form_body)
    base = ""

    async def post_form(session: aiohttp.ClientSession) -> int:
        async with session.post(base + "/form", data=form_bytes, headers=FORM_HEADERS) as got:
            await got.read()
            return int(got.status)

    async def get_hello(session: aiohttp.ClientSession) -> int:
        async with session.get(base + "/hello") as got:
            await got.read()
            return int(got.status)

    vak_runs: list[Run] = []
    form_runs: list[Run] = []
    hello_runs: list[Run] = []
    paced = Run()
    with contextlib.ExitStack() as servers:
        server = servers.enter_context(Server(serve, env, "/openapi.json", log))
        baseline = (
            None
            if args.skip_baselines
            else servers.enter_context(Server(uvicorn, env, "/hello", work / "baseline.log"))
        )
        asyncio.run(drive_respondents(server.base, study.id, answers[:warm], warm, warm, Run()))
        if baseline is not None:
            base = baseline.base
            asyncio.run(drive_requests(args.respondents, 1.0, post_form, Run()))
            asyncio.run(drive_requests(args.respondents, 1.0, get_hello, Run()))
        # With --repeat the three alternate, so a machine whose speed drifts (this one's did by
        # a quarter within an hour) moves them alike; the median run of each is reported.
        for rep in range(args.repeat):
            run = Run()
            first = warm + rep * completes
            server.measure(
                drive_respondents(
                    server.base,
                    study.id,
                    answers[first : first + completes],
                    args.respondents,
                    completes,
                    run,
                ),
                run,
            )
            vak_runs.append(run)
            if baseline is not None:
                form_runs.append(Run())
                baseline.measure(
                    drive_requests(args.respondents, baseline_s, post_form, form_runs[-1]),
                    form_runs[-1],
                )
                hello_runs.append(Run())
                baseline.measure(
                    drive_requests(args.respondents, baseline_s, get_hello, hello_runs[-1]),
                    hello_runs[-1],
                )
        vak = median_run(vak_runs)
        load_after = load_average()
        kb_max, heaviest, external = asyncio.run(page_weight(server.base, vak.pages))
        if args.think > 0:
            # The same respondents at a person's pace: latency as a respondent meets it.
            server.measure(
                drive_respondents(
                    server.base,
                    study.id,
                    answers[warm:],
                    args.respondents,
                    10**9,
                    paced,
                    think=args.think,
                    seconds=args.paced_seconds or (10.0 if args.quick else 60.0),
                ),
                paced,
            )
    form_run = median_run(form_runs) if form_runs else Run()
    hello_run = median_run(hello_runs) if hello_runs else Run()

    submits_s = len(vak.submits) / vak.seconds
    figures: dict[str, float | int | str] = {
        "shape": study.id,
        "backend": "postgresql" if args.postgres else "sqlite",
        "database_calls": os.environ.get("VAKSTEM_DATABASE_CALLS")
        or ("threads" if args.postgres else "inline"),
        "workers": args.workers,
        "respondents": args.respondents,
        "completes": vak.completes,
        "completes_per_s": vak.completes / vak.seconds,
        "submits_per_s": submits_s,
        "views_per_s": len(vak.views) / vak.seconds,
        "p50_ms": quantile_ms(vak.submits, 0.50),
        "p95_ms": quantile_ms(vak.submits, 0.95),
        "p99_ms": quantile_ms(vak.submits, 0.99),
        "view_p50_ms": quantile_ms(vak.views, 0.50),
        "view_p95_ms": quantile_ms(vak.views, 0.95),
        "view_p99_ms": quantile_ms(vak.views, 0.99),
        "errors": vak.errors + form_run.errors + hello_run.errors + paced.errors,
        # Server CPU per page submit, counting the page view that follows it.
        "cpu_ms_per_submit": 1000 * vak.server_cpu / max(1, len(vak.submits)),
        "cpu_ms_per_form_insert": 1000 * form_run.server_cpu / max(1, len(form_run.submits)),
        "cpu_ms_per_hello": 1000 * hello_run.server_cpu / max(1, len(hello_run.submits)),
        "client_cpu_share": vak.client_cpu / (vak.client_cpu + vak.server_cpu or 1),
        "form_insert_per_s": len(form_run.submits) / form_run.seconds if form_run.seconds else 0,
        "form_insert_p95_ms": quantile_ms(form_run.submits, 0.95),
        "hello_per_s": len(hello_run.submits) / hello_run.seconds if hello_run.seconds else 0,
        "hello_p95_ms": quantile_ms(hello_run.submits, 0.95),
        "page_kb_max": kb_max,
        "external_refs": len(external),
        "think_s": args.think,
        "paced_submits_per_s": len(paced.submits) / paced.seconds if paced.seconds else 0,
        "paced_p50_ms": quantile_ms(paced.submits, 0.50),
        "paced_p95_ms": quantile_ms(paced.submits, 0.95),
        "paced_p99_ms": quantile_ms(paced.submits, 0.99),
        "paced_errors": paced.errors,
        "load1": os.getloadavg()[0],
        "python_ms": python_ms(),
    }
    # Each repetition's ratio is of runs made side by side; the median of those is reported.
    figures["ratio_form_insert"] = median_ratio(vak_runs, form_runs)
    figures["ratio_hello"] = median_ratio(vak_runs, hello_runs)
    if args.repeat > 1:
        figures["repeat"] = args.repeat
        figures["submits_per_s_runs"] = "/".join(f"{rate(r):.1f}" for r in vak_runs)
        if form_runs:
            figures["form_insert_per_s_runs"] = "/".join(f"{rate(r):.1f}" for r in form_runs)
    if study.id == "matrix8x10":
        figures["ratio_limesurvey"] = submits_s / LIMESURVEY["submits_per_s"]

    print(f"\nVakstem ({vak.seconds:.1f} s, load after {load_after})")
    print(f"  completes        {vak.completes:>8d}   {figures['completes_per_s']:8.1f} /s")
    print(
        f"  page submits     {len(vak.submits):>8d}   {submits_s:8.1f} /s   "
        f"p50 {figures['p50_ms']:.1f} ms  p95 {figures['p95_ms']:.1f} ms  "
        f"p99 {figures['p99_ms']:.1f} ms"
    )
    print(
        f"  page views       {len(vak.views):>8d}   {figures['views_per_s']:8.1f} /s   "
        f"p50 {figures['view_p50_ms']:.1f} ms  p95 {figures['view_p95_ms']:.1f} ms  "
        f"p99 {figures['view_p99_ms']:.1f} ms"
    )
    print(f"  errors           {vak.errors:>8d}")
    print(
        f"  server CPU       {figures['cpu_ms_per_submit']:8.2f} ms per page submit and view "
        f"(load generator {vak.client_cpu:.1f} s, server {vak.server_cpu:.1f} s)"
    )
    for text in vak.error_samples:
        print(f"    {text}")
    if args.think > 0:
        print(
            f"  at a person's pace ({args.think:g} s per page on average, {args.respondents}"
            f" respondents): {len(paced.submits)} submits, "
            f"{figures['paced_submits_per_s']:.1f} /s, p50 {figures['paced_p50_ms']:.1f} ms"
            f"  p95 {figures['paced_p95_ms']:.1f} ms  p99 {figures['paced_p99_ms']:.1f} ms,"
            f" {paced.errors} errors"
        )
        for text in paced.error_samples:
            print(f"    {text}")
    if vak.errors or paced.errors:
        # What the server said about them (tracebacks and error lines of its log).
        said = log.read_text(encoding="utf-8", errors="replace").splitlines()
        for line in [x for x in said if "Error" in x or "Traceback" in x][-10:]:
            print(f"    server: {line[:300]}")
    print(f"  heaviest page    {kb_max:8.1f} kB with assets, as transferred ({heaviest})")
    print(f"  other hosts      {len(external):>8d}")
    for ref in external[:5]:
        print(f"    {ref}")
    if not args.skip_baselines:
        print("Baselines (bare Starlette, same uvicorn and workers, same generator)")
        print(
            f"  form + insert    {len(form_run.submits):>8d}   "
            f"{figures['form_insert_per_s']:8.1f} /s   "
            f"p95 {figures['form_insert_p95_ms']:.1f} ms   errors {form_run.errors}   "
            f"CPU {figures['cpu_ms_per_form_insert']:.2f} ms each"
        )
        print(
            f"  hello            {len(hello_run.submits):>8d}   {figures['hello_per_s']:8.1f} /s   "
            f"p95 {figures['hello_p95_ms']:.1f} ms   errors {hello_run.errors}   "
            f"CPU {figures['cpu_ms_per_hello']:.2f} ms each"
        )
        print(f"  page submits / form insert  {figures['ratio_form_insert']:.2f}")
        print(f"  page submits / hello        {figures['ratio_hello']:.2f}")
    if "ratio_limesurvey" in figures:
        print(f"  page submits / LimeSurvey 6.4.2 (39 /s)  {figures['ratio_limesurvey']:.1f}x")
    print(
        "RESULT "
        + " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
        )
    )


if __name__ == "__main__":
    main()
