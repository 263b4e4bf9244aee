"""The statements of a page submit on PostgreSQL, in-process: a page's answers inserted by
psycopg's `executemany` against Vakstem's `insert_rows` (one statement of many rows), and a
pooled connection handed out with SQLAlchemy's `pool_pre_ping` against Vakstem's engine (a
check only after a second idle).

    .venv/bin/python bench/pg_statements.py            # 10 answers a page, 2,000 pages
    .venv/bin/python bench/pg_statements.py --quick    # 500 pages

Needs PostgreSQL on 127.0.0.1:5432 (`VAKSTEM_TEST_POSTGRES_URL` to change), where it makes a
database of its own and drops it. CPU and wall milliseconds per page, each the best of three
rounds; the last line is `RESULT name=value ...`.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from machine import python_ms

from vakstem.store.engine import create_database_engine
from vakstem.store.prepared import Prepared
from vakstem.store.row_inserts import insert_rows

ADMIN_URL = os.environ.get(
    "VAKSTEM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
metadata = sa.MetaData()
answers = sa.Table(
    "bench_answers",
    metadata,
    sa.Column("response_id", sa.String(36), nullable=False),
    sa.Column("variable", sa.String(64), nullable=False),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("page_id", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def best_of_three(run: Callable[[], None], pages: int) -> tuple[float, float]:
    """CPU and wall milliseconds per page, the best of three rounds."""
    cpu = wall = float("inf")
    for _ in range(3):
        c0, w0 = time.process_time(), time.perf_counter()
        run()
        cpu = min(cpu, (time.process_time() - c0) * 1000 / pages)
        wall = min(wall, (time.perf_counter() - w0) * 1000 / pages)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--answers", type=int, default=10, help="answers per page")
    parser.add_argument("--quick", action="store_true", help="500 pages")
    args = parser.parse_args()
    pages = 500 if args.quick else args.pages

    name = f"vakstem_bench_{uuid.uuid4().hex[:10]}"
    dsn = ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    figures: dict[str, Any] = {"pages": pages, "answers": args.answers}
    try:
        engine = create_database_engine(url)
        pinging = sa.create_engine(
            sa.make_url(url), pool_pre_ping=True, pool_size=10, max_overflow=10
        )
        metadata.create_all(engine)
        now = datetime.now(UTC)
        rows = [
            {
                "response_id": "r" * 36,
                "variable": f"v{i}",
                "value": i % 5 + 1,
                "page_id": "p1",
                "updated_at": now,
            }
            for i in range(args.answers)
        ]
        single = Prepared(answers.insert())

        def per_row() -> None:
            # What `Prepared.execute_many` did on PostgreSQL before: the driver's executemany.
            for _ in range(pages):
                with engine.begin() as conn:
                    plan = single._plan(conn, rows[0])
                    values = single._many_values(plan, rows)
                    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    cursor.executemany(plan.sql, values)
                    cursor.close()

        def one_statement() -> None:
            for _ in range(pages):
                with engine.begin() as conn:
                    insert_rows(conn, answers, rows)

        def checkout(with_engine: sa.Engine) -> Callable[[], None]:
            def run() -> None:
                for _ in range(pages):
                    with with_engine.connect() as conn:
                        conn.connection.driver_connection.execute("SELECT 1").fetchone()  # type: ignore[union-attr]

            return run

        one_statement()  # warm up: plans, prepared statements on the server
        per_row()
        for label, run in [
            ("executemany", per_row),
            ("one_statement", one_statement),
            ("pre_ping", checkout(pinging)),
            ("idle_ping", checkout(engine)),
        ]:
            cpu, wall = best_of_three(run, pages)
            figures[f"{label}_cpu_ms"] = round(cpu, 3)
            figures[f"{label}_wall_ms"] = round(wall, 3)
            print(f"{label:14} {cpu:7.3f} ms CPU {wall:7.3f} ms wall per page")
        pinging.dispose()
        engine.dispose()
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    figures["python_ms"] = round(python_ms(), 1)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
