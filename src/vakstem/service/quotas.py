"""Quotas: close a study, or a group of its sources, at a number of completes.

A quota counts the completes of its group plus the responses still running (active within the
quota's hold time), so admitting a respondent reserves a place: those already started may always
finish, and the number of completes does not overshoot the quota because many people started at
the same moment. `admit` runs inside the respondent service's start transaction, after taking the
quota rows' locks (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE holds the whole
database), so concurrent starts are counted one after the other.

A group is a set of source tags (e.g. all links handed to municipal services); a quota without
tags covers every response of the study.

A quota can instead be on an answer (`variable` = `value`, e.g. organisation type 2): that group
is only known when the respondent answers the item, so `admit_answer` runs in the submit
transaction of the page that holds it. When the group is full the response ends there with the
status `screened_out` (the friendly quota-full page; counted as screened out, not as a dropout).
A respondent who already passed that page is never stopped by it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vakstem.instrument.schema import ItemType, Study
from vakstem.service import links
from vakstem.service.types import DomainError, StudyClosed, StudyNotFound
from vakstem.store.engine import WRITE_LOCK
from vakstem.store.invitations import quotas
from vakstem.store.prepared import Prepared
from vakstem.store.studies import get_study
from vakstem.store.tables import answers, responses, studies

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_HOLD_MINUTES = 120


class QuotaFull(StudyClosed):
    """The quota of the respondent's group is reached: no new response. Its code stays
    `study_closed`, so every front end shows its friendly closing page."""


class QuotaError(DomainError):
    code = "quota"
    status = 422


@dataclass(frozen=True)
class QuotaStatus:
    name: str
    sources: tuple[str, ...] | None
    max_completes: int
    hold_minutes: int
    completes: int
    running: int
    #: For a quota on an answer: the variable and the choice code that make up the group.
    variable: str | None = None
    value: int | None = None

    @property
    def full(self) -> bool:
        return self.completes + self.running >= self.max_completes

    def covers(self, source: str | None) -> bool:
        """Whether a respondent arriving through `source` belongs to the group at the start
        (an answer quota covers nobody yet: its group is known only from the answer)."""
        if self.variable is not None:
            return False
        return self.sources is None or (source is not None and source in self.sources)


def _answer_choice(study: Study, name: str, variable: str, value: str | int) -> int:
    """The choice code `value` of the single-choice `variable`, or a clear `QuotaError`."""
    for _page, item in study.items():
        if variable not in item.variables():
            continue
        if item.type not in (ItemType.SINGLE, ItemType.MATRIX):
            raise QuotaError(
                f"quota {name!r}: {variable!r} is of type {item.type.value}; "
                "a quota needs a single-choice question"
            )
        choices = study.choices_of(item)
        for choice in choices:
            if str(choice.code) == str(value).strip():
                return choice.code
        codes = ", ".join(str(c.code) for c in choices)
        raise QuotaError(
            f"quota {name!r}: {value!r} is not a code of {variable!r} (its codes: {codes})"
        )
    raise QuotaError(f"quota {name!r}: the study has no question {variable!r}")


def set_quota(
    engine: Engine,
    study_id: str,
    name: str,
    max_completes: int,
    *,
    sources: Iterable[str] | None = None,
    hold_minutes: int = DEFAULT_HOLD_MINUTES,
    variable: str | None = None,
    value: str | int | None = None,
    now: datetime | None = None,
) -> None:
    """Add the quota `name`, or change it when it exists. With `variable` and `value` the group
    is the respondents who give that answer (checked against the study's current version)."""
    if not NAME_PATTERN.match(name):
        raise QuotaError(
            f"quota name {name!r}: use lower-case letters, digits, '-' and '_' (max 64)"
        )
    if max_completes < 0:
        raise QuotaError(f"quota {name!r}: the number of completes cannot be negative")
    if hold_minutes <= 0:
        raise QuotaError(f"quota {name!r}: the hold time must be at least one minute")
    tags = sorted(set(sources)) if sources is not None else None
    if (variable is None) != (value is None):
        raise QuotaError(f"quota {name!r}: give both a variable and a value, or neither")
    if variable is not None and tags is not None:
        raise QuotaError(f"quota {name!r}: a quota is on source tags or on an answer, not both")
    with engine.begin() as conn:
        row = conn.execute(sa.select(studies.c.id).where(studies.c.id == study_id)).first()
        if row is None:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
        if tags is not None:
            known = links.accepted_sources(
                conn, study_id, get_study(engine, study_id).study.sources
            )
            unknown = [t for t in tags if t not in known]
            if unknown:
                raise QuotaError(
                    f"quota {name!r}: unknown source tag(s) {', '.join(unknown)}; "
                    "define them first (vakstem links STUDY --add TAG)"
                )
            if not tags:
                raise QuotaError(f"quota {name!r}: name at least one source tag, or none at all")
        code = None
        if variable is not None and value is not None:
            code = _answer_choice(get_study(engine, study_id).study, name, variable, value)
        values = {
            "max_completes": max_completes,
            "sources": tags,
            "hold_minutes": hold_minutes,
            "variable": variable,
            "value": code,
        }
        updated = conn.execute(
            quotas.update()
            .where(quotas.c.study_id == study_id, quotas.c.name == name)
            .values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(
                quotas.insert().values(
                    study_id=study_id, name=name, created_at=now or datetime.now(UTC), **values
                )
            )


def remove_quota(engine: Engine, study_id: str, name: str) -> bool:
    with engine.begin() as conn:
        gone = conn.execute(
            quotas.delete().where(quotas.c.study_id == study_id, quotas.c.name == name)
        )
    return gone.rowcount > 0


def _group_counts(
    conn: Connection, study_id: str, sources: tuple[str, ...] | None, since: datetime
) -> tuple[int, int]:
    query = sa.select(
        sa.func.sum(sa.case((responses.c.status == "completed", 1), else_=0)),
        sa.func.sum(
            sa.case(
                (sa.and_(responses.c.status == "active", responses.c.updated_at >= since), 1),
                else_=0,
            )
        ),
    ).where(responses.c.study_id == study_id, responses.c.is_test == sa.false())
    if sources is not None:
        query = query.where(responses.c.source.in_(sources))
    completes, running = conn.execute(query).one()
    return int(completes or 0), int(running or 0)


def _answer_counts(
    conn: Connection,
    study_id: str,
    variable: str,
    value: int,
    since: datetime,
    exclude: str | None = None,
) -> tuple[int, int]:
    query = (
        sa.select(responses.c.id, responses.c.status, responses.c.updated_at, answers.c.value)
        .join(answers, answers.c.response_id == responses.c.id)
        .where(
            responses.c.study_id == study_id,
            responses.c.is_test == sa.false(),
            responses.c.status.in_(("completed", "active")),
            answers.c.variable == variable,
        )
    )
    completes = running = 0
    # The value is compared here rather than in SQL: JSON equality differs between SQLite and
    # PostgreSQL's JSONB, and a group is at most a few thousand rows.
    for row in conn.execute(query):
        if row.id == exclude or row.value != value:
            continue
        if row.status == "completed":
            completes += 1
        elif row.updated_at >= since:
            running += 1
    return completes, running


_QUOTAS = (
    sa.select(quotas).where(quotas.c.study_id == sa.bindparam("study_id")).order_by(quotas.c.id)
)
#: Read at every start: (plain, row-locked).
_STUDY_QUOTAS = (Prepared(_QUOTAS), Prepared(_QUOTAS.with_for_update()))


def _statuses(conn: Connection, study_id: str, now: datetime) -> list[QuotaStatus]:
    query = _STUDY_QUOTAS[bool(conn.get_execution_options().get(WRITE_LOCK))]
    result = []
    for row in query.all(conn, {"study_id": study_id}):
        sources = tuple(row.sources) if row.sources is not None else None
        since = now - timedelta(minutes=row.hold_minutes)
        if row.variable is not None:
            completes, running = _answer_counts(conn, study_id, row.variable, int(row.value), since)
        else:
            completes, running = _group_counts(conn, study_id, sources, since)
        result.append(
            QuotaStatus(
                name=row.name,
                sources=sources,
                max_completes=row.max_completes,
                hold_minutes=row.hold_minutes,
                completes=completes,
                running=running,
                variable=row.variable,
                value=None if row.value is None else int(row.value),
            )
        )
    return result


def list_quotas(engine: Engine, study_id: str, now: datetime | None = None) -> list[QuotaStatus]:
    with engine.connect() as conn:
        return _statuses(conn, study_id, now or datetime.now(UTC))


def has_room(
    engine: Engine, study_id: str, source: str | None, now: datetime | None = None
) -> bool:
    """Whether a respondent arriving through `source` would be admitted now (no lock: the
    link page uses it to show the friendly page early; `admit` decides)."""
    return not any(q.full and q.covers(source) for q in list_quotas(engine, study_id, now))


def admit(
    conn: Connection,
    study_id: str,
    source: str | None,
    file_sources: tuple[str, ...],
    now: datetime,
    *,
    test: bool = False,
) -> str | None:
    """Inside the start transaction: the source tag the new response keeps (None for a tag the
    study does not know), or `QuotaFull` when a quota covering it is reached. Test responses
    pass every quota and are never counted."""
    if source is not None and source not in links.accepted_sources(conn, study_id, file_sources):
        source = None
    if test:
        return source
    for quota in _statuses(conn, study_id, now):
        if quota.covers(source) and quota.full:
            raise QuotaFull(f"quota {quota.name!r} of study {study_id!r} is full", study=study_id)
    return source


_ANSWER_QUOTAS = sa.select(quotas.c.id, quotas.c.variable, quotas.c.value).where(
    quotas.c.study_id == sa.bindparam("study_id"), quotas.c.variable.is_not(None)
)


def admit_answer(
    conn: Connection,
    study_id: str,
    response_id: str,
    before: Mapping[str, object],
    after: Mapping[str, object],
    now: datetime,
    *,
    test: bool = False,
) -> QuotaStatus | None:
    """Inside the submit transaction of a page: the full answer quota the respondent now falls
    into, or None to go on. Only answers given for the first time count (`before` holds the
    stored answers, `after` those after this page), so a respondent who already passed the
    page, or who comes back to it, is never stopped. Test responses pass every quota."""
    if test:
        return None
    new = {v: a for v, a in after.items() if a is not None and before.get(v) is None}
    if not new:
        return None
    # A plain read of the study's few answer quotas first: most pages give no answer a quota
    # is on, and they then need neither a lock nor a query built for their variables.
    on_new = [
        row.id
        for row in conn.execute(_ANSWER_QUOTAS, {"study_id": study_id})
        if row.variable in new and new[row.variable] == row.value
    ]
    if not on_new:
        return None
    # Only the quotas on the answers just given are locked, so pages without such an answer
    # are never queued behind each other.
    query = sa.select(quotas).where(quotas.c.id.in_(on_new)).order_by(quotas.c.id)
    if conn.get_execution_options().get(WRITE_LOCK):
        query = query.with_for_update()
    for row in conn.execute(query).all():
        if new[row.variable] != row.value:
            continue
        since = now - timedelta(minutes=row.hold_minutes)
        completes, running = _answer_counts(
            conn, study_id, row.variable, int(row.value), since, exclude=response_id
        )
        quota = QuotaStatus(
            name=row.name,
            sources=None,
            max_completes=row.max_completes,
            hold_minutes=row.hold_minutes,
            completes=completes,
            running=running,
            variable=row.variable,
            value=int(row.value),
        )
        if quota.full:
            return quota
    return None
