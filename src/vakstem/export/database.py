"""Reading responses for an export from the store, a chunk at a time.

Responses are read in pages of `chunk_size` by keyset (started_at, id), with the answers of each
page fetched in one query, all inside one read transaction so the export is a consistent
snapshot even while fieldwork goes on. Memory holds one page of responses, never the study.
Responses a researcher excluded in the console (`response_exclusions`) are left out unless the
options ask to keep them; then each carries its reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vakstem.export.missing import ExportError
from vakstem.export.table import ExportOptions, ResponseRecord
from vakstem.instrument.schema import Study
from vakstem.service import bots
from vakstem.service.types import StudyNotFound
from vakstem.store.accounts import response_exclusions
from vakstem.store.prepared import Prepared
from vakstem.store.studies import StoredStudy, get_study, get_version
from vakstem.store.tables import responses

DEFAULT_CHUNK = 2_000
_UNSEEN = object()


@dataclass(frozen=True)
class ExportSource:
    """A study in the store, with the versions its exported responses were given."""

    engine: Engine
    stored: StoredStudy
    #: Hash → model of every version that exported responses refer to.
    versions: dict[str, Study]

    @property
    def study(self) -> Study:
        return self.stored.study


def open_source(engine: Engine, study_id: str, options: ExportOptions) -> ExportSource:
    """The study to export; an unknown id gives an `ExportError` naming it."""
    try:
        stored = get_study(engine, study_id)
    except StudyNotFound:
        raise ExportError(f"no study {study_id!r} in this database") from None
    with engine.connect() as conn:
        hashes = conn.execute(
            sa.select(responses.c.version_hash).where(_filters(study_id, options)).distinct()
        ).scalars()
        versions = {h: get_version(engine, study_id, h) for h in hashes}
    versions.setdefault(stored.version_hash, stored.study)
    return ExportSource(engine, stored, versions)


def _is_excluded() -> sa.Exists:
    return sa.exists().where(response_exclusions.c.response_id == responses.c.id)


def _filters(
    study_id: str, options: ExportOptions, *, apply_exclusions: bool = True
) -> sa.ColumnElement[bool]:
    # Named parameters (with their values), so the page query can run as a `Prepared` one.
    condition = responses.c.study_id == sa.bindparam("study_id", study_id)
    if options.completed_only:
        condition = condition & (responses.c.status == sa.bindparam("completed", "completed"))
    if not options.include_test:
        condition = condition & (responses.c.is_test == sa.false())
    if apply_exclusions and not options.include_excluded:
        condition = condition & ~_is_excluded()
    return condition


def count_excluded(engine: Engine, study_id: str, options: ExportOptions) -> int:
    """How many responses the other filters of `options` take that a researcher excluded in
    the console: the number an export with these options leaves out for that reason."""
    where = _filters(study_id, options, apply_exclusions=False) & _is_excluded()
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(where)).scalar_one())


def _text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A JSON column as its text (parsed by `ResponseReader._json`, not per row), labelled
    with its own name."""
    return sa.cast(column, sa.Text).label(column.key)


def _copy(pages: list[str] | None) -> list[str] | None:
    return None if pages is None else list(pages)


def _snapshot(engine: Engine) -> Connection:
    conn = engine.connect()
    if conn.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


