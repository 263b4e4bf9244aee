"""Inserting the rows of a page submit (its answers, its page events) with the least work per row.

A page stores ten or more answers. Through SQLAlchemy's `execute(table.insert(), rows)` each
row passes its statement machinery (parameter construction, per-row processing, result set-up)
at several times the cost of SQLite storing it; under load this was a fifth of the time a worker
held SQLite's write lock for a page. The rows go straight to the driver as a `Prepared` INSERT
(sqlite3's `executemany`; on PostgreSQL one statement of many rows, as psycopg's `executemany`
costs a statement per row), converted by the columns' own SQLAlchemy bind processors, so what is
stored is byte for byte what SQLAlchemy would store (tested on both databases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vakstem.store.prepared import Prepared

#: One prepared INSERT per table, per process.
_INSERTS: dict[sa.Table, Prepared] = {}


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (each with the same keys) into `table` within `conn`'s transaction."""
    if not rows:
        return
    prepared = _INSERTS.get(table)
    if prepared is None:
        prepared = _INSERTS[table] = Prepared(table.insert())
    prepared.execute_many(conn, rows)
