"""Pooled PostgreSQL connections are checked before use only after sitting idle: a connection
the server dropped while idle is replaced without the caller noticing, and one handed back a
moment ago goes out unchecked (a check is a round trip on every page under load)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa

from vakstem.settings import Settings
from vakstem.store import engine as engine_module
from vakstem.store.engine import create_database_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(database_on: Callable[[str], str]) -> Iterator[sa.Engine]:
    engine = create_database_engine(database_on("postgresql"))
    yield engine
    engine.dispose()


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _drop(admin_url: str, pid: int) -> None:
    """End a server process as a restart, a firewall or `idle_session_timeout` would."""
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        ended = conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    assert ended == (True,)


def test_a_connection_dropped_while_idle_is_replaced(
    engine: sa.Engine, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    _drop(postgres_admin_url, first)
    # Idle for longer than the limit (any time at all, here).
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", -1.0)
    second = _backend(engine)
    assert second != first


def test_a_connection_back_a_moment_ago_is_not_checked(
    engine: sa.Engine, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    _drop(postgres_admin_url, first)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    # Unchecked, the statement itself meets the dropped connection; SQLAlchemy then throws
    # the pool's connections away, so the next call gets a new one.
    with pytest.raises(sa.exc.OperationalError) as failed:
        _backend(engine)
    assert failed.value.connection_invalidated
    assert _backend(engine) != first


def test_a_prepared_statement_on_a_dropped_connection_gives_it_up(
    engine: sa.Engine, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The respondent's statements run on the driver directly (`Prepared`), outside SQLAlchemy's
    # own handling of a lost connection: the pool must still not hand the dead one out again
    # (its reset on return fails, and the pool discards it).
    from vakstem.store.prepared import Prepared

    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    pid = Prepared(sa.select(sa.func.pg_backend_pid().label("pid")))
    with engine.connect() as conn:
        first = pid.first(conn, {}).pid
    _drop(postgres_admin_url, first)
    with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
        pid.first(conn, {})
    with engine.connect() as conn:
        assert pid.first(conn, {}).pid != first


def test_reads_take_no_transaction_and_writes_after_them_still_do(engine: sa.Engine) -> None:
    # A read of one row needs no BEGIN and ROLLBACK around it (two round trips on every page
    # shown); the connection it used must go back to the pool transactional again.
    import psycopg.pq

    from vakstem.store.engine import read_connection, write_transaction

    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (n integer)")
    with read_connection(engine) as conn:
        first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        driver = conn.connection.driver_connection
        assert driver is not None
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == first
        conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        raise RuntimeError("undo the write")
    with read_connection(engine) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM probe").scalar_one() == 0


def _server_connections(admin_url: str, database: str) -> int:
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("connections", [1, 2, 5])
def test_the_engine_keeps_as_many_connections_as_set(
    database_on: Callable[[str], str], postgres_admin_url: str, connections: int
) -> None:
    """As many calls at once as connections kept leave that many open on the server after
    use; more open overflow connections that are closed again when handed back."""
    url = database_on("postgresql")
    database = sa.make_url(url).database
    assert database is not None
    engine = create_database_engine(url, connections=connections)
    try:
        held = [engine.connect() for _ in range(connections + 2)]
        for conn in held:
            conn.exec_driver_sql("SELECT 1")
        assert _server_connections(postgres_admin_url, database) == connections + 2
        for conn in held:
            conn.close()
        assert _server_connections(postgres_admin_url, database) == connections
        assert engine.pool.size() == connections  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_the_default_is_two_kept_connections(database_on: Callable[[str], str]) -> None:
    # The setting repeats the engine's default: importing either module from the other would
    # cost each of them the other's imports (about 0.2 s), so the two are held equal here.
    assert Settings().database_connections == engine_module.DEFAULT_CONNECTIONS
    engine = create_database_engine(database_on("postgresql"))
    try:
        assert engine.pool.size() == engine_module.DEFAULT_CONNECTIONS == 2  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_no_connections_is_a_clear_error(database_on: Callable[[str], str]) -> None:
    with pytest.raises(engine_module.DatabaseError, match="at least one connection, not 0"):
        create_database_engine(database_on("postgresql"), connections=0)
