"""`Prepared` statements read and write exactly what SQLAlchemy reads and writes: they run on the
driver (sqlite3, psycopg) with the columns' own bind and result processors, and the driver's
errors arrive as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from vakstem.store.engine import create_database_engine, write_transaction
from vakstem.store.prepared import Prepared
from vakstem.store.row_inserts import insert_rows
from vakstem.store.tables import Json, UTCDateTime

metadata = sa.MetaData()
probe = sa.Table(
    "prepared_probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", Json, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=True),
    sa.Column("flag", sa.Boolean, nullable=True),
    sa.Column("big", sa.BigInteger, nullable=True),
)

AMSTERDAM = timezone(timedelta(hours=1))
AT = datetime(2026, 11, 27, 17, 30, 1, 123456, tzinfo=AMSTERDAM)
VALUES: list[Any] = [
    3,
    0.30000000000000004,
    -0.0,
    "tekst met 'quotes', é 😀 \x1f",
    [1, 4, 8],
    True,
    None,
    {"a": [1, 2]},
]


def _rows(start: int) -> list[dict[str, Any]]:
    return [
        {
            "id": start + i,
            "name": f"v{i}",
            "value": value,
            "at": AT if i % 3 else None,
            "flag": None if i == 4 else i % 2 == 0,
            "big": 2**62 - i,
        }
        for i, value in enumerate(VALUES)
    ]


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = create_database_engine(database_url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


def _stored(conn: sa.Connection, row_id: int) -> tuple[Any, ...]:
    if conn.dialect.name == "sqlite":
        query = (
            "SELECT name, typeof(value), value, typeof(at), at, typeof(flag), flag, big "
            "FROM prepared_probe WHERE id = ?"
        )
        return tuple(conn.exec_driver_sql(query, (row_id,)).one())
    query = "SELECT name, value::text, at, flag, big FROM prepared_probe WHERE id = %(id)s"
    return tuple(conn.exec_driver_sql(query, {"id": row_id}).one())


def test_a_prepared_select_reads_what_sqlalchemy_reads(engine: sa.Engine) -> None:
    select = (
        sa.select(probe, sa.true().label("always"))
        .where(probe.c.id >= sa.bindparam("low"))
        .order_by(probe.c.id)
    )
    prepared = Prepared(select)
    with write_transaction(engine) as conn:
        conn.execute(probe.insert(), _rows(0))
    with engine.connect() as conn:
        reference = conn.execute(select, {"low": 0}).all()
        rows = prepared.all(conn, {"low": 0})
        first = prepared.first(conn, {"low": 5})
        nothing = prepared.first(conn, {"low": 100})
    assert len(rows) == len(VALUES)
    assert [tuple(r) for r in rows] == [tuple(r) for r in reference]
    # Converted, not merely equal: JSON decoded, aware datetimes, booleans rather than 0 and 1.
    assert [row.value for row in rows] == VALUES
    assert [type(row.flag) for row in rows] == [type(row.flag) for row in reference]
    assert {row.at for row in rows if row.at is not None} == {AT.astimezone(UTC)}
    assert [row.at and row.at.tzinfo for row in rows] == [r.at and r.at.tzinfo for r in reference]
    assert all(row.always is True for row in rows)
    assert first is not None and first.id == 5 and first.name == "v5"
    assert nothing is None


def test_a_prepared_update_stores_what_sqlalchemy_stores(engine: sa.Engine) -> None:
    update = probe.update().where(probe.c.id == sa.bindparam("row_id"))
    prepared = Prepared(update)
    with write_transaction(engine) as conn:
        conn.execute(probe.insert(), _rows(0) + _rows(100))
    changes: list[dict[str, Any]] = [
        {"name": "nieuw 'x' 😀"},
        {"value": 0.1 + 0.2, "at": AT + timedelta(days=1), "flag": False},
        {"value": {"b": None, "c": [True, "é"]}, "big": -(2**62)},
        {"value": None, "at": None, "flag": None},
    ]
    for i, change in enumerate(changes):
        with write_transaction(engine) as conn:
            conn.execute(update, {"row_id": i, **change})
            assert prepared.execute(conn, {"row_id": 100 + i, **change}) == 1
            assert prepared.execute(conn, {"row_id": 999, **change}) == 0
        with engine.connect() as conn:
            assert _stored(conn, 100 + i) == _stored(conn, i)
            assert _stored(conn, 100 + i) != _stored(conn, 100 + i + 1)


def test_driver_errors_arrive_as_sqlalchemy_errors(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        insert_rows(conn, probe, _rows(0)[:1])
    with pytest.raises(sa.exc.IntegrityError), write_transaction(engine) as conn:
        insert_rows(conn, probe, _rows(0)[:1])
    update = Prepared(probe.update().where(probe.c.id == sa.bindparam("row_id")))
    with pytest.raises(sa.exc.IntegrityError), write_transaction(engine) as conn:
        update.execute(conn, {"row_id": 0, "name": None})
    with pytest.raises(sa.exc.DBAPIError), engine.connect() as conn:
        Prepared(sa.select(sa.literal_column("no_such_column"))).first(conn, {})
    with engine.connect() as conn:
        assert _stored(conn, 0)[0] == "v0"  # nothing was changed by the failed statements


def test_expanding_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="expanding"):
        Prepared(sa.select(probe).where(probe.c.id.in_(sa.bindparam("ids", expanding=True))))


def test_a_value_bound_without_a_name_is_refused_by_name(engine: sa.Engine) -> None:
    # A literal SQLAlchemy binds itself gets a name (param_1) no caller can give: say so,
    # rather than fail with a KeyError. SQLite's SQL binds an OFFSET to a LIMIT of its own.
    select = sa.select(probe.c.id).where(probe.c.name == "v0")
    limited = sa.select(probe.c.id).limit(sa.literal_column("5", sa.Integer))
    with engine.connect() as conn:
        with pytest.raises(ValueError, match=r"\['name_1'\] that were not given"):
            Prepared(select).all(conn, {})
        if conn.dialect.name == "sqlite":
            with pytest.raises(ValueError, match="param_1"):
                Prepared(limited).all(conn, {})
        else:
            assert Prepared(limited).all(conn, {}) == []
