"""Statements of the respondent's hot path, compiled once and run on SQLite's driver directly.

SQLAlchemy's `Connection.execute` costs about 25 µs a statement on top of SQLite's own 5–10 µs
(cache-key generation, execution context, result set-up), and a page submit runs several. A
`Prepared` statement compiles its SQLAlchemy Core statement once per set of parameter names
and keeps each bind parameter's and each result column's own type processors, so values are
converted exactly as SQLAlchemy converts them (tested byte for byte against it). Only
SQLite takes the direct path; on PostgreSQL the statement goes through SQLAlchemy as before.

Statements with expanding parameters (`IN` lists) are refused: their SQL depends on the values.

SQLAlchemy begins a transaction on a connection's first statement; the driver does not. Inside
`write_transaction` (and `engine.begin()`) a prepared statement is part of the transaction as
any other. On a bare `engine.connect()` it runs on its own, so two reads there may see different
moments: fine for the single-row reads it is used for, and writes always run in a transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import UpdateBase

_Processor = Callable[[Any], Any] | None


@contextlib.contextmanager
def sqlalchemy_errors(sql: str, params: Any) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's (`IntegrityError`, `OperationalError`, …), as
    `Connection.execute` would, so callers catch one kind whichever path ran."""
    try:
        yield
    except sqlite3.Error as error:
        raise sa.exc.DBAPIError.instance(sql, params, error, sqlite3.Error) from error


def _row_type(names: list[str]) -> Any:
    """Rows with attributes by column name, as SQLAlchemy's rows have."""
    return namedtuple("PreparedRow", names)


class _Plan:
    """One compiled form of a statement: its SQL, the order of its parameters with their bind
    processors, and the result columns with their result processors."""

    __slots__ = ("binds", "names", "results", "row_type", "sql")

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...],
        binds: tuple[_Processor, ...],
        row_type: Any,
        results: tuple[_Processor, ...],
    ) -> None:
        self.sql = sql
        self.names = names
        self.binds = binds
        self.row_type = row_type
        self.results = results


class Prepared:
    """A Core statement run with the least work per call (see the module's docstring)."""

    def __init__(self, statement: sa.Select[Any] | UpdateBase) -> None:
        if any(bind.expanding for bind in statement.compile().binds.values()):
            raise ValueError("a prepared statement cannot have expanding parameters (IN lists)")
        self.statement = statement
        self._plans: dict[frozenset[str], _Plan] = {}

    def _plan(self, conn: Connection, keys: Iterable[str]) -> _Plan:
        key = frozenset(keys)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        dialect = conn.dialect
        statement = self.statement
        # An UPDATE or INSERT sets the columns named in the parameters (as SQLAlchemy does
        # when the parameters are given at execution).
        column_keys = sorted(key) if isinstance(statement, UpdateBase) else None
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        names = tuple(compiled.positiontup or ())
        binds = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        row_type: Any = None
        results: tuple[_Processor, ...] = ()
        if isinstance(statement, sa.Select):
            columns = list(statement.selected_columns.items())
            row_type = _row_type([name for name, _ in columns])
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for _, column in columns
            )
        plan = self._plans[key] = _Plan(str(compiled), names, binds, row_type, results)
        return plan

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        plan = self._plan(conn, params)
        values = tuple(
            value if process is None else process(value)
            for process, value in zip(plan.binds, (params[n] for n in plan.names), strict=True)
        )
        with sqlalchemy_errors(plan.sql, values):
            cursor = conn.connection.driver_connection.execute(plan.sql, values)  # type: ignore[union-attr]
        return plan, cursor

    def _row(self, plan: _Plan, raw: tuple[Any, ...]) -> Any:
        return plan.row_type._make(
            value if process is None else process(value)
            for process, value in zip(plan.results, raw, strict=True)
        )

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (attributes by column name), or None."""
        if conn.dialect.name != "sqlite":
            return conn.execute(self.statement, dict(params)).first()
        plan, cursor = self._run(conn, params)
        raw = cursor.fetchone()
        cursor.close()
        return None if raw is None else self._row(plan, raw)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row (attributes by column name)."""
        if conn.dialect.name != "sqlite":
            return list(conn.execute(self.statement, dict(params)).all())
        plan, cursor = self._run(conn, params)
        return [self._row(plan, raw) for raw in cursor.fetchall()]

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it touched."""
        if conn.dialect.name != "sqlite":
            return int(conn.execute(self.statement, dict(params)).rowcount)
        _, cursor = self._run(conn, params)
        count = int(cursor.rowcount)
        cursor.close()
        return count
