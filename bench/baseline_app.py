"""The baselines of `bench/respondents.py`: a bare Starlette app with the least a survey server
must do per page, served by uvicorn like `vakstem serve` and driven by the same load generator.

    POST /form   parse an urlencoded form and insert it as one row, in its own transaction, into
                 the same kind of database with Vakstem's connection settings (SQLite: WAL,
                 synchronous=FULL, BEGIN IMMEDIATE; PostgreSQL through psycopg 3), called
                 the way Vakstem's pages call their database (`vakstem.web.database_calls`:
                 inline on SQLite, in the thread pool on PostgreSQL, or as
                 `VAKSTEM_DATABASE_CALLS` says)
    GET  /hello  a constant text: the ceiling of the server stack itself

Run as `uvicorn baseline_app:create_app --factory` with `BENCH_DATABASE_URL` set.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qsl

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from vakstem.store.engine import create_database_engine, write_transaction
from vakstem.web.database_calls import DatabaseCalls, default_mode

metadata = sa.MetaData()
rows = sa.Table(
    "bench_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("body", sa.Text, nullable=False),
)


def create_app() -> Starlette:
    # The table is created by the benchmark before the workers start, so they cannot race.
    engine = create_database_engine(os.environ["BENCH_DATABASE_URL"])
    mode = os.environ.get("VAKSTEM_DATABASE_CALLS") or default_mode(engine)
    if mode not in ("inline", "threads"):
        raise SystemExit(f"VAKSTEM_DATABASE_CALLS: inline or threads, not {mode!r}")
    call = DatabaseCalls("inline" if mode == "inline" else "threads")

    def insert(body: str) -> None:
        with write_transaction(engine) as conn:
            conn.execute(rows.insert().values(body=body))

    async def form(request: Request) -> Response:
        fields = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
        await call(insert, json.dumps(fields))
        return PlainTextResponse("opgeslagen")

    async def hello(_request: Request) -> Response:
        return PlainTextResponse("hallo")

    return Starlette(routes=[Route("/form", form, methods=["POST"]), Route("/hello", hello)])
