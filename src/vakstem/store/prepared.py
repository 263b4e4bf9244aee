"""Statements of the respondent's hot path, compiled once and run on the database driver directly.

SQLAlchemy's `Connection.execute` costs about 25 µs a statement on top of SQLite's own 5–10 µs
(cache-key generation, execution context, result set-up), and about 90 µs with psycopg; a page
submit runs several. A `Prepared` statement compiles its SQLAlchemy Core statement once per set
of parameter names and keeps each bind parameter's and each result column's own type
processors, so values are converted exactly as SQLAlchemy converts them (tested byte for byte
against it on both databases), and the driver's errors are raised as SQLAlchemy's. SQLite
(sqlite3) and PostgreSQL through psycopg take the direct path; any other driver goes through
SQLAlchemy.

Statements with expanding parameters (`IN` lists) are refused: their SQL depends on the values.

SQLAlchemy begins a transaction on a connection's first statement; sqlite3, which Vakstem runs
in autocommit mode, does not (psycopg does, and SQLAlchemy's pool rolls it back on return).
Inside `write_transaction` (and `engine.begin()`) a prepared statement is part of the
transaction as any other. On a bare `engine.connect()` on SQLite it runs on its own, so two
reads there may see different moments: fine for the single-row reads it is used for, and
writes always run in a transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import UpdateBase

_Processor = Callable[[Any], Any] | None


#: (dialect, driver) pairs whose driver connection runs the compiled SQL directly.
_DIRECT = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}
#: Rows per INSERT statement of `execute_many` on PostgreSQL (a statement is compiled per count
#: up to this, so their number stays bounded).
MULTI_ROW_CHUNK = 64


@contextlib.contextmanager
def sqlalchemy_errors(
    sql: str, params: Any, base: type[Exception] = sqlite3.Error
) -> Iterator[None]:
    """Raise the driver's errors (subclasses of its DBAPI `base`) as SQLAlchemy's
    (`IntegrityError`, `OperationalError`, …), as `Connection.execute` would, so callers catch
    one kind whichever path ran."""
    try:
        yield
    except base as error:
        raise sa.exc.DBAPIError.instance(sql, params, error, base) from error


def _direct(conn: Connection) -> bool:
    return (conn.dialect.name, conn.dialect.driver) in _DIRECT


def _row_type(names: list[str]) -> Any:
    """Rows with attributes by column name, as SQLAlchemy's rows have."""
    return namedtuple("PreparedRow", names)


class _Plan:
    """One compiled form of a statement: its SQL, the order of its parameters with their bind
    processors, and the result columns with their result processors."""

    __slots__ = ("binds", "error", "named", "names", "results", "row_type", "sql")

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...],
        named: bool,
        binds: tuple[_Processor, ...],
        row_type: Any,
        results: tuple[_Processor, ...],
        error: type[Exception],
    ) -> None:
        self.sql = sql
        self.names = names
        #: Parameters by name (psycopg's `%(name)s`) rather than by position (sqlite3's `?`).
        self.named = named
        self.binds = binds
        self.row_type = row_type
        self.results = results
        self.error = error