class ResponseReader:
    """Counts and reads the responses an export takes, in one snapshot."""

    def __init__(
        self, source: ExportSource, options: ExportOptions, chunk_size: int = DEFAULT_CHUNK
    ) -> None:
        self.source = source
        self.options = options
        self.chunk_size = chunk_size
        self._conn: Connection | None = None
        self._parsed: dict[str, Any] = {}
        self._strings: dict[str, str] = {}
        self._pages: dict[bool, Prepared] = {}

    def __enter__(self) -> ResponseReader:
        self._conn = _snapshot(self.source.engine)
        self._conn.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.rollback()
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("use ResponseReader as a context manager")
        return self._conn

    def _shared(self, text: str) -> str:
        """One string object per distinct value of a repetitive column (a version hash, a
        language), instead of one per response."""
        return self._strings.setdefault(text, text)

    def _json(self, text: str | None) -> Any:
        """A JSON text of a response (its path, its flags) parsed once per distinct text: the
        paths of completed responses are mostly the same list of pages. Callers copy what
        they keep."""
        if text is None:
            return None
        value = self._parsed.get(text, _UNSEEN)
        if value is _UNSEEN:
            value = json.loads(text)
            if len(self._parsed) < 100_000:
                self._parsed[text] = value
        return value

    def _raw_answers(self, ids: list[str], by_response: dict[str, dict[str, Any]]) -> None:
        """The answers of `ids`, one row per response straight from the DB-API cursor
        (sqlite3 or psycopg): its variable names joined by a separator and its values joined
        into one JSON array, which `json.loads` parses in C. A page of 2,000 responses holds
        ~150,000 answers; one Python object per answer and column took most of the export's
        reading time (one SQLAlchemy row per answer, before that, took more than the query).

        SQLite writes a REAL with 15 significant digits, which can change a decimal answer, so
        its reals go into the array as null and are read again as numbers, for the responses
        that have any. PostgreSQL's JSONB text is exact."""
        cursor = self.conn.connection.cursor()
        rows: list[Any] = []
        if self.conn.dialect.name == "postgresql":
            cursor.execute(
                "SELECT response_id, string_agg(variable, chr(31)), "
                "'[' || string_agg(value::text, ',') || ']', 0 FROM answers "
                "WHERE response_id = ANY(%s) GROUP BY response_id",
                (ids,),
            )
            rows.extend(cursor.fetchall())
        else:
            # SQLite takes at most 32,766 parameters (999 before 3.32); pages stay under it.
            for start in range(0, len(ids), 900):
                part = ids[start : start + 900]
                marks = ",".join("?" * len(part))
                cursor.execute(
                    "SELECT response_id, group_concat(variable, char(31)), "
                    "'[' || group_concat(CASE WHEN typeof(value) = 'real' THEN 'null' "
                    "ELSE value END, ',') || ']', sum(typeof(value) = 'real') FROM answers "
                    f"WHERE response_id IN ({marks}) GROUP BY response_id",
                    part,
                )
                rows.extend(cursor.fetchall())
        loads = json.loads
        with_reals: list[str] = []
        for rid, variables, values, reals in rows:
            by_response[rid].update(zip(variables.split("\x1f"), loads(values), strict=True))
            if reals:
                with_reals.append(rid)
        for start in range(0, len(with_reals), 900):
            part = with_reals[start : start + 900]
            marks = ",".join("?" * len(part))
            cursor.execute(
                "SELECT response_id, variable, value FROM answers "
                f"WHERE response_id IN ({marks}) AND typeof(value) = 'real'",
                part,
            )
            for rid, variable, value in cursor.fetchall():
                by_response[rid][variable] = value
        cursor.close()

    def count(self) -> int:
        where = _filters(self.source.stored.study_id, self.options)
        return int(self.conn.execute(sa.select(sa.func.count()).where(where)).scalar_one())

    def completed_durations(self) -> list[float]:
        """Seconds from start to completion of every completed response the export takes."""
        r = responses.c
        where = _filters(self.source.stored.study_id, self.options) & (r.status == "completed")
        query = sa.select(r.started_at, r.completed_at).where(where)
        return [
            (done - began).total_seconds()
            for began, done in self.conn.execute(query)
            if began is not None and done is not None
        ]

    def version_hashes(self) -> list[str]:
        where = _filters(self.source.stored.study_id, self.options)
        query = sa.select(responses.c.version_hash).where(where).distinct()
        return sorted(self.conn.execute(query).scalars())

    def _page_query(self, after: bool) -> Prepared:
        """The query for one page of responses (after the keyset `last_started`, `last_id`
        when `after`), with named parameters, compiled once per export."""
        query = self._pages.get(after)
        if query is not None:
            return query
        r = responses.c
        where = _filters(self.source.stored.study_id, self.options)
        select = sa.select(
            r.id, r.version_hash, r.language, r.source, r.status, r.is_test,
            r.current_page, _text(r.path), r.started_at, r.completed_at,
            _text(r.quality_flags),
        ).where(where)  # fmt: skip
        if self.options.include_excluded:
            # At most one exclusion per response (its primary key), so no row doubles.
            select = select.add_columns(response_exclusions.c.reason).outerjoin(
                response_exclusions, response_exclusions.c.response_id == r.id
            )
        if after:
            started = sa.bindparam("last_started", type_=r.started_at.type)
            select = select.where(
                (r.started_at > started)
                | ((r.started_at == started) & (r.id > sa.bindparam("last_id")))
            )
        # LIMIT and OFFSET as literals: a prepared statement takes only named parameters,
        # and SQLite's SQL adds a bound OFFSET to a LIMIT alone.
        select = select.order_by(r.started_at, r.id).limit(
            sa.literal_column(str(int(self.chunk_size)), sa.Integer)
        )
        query = self._pages[after] = Prepared(select.offset(sa.literal_column("0", sa.Integer)))
        return query

    def chunks(self) -> Iterator[list[ResponseRecord]]:
        """Responses in order of starting time, `chunk_size` at a time."""
        params: dict[str, Any] = {
            "study_id": self.source.stored.study_id,
            "completed": "completed",
        }
        last: tuple[Any, str] | None = None
        while True:
            if last is None:
                page = self._page_query(False).all(self.conn, params)
            else:
                after = params | {"last_started": last[0], "last_id": last[1]}
                page = self._page_query(True).all(self.conn, after)
            if not page:
                return
            ids = [row.id for row in page]
            by_response: dict[str, dict[str, Any]] = {i: {} for i in ids}
            self._raw_answers(ids, by_response)
            yield [
                ResponseRecord(
                    response_id=row.id,
                    instrument_version=self._shared(row.version_hash),
                    language=self._shared(row.language),
                    status=self._shared(row.status),
                    answers=by_response[row.id],
                    source=self._shared(row.source) if row.source is not None else None,
                    is_test=bool(row.is_test),
                    started_at=row.started_at,
                    completed_at=row.completed_at,
                    visited_pages=_copy(self._json(row.path)),
                    current_page=None if row.status == "completed" else row.current_page,
                    exclusion_reason=row.reason if self.options.include_excluded else None,
                    flags=bots.flag_columns(self._json(row.quality_flags), row.status),
                )
                for row in page
            ]
            last = (page[-1].started_at, page[-1].id)
            if len(page) < self.chunk_size:
                return
