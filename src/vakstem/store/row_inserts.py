"""Inserting the rows of a page submit (its answers, its page events) with the least work per row.

A page stores ten or more answers. Through SQLAlchemy's `execute(table.insert(), rows)` each
row passes its statement machinery (parameter construction, per-row processing, result set-up)
at several times the cost of SQLite storing it; under load this was a fifth of the time a worker
held SQLite's write lock for a page. On SQLite the rows go straight to the driver's
`executemany`, converted by the columns' own SQLAlchemy bind processors, so what is stored is
byte for byte what SQLAlchemy would store (tested). PostgreSQL goes through SQLAlchemy as
before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vakstem.store.prepared import sqlalchemy_errors

_Processor = Callable[[Any], Any] | None
#: (table, column names) -> the SQL and each column's bind processor, per process.
_PLANS: dict[tuple[sa.Table, tuple[str, ...]], tuple[str, tuple[_Processor, ...]]] = {}


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (each with the same keys) into `table` within `conn`'s transaction."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), list(rows))
        return
    names = tuple(rows[0])
    plan = _PLANS.get((table, names))
    if plan is None:
        columns = [table.c[name] for name in names]
        quoted = ", ".join(f'"{c.name}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'
        processors: tuple[_Processor, ...] = tuple(
            c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns
        )
        plan = _PLANS[(table, names)] = (sql, processors)
    sql, processors = plan
    params = [
        tuple(
            value if process is None else process(value)
            for process, value in zip(processors, (row[name] for name in names), strict=True)
        )
        for row in rows
    ]
    with sqlalchemy_errors(sql, params):
        conn.connection.driver_connection.executemany(sql, params)  # type: ignore[union-attr]