class Prepared:
    """A Core statement run with the least work per call (see the module's docstring)."""

    def __init__(self, statement: sa.Select[Any] | UpdateBase) -> None:
        if any(bind.expanding for bind in statement.compile().binds.values()):
            raise ValueError("a prepared statement cannot have expanding parameters (IN lists)")
        self.statement = statement
        # Per dialect too: tests (and tools) use one statement on SQLite and PostgreSQL.
        self._plans: dict[tuple[str, frozenset[str]], _Plan] = {}
        self._multi_rows: dict[tuple[tuple[str, ...], int], Prepared] = {}

    def _plan(self, conn: Connection, keys: Iterable[str]) -> _Plan:
        dialect = conn.dialect
        names_given = frozenset(keys)
        key = (dialect.name, names_given)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        statement = self.statement
        # An UPDATE or INSERT sets the columns named in the parameters (as SQLAlchemy does
        # when the parameters are given at execution).
        column_keys = sorted(names_given) if isinstance(statement, UpdateBase) else None
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        named = compiled.positiontup is None
        names = tuple(compiled.binds) if named else tuple(compiled.positiontup or ())
        # (psycopg's compiled form keeps each anonymous name's template beside its name.)
        unknown = sorted(n for n in set(names) - names_given if not n.startswith("%("))
        if unknown:
            # A value SQLAlchemy bound itself (`param_1`: a literal in a comparison, or a LIMIT
            # on SQLite) has no name the caller can give.
            raise ValueError(
                f"prepared statement needs parameters {unknown} that were not given; "
                "name every value with sa.bindparam"
            )
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
        error = dialect.loaded_dbapi.Error
        plan = _Plan(str(compiled), names, named, binds, row_type, results, error)
        self._plans[key] = plan
        return plan

    def _multi_row(self, keys: tuple[str, ...], count: int) -> Prepared:
        """This INSERT with `count` rows of VALUES, parameter `{key}_{i}` for row i's `key`.

        psycopg's `executemany` sends and converts a statement per row in Python: a page of ten
        answers in its own transaction took 0.80 ms of CPU and 1.19 ms of wall time, against
        0.54 and 1.04 ms as one statement (`bench/pg_statements.py`)."""
        cached = self._multi_rows.get((keys, count))
        if cached is not None:
            return cached
        insert = self.statement
        assert isinstance(insert, sa.Insert)
        columns = insert.table.c
        rows = [
            {key: sa.bindparam(f"{key}_{i}", type_=columns[key].type) for key in keys}
            for i in range(count)
        ]
        prepared = self._multi_rows[(keys, count)] = Prepared(insert.values(rows))
        return prepared

    def _values(self, plan: _Plan, params: Mapping[str, Any]) -> Any:
        """`params` converted by their bind processors, by name or in order as the driver wants."""
        converted = (
            value if process is None else process(value)
            for process, value in zip(plan.binds, (params[n] for n in plan.names), strict=True)
        )
        return dict(zip(plan.names, converted, strict=True)) if plan.named else tuple(converted)

    def _many_values(self, plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Every row's parameters converted a column at a time: each processor is mapped over
        its column, and called once for a column holding one object throughout (a page's
        answers share their page and their time). Row by row, the conversion took a tenth of
        a worker's busy time under load."""
        if not plan.names:
            return [{} if plan.named else ()] * len(rows)
        columns: list[list[Any]] = []
        for name, process in zip(plan.names, plan.binds, strict=True):
            column = [row[name] for row in rows]
            if process is not None:
                first = column[0]
                # The same object, not equal ones: 1 and True are equal but stored apart.
                if len(set(map(id, column))) == 1:
                    column = [process(first)] * len(column)
                else:
                    column = list(map(process, column))
            columns.append(column)
        if plan.named:
            names = plan.names
            return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        return list(zip(*columns, strict=True))

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        plan = self._plan(conn, params)
        values = self._values(plan, params)
        with sqlalchemy_errors(plan.sql, values, plan.error):
            cursor = conn.connection.driver_connection.execute(plan.sql, values)  # type: ignore[union-attr]
        return plan, cursor

    def _row(self, plan: _Plan, raw: tuple[Any, ...]) -> Any:
        return plan.row_type._make(
            value if process is None else process(value)
            for process, value in zip(plan.results, raw, strict=True)
        )

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (attributes by column name), or None."""
        if not _direct(conn):
            return conn.execute(self.statement, dict(params)).first()
        plan, cursor = self._run(conn, params)
        raw = cursor.fetchone()
        cursor.close()
        return None if raw is None else self._row(plan, raw)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row (attributes by column name)."""
        if not _direct(conn):
            return list(conn.execute(self.statement, dict(params)).all())
        plan, cursor = self._run(conn, params)
        return [self._row(plan, raw) for raw in cursor.fetchall()]

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it touched."""
        if not _direct(conn):
            return int(conn.execute(self.statement, dict(params)).rowcount)
        _, cursor = self._run(conn, params)
        count = int(cursor.rowcount)
        cursor.close()
        return count

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run an INSERT or UPDATE once per row (each with the same keys), in one driver call;
        an INSERT on PostgreSQL as one statement of many rows (`_multi_row`)."""
        if not rows:
            return
        if not _direct(conn):
            conn.execute(self.statement, [dict(row) for row in rows])
            return
        if conn.dialect.name == "postgresql" and isinstance(self.statement, sa.Insert):
            keys = tuple(rows[0])
            for start in range(0, len(rows), MULTI_ROW_CHUNK):
                chunk = rows[start : start + MULTI_ROW_CHUNK]
                params = {f"{key}_{i}": row[key] for i, row in enumerate(chunk) for key in keys}
                self._multi_row(keys, len(chunk)).execute(conn, params)
            return
        plan = self._plan(conn, rows[0])
        values = self._many_values(plan, rows)
        with sqlalchemy_errors(plan.sql, values, plan.error):
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(plan.sql, values)
            finally:
                cursor.close()
