"""`insert_rows` stores exactly what SQLAlchemy's own INSERT stores: on SQLite the rows go to the
driver's executemany with the columns' bind processors, and the stored bytes and storage classes
must not differ from SQLAlchemy's in any column type a page submit writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from vakstem.store.engine import create_database_engine, write_transaction
from vakstem.store.row_inserts import insert_rows
from vakstem.store.tables import Json, UTCDateTime

metadata = sa.MetaData()
rows_table = sa.Table(
    "row_insert_probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", Json, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("flag", sa.Boolean, nullable=True),
)

AMSTERDAM = timezone(timedelta(hours=1))
VALUES: list[Any] = [
    3,
    0.30000000000000004,
    38.123456789012344,
    7.0,
    -0.0,
    2**62,
    "tekst met 'quotes' en \"dubbele\", é 😀 \x1f",
    [1, 4, 8],
    [],
    True,
    None,
    {"a": [1, 2]},
]


def _rows(start: int) -> list[dict[str, Any]]:
    at = datetime(2026, 11, 27, 17, 30, 1, 123456, tzinfo=AMSTERDAM)
    return [
        {"id": start + i, "name": f"v{i}", "value": value, "at": at, "flag": i % 2 == 0}
        for i, value in enumerate(VALUES)
    ]


def _stored(conn: sa.Connection, first: int) -> list[tuple[Any, ...]]:
    if conn.dialect.name == "sqlite":
        query = (
            "SELECT name, typeof(value), value, typeof(at), at, typeof(flag), flag "
            "FROM row_insert_probe WHERE id >= ? AND id < ? ORDER BY id"
        )
        return [tuple(row) for row in conn.exec_driver_sql(query, (first, first + len(VALUES)))]
    query = (
        "SELECT name, value::text, at, flag FROM row_insert_probe "
        "WHERE id >= %(a)s AND id < %(b)s ORDER BY id"
    )
    rows = conn.exec_driver_sql(query, {"a": first, "b": first + len(VALUES)})
    return [tuple(row) for row in rows]


def test_rows_are_stored_as_sqlalchemy_stores_them(database_url: str) -> None:
    engine = create_database_engine(database_url)
    metadata.create_all(engine)
    try:
        with write_transaction(engine) as conn:
            conn.execute(rows_table.insert(), _rows(0))
            insert_rows(conn, rows_table, _rows(100))
            insert_rows(conn, rows_table, [])  # nothing to store: no statement
        with engine.connect() as conn:
            reference, fast = _stored(conn, 0), _stored(conn, 100)
            assert len(reference) == len(VALUES)
            assert fast == reference
            read = conn.execute(
                sa.select(rows_table.c.value, rows_table.c.at)
                .where(rows_table.c.id >= 100)
                .order_by(rows_table.c.id)
            ).all()
        assert [row.value for row in read] == VALUES
        assert {row.at for row in read} == {datetime(2026, 11, 27, 16, 30, 1, 123456, tzinfo=UTC)}
    finally:
        engine.dispose()


def test_equal_values_of_other_types_are_stored_apart(database_url: str) -> None:
    # Parameters are converted a column at a time, and once for a column holding one object
    # throughout (a page's rows share their time): 1, True and 1.0 are equal in Python, but
    # each must be stored as SQLAlchemy stores it (SQLite's affinity keeps 1.0 as 1).
    engine = create_database_engine(database_url)
    metadata.create_all(engine)
    at = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
    same = [1, True, 1.0, True]  # all equal to 1

    def rows(start: int) -> list[dict[str, Any]]:
        return [
            {"id": start + i, "name": "gelijk", "value": v, "at": at, "flag": True}
            for i, v in enumerate(same)
        ]

    def stored(conn: sa.Connection, start: int) -> list[tuple[Any, ...]]:
        query = (
            sa.select(sa.cast(rows_table.c.value, sa.Text), rows_table.c.at, rows_table.c.flag)
            .where(rows_table.c.id.between(start, start + len(same) - 1))
            .order_by(rows_table.c.id)
        )
        return [tuple(row) for row in conn.execute(query)]

    try:
        with write_transaction(engine) as conn:
            conn.execute(rows_table.insert(), rows(300))
            insert_rows(conn, rows_table, rows(200))
        with engine.connect() as conn:
            fast, reference = stored(conn, 200), stored(conn, 300)
            values = conn.execute(
                sa.select(rows_table.c.value).where(rows_table.c.id >= 200).order_by("id")
            ).scalars()
            read = list(values)[: len(same)]
        assert fast == reference
        assert [type(v) for v in read] == [int, bool, type(read[2]), bool]
    finally:
        engine.dispose()


serial_table = sa.Table(
    "row_insert_serial_probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", Json, nullable=True),
)


def test_many_rows_are_stored_in_order_and_in_full(database_url: str) -> None:
    # On PostgreSQL an INSERT of many rows is one statement of up to MULTI_ROW_CHUNK rows:
    # more rows than that take several statements (each count compiled once), and the ids
    # the database gives follow the rows' order, as the page events rely on.
    from vakstem.store.prepared import MULTI_ROW_CHUNK

    engine = create_database_engine(database_url)
    metadata.create_all(engine)
    counts = [1, 2, MULTI_ROW_CHUNK, 2 * MULTI_ROW_CHUNK + 5, 2]
    try:
        expected: list[tuple[str, Any]] = []
        with write_transaction(engine) as conn:
            for batch, count in enumerate(counts):
                rows = [
                    {"name": f"b{batch}-r{i}", "value": VALUES[(batch + i) % len(VALUES)]}
                    for i in range(count)
                ]
                insert_rows(conn, serial_table, rows)
                expected += [(row["name"], row["value"]) for row in rows]
        with engine.connect() as conn:
            stored = conn.execute(
                sa.select(serial_table.c.name, serial_table.c.value).order_by(serial_table.c.id)
            ).all()
        assert [tuple(row) for row in stored] == expected
    finally:
        engine.dispose()
