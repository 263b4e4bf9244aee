"""The web app's own CPU per request, without HTTP: respondents driven one at a time through a
study by calling the ASGI app in this process (no uvicorn, no sockets, no other requests
competing), so the figure hardly moves between runs and isolates what Vakstem itself spends on
a page (a submit's transaction, validation, rendering, routing, middleware).

    .venv/bin/python bench/app_steps.py                       # matrix8x10, 150 respondents
    .venv/bin/python bench/app_steps.py --shape klantmanagers -n 100
    .venv/bin/python bench/app_steps.py --quick

Use it to compare two versions of the code (`PYTHONPATH=<other tree>/src` for the other one);
`bench/respondents.py` measures the whole server under load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from machine import python_ms
from respondents import SHAPES, Answers, answer_sets, client_address, parse_form
from starlette.types import ASGIApp as App
from starlette.types import Message

from vakstem.instrument.loader import load_study_file
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.web.app import create_app

#: Warm-up respondents, not measured (templates compiled, caches filled).
WARM = 10


async def call(
    app: App, method: str, target: str, body: bytes = b"", client: str = "127.0.0.1"
) -> tuple[int, dict[bytes, bytes], str]:
    """One request through the ASGI app as a browser without JavaScript would send it."""
    path, _, query = target.partition("?")
    headers = [(b"host", b"127.0.0.1:8000"), (b"accept-language", b"nl")]
    if method == "POST":
        headers += [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": urllib.parse.unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": (client, 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    status, response_headers, chunks = 0, dict[bytes, bytes](), list[bytes]()

    async def send(message: Message) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status, response_headers = message["status"], dict(message["headers"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, response_headers, b"".join(chunks).decode("utf-8")


async def respondent(app: App, study_id: str, index: int, answers: Answers) -> int:
    """One response from the anonymous link to the closing page; the number of requests."""
    client = client_address(index)
    target, page, requests = f"/s/{study_id}", "", 0
    while True:
        if target:
            status, _headers, page = await call(app, "GET", target, client=client)
            requests += 1
            if status != 200:
                raise SystemExit(f"GET {target}: {status}")
        form = parse_form(page)
        if form is None:
            return requests
        action, hidden, names = form
        fields = hidden + [(name, value) for name in names for value in answers.get(name, [])]
        body = urllib.parse.urlencode(fields).encode()
        status, headers, reply = await call(app, "POST", action, body, client=client)
        requests += 1
        if status == 200:
            page, target = reply, ""
        elif status == 303:
            target = headers[b"location"].decode()
        else:
            raise SystemExit(f"POST {action}: {status}\n{reply[:400]}")


async def measure(app: App, study_id: str, answers: list[Answers]) -> tuple[int, float, float]:
    for i in range(WARM):
        await respondent(app, study_id, i, answers[i])
    cpu, wall, requests = time.process_time(), time.perf_counter(), 0
    for i in range(WARM, len(answers)):
        requests += await respondent(app, study_id, i, answers[i])
    return requests, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="matrix8x10")
    parser.add_argument("-n", "--respondents", type=int, help="respondents measured")
    parser.add_argument("--quick", action="store_true", help="fewer respondents")
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    n = args.respondents or (40 if args.quick else 150)

    study_file = SHAPES[args.shape]
    study = load_study_file(study_file)
    with tempfile.TemporaryDirectory(prefix="vakstem-steps-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'vakstem.db'}"
        engine = open_database(url)
        load_study(engine, study, study_file.read_text(encoding="utf-8"))
        set_status(engine, study.id, "open")
        settings = Settings(database_url=url, data_dir=Path(tmp), secret_key=uuid.uuid4().hex)
        app = create_app(settings, engine)
        answers = answer_sets(study, WARM + n, args.seed)
        requests, cpu, wall = asyncio.run(measure(app, study.id, answers))
        engine.dispose()
    cpu_ms, wall_ms = cpu / requests * 1000, wall / requests * 1000
    print(
        f"{study.id}: {n} respondents, {requests} requests (page views and submits) in process,"
        f" one at a time; {cpu_ms:.3f} ms CPU and {wall_ms:.3f} ms wall per request"
        f" (load {os.getloadavg()[0]:.2f})"
    )
    print(
        f"RESULT shape={study.id} respondents={n} requests={requests}"
        f" cpu_ms_per_request={cpu_ms:.4g} wall_ms_per_request={wall_ms:.4g}"
        f" python_ms={python_ms()}"
    )


if __name__ == "__main__":
    main()
