"""Retention: deleting what a study no longer needs to keep (`vakstem purge`).

Three kinds of data have a shelf life: test responses (made by researchers trying the
questionnaire), unfinished responses that nobody came back to, and the contact data of
invitations (handled by `service.invitations.purge_expired`). A purged response goes with all
that hangs off it (answers, page events, exclusion marks) in one transaction; exports,
feedback and the dashboard read the response tables live (the dashboard cache is keyed by the
response count), so nothing derived keeps a deleted response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vakstem.service import audit
from vakstem.service.audit import Actor
from vakstem.service.invitations import purge_expired
from vakstem.store.accounts import response_exclusions
from vakstem.store.tables import answers, page_events, responses, studies


class RetentionError(ValueError):
    """A purge request that cannot be carried out (unknown study, negative age)."""


@dataclass
class PurgeResult:
    test_responses: int = 0
    unfinished_responses: int = 0
    contact_studies: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        contacts = ", ".join(self.contact_studies) or "no study"
        return [
            f"test responses deleted: {self.test_responses}",
            f"unfinished responses deleted: {self.unfinished_responses}",
            f"contact data purged of: {contacts}",
        ]


def delete_responses(conn: Connection, ids: Sequence[str]) -> int:
    """Delete responses and everything that refers to them; returns how many were deleted."""
    if not ids:
        return 0
    # Explicit deletes rather than trusting ON DELETE CASCADE: SQLite enforces it only with
    # foreign_keys=ON, which a connection opened by another tool may lack.
    for chunk_start in range(0, len(ids), 500):
        chunk = list(ids[chunk_start : chunk_start + 500])
        conn.execute(page_events.delete().where(page_events.c.response_id.in_(chunk)))
        conn.execute(answers.delete().where(answers.c.response_id.in_(chunk)))
        conn.execute(
            response_exclusions.delete().where(response_exclusions.c.response_id.in_(chunk))
        )
        conn.execute(responses.delete().where(responses.c.id.in_(chunk)))
    return len(ids)


def _check_study(conn: Connection, study_id: str | None) -> None:
    if study_id is None:
        return
    if conn.execute(sa.select(studies.c.id).where(studies.c.id == study_id)).first() is None:
        raise RetentionError(f"there is no study {study_id!r} in this database")


def _purge(
    engine: Engine, where: sa.ColumnElement[bool], study_id: str | None, what: str, actor: Actor
) -> int:
    with engine.begin() as conn:
        _check_study(conn, study_id)
        if study_id is not None:
            where = sa.and_(where, responses.c.study_id == study_id)
        rows = conn.execute(sa.select(responses.c.id, responses.c.study_id).where(where)).all()
        per_study: dict[str, int] = {}
        for row in rows:
            per_study[row.study_id] = per_study.get(row.study_id, 0) + 1
        delete_responses(conn, [row.id for row in rows])
        # The audit keeps counts only: an id of a deleted response would be a dangling pointer.
        for study, count in sorted(per_study.items()):
            audit.record(
                conn,
                actor,
                audit.RESPONSE_DELETED,
                study_id=study,
                details={"purged": what, "count": count},
            )
    return len(rows)


def purge_test_responses(
    engine: Engine, study_id: str | None = None, *, actor: Actor | None = None
) -> int:
    """Delete every test response (of one study, or of all)."""
    return _purge(
        engine, responses.c.is_test == sa.true(), study_id, "test", actor or Actor.system()
    )


def purge_unfinished(
    engine: Engine,
    older_than_days: int,
    study_id: str | None = None,
    *,
    now: datetime | None = None,
    actor: Actor | None = None,
) -> int:
    """Delete responses still running whose last activity is more than `older_than_days` ago."""
    if older_than_days < 0:
        raise RetentionError("the number of days cannot be negative")
    limit = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    where = sa.and_(responses.c.status == "active", responses.c.updated_at < limit)
    return _purge(engine, where, study_id, "unfinished", actor or Actor.system())


def purge(
    engine: Engine,
    *,
    study_id: str | None = None,
    test: bool = False,
    unfinished_days: int | None = None,
    contact_days: int | None = None,
    now: datetime | None = None,
) -> PurgeResult:
    """Everything `vakstem purge` asked for, each part in its own transaction."""
    result = PurgeResult()
    if test:
        result.test_responses = purge_test_responses(engine, study_id)
    if unfinished_days is not None:
        result.unfinished_responses = purge_unfinished(engine, unfinished_days, study_id, now=now)
    if contact_days is not None:
        if contact_days < 0:
            raise RetentionError("the number of days cannot be negative")
        done = purge_expired(engine, contact_days, now=now)
        # Contact retention is a deployment-wide rule, so it ignores `study_id`.
        result.contact_studies = done
    return result
