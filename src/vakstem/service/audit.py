"""The audit trail: who did what, when, on which study, with details as JSON.

Entries are written in the same transaction as the action they record, so an action without
its entry cannot be committed. The table refuses UPDATE and DELETE (database triggers); this
module only appends and reads.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vakstem.store.accounts import audit_log

#: Stable action names (also the CSV `action` column).
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
PASSWORD_CHANGED = "password_changed"
PASSWORD_RESET_CREATED = "password_reset_created"
PASSWORD_RESET_USED = "password_reset_used"
TOTP_ENABLED = "totp_enabled"
TOTP_DISABLED = "totp_disabled"
API_TOKEN_CREATED = "api_token_created"
API_TOKEN_REVOKED = "api_token_revoked"
USER_CREATED = "user_created"
MEMBER_ADDED = "member_added"
ROLE_CHANGED = "role_changed"
MEMBER_REMOVED = "member_removed"
STATUS_CHANGED = "status_changed"
SCHEDULE_CHANGED = "schedule_changed"
VERSION_UPLOADED = "version_uploaded"
RESPONSE_VIEWED = "response_viewed"
RESPONSES_LISTED = "responses_listed"
RESPONSE_EXCLUDED = "response_excluded"
RESPONSE_INCLUDED = "response_included"
RESPONSE_DELETED = "response_deleted"
EXPORT_DOWNLOADED = "export_downloaded"
AUDIT_EXPORTED = "audit_exported"


@dataclass(frozen=True)
class Actor:
    """Who acts: an account (id and email), or the command line / system (`user_id` None)."""

    user_id: int | None
    email: str

    @classmethod
    def system(cls, what: str = "cli") -> Actor:
        return cls(None, what)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int | None
    actor: str
    action: str
    study_id: str | None
    details: dict[str, Any]


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    study_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry, inside the caller's transaction."""
    conn.execute(
        audit_log.insert().values(
            at=at or datetime.now(UTC),
            user_id=actor.user_id,
            actor=actor.email,
            action=action,
            study_id=study_id,
            details=dict(details or {}),
        )
    )


def entries(
    engine: Engine,
    *,
    study_id: str | None = None,
    user_id: int | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Entries, newest first, of one study and/or one account (all when neither is given)."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc())
    if study_id is not None:
        query = query.where(audit_log.c.study_id == study_id)
    if user_id is not None:
        query = query.where(audit_log.c.user_id == user_id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [
            AuditEntry(
                id=row.id,
                at=row.at,
                user_id=row.user_id,
                actor=row.actor,
                action=row.action,
                study_id=row.study_id,
                details=dict(row.details or {}),
            )
            for row in conn.execute(query)
        ]


CSV_COLUMNS = ("id", "at", "actor", "user_id", "action", "study_id", "details")


def to_csv(rows: Iterable[AuditEntry]) -> Iterator[str]:
    """The entries as CSV text, one chunk per row (streamed to the browser)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for e in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(
            (
                e.id,
                e.at.isoformat(),
                _safe_cell(e.actor),
                "" if e.user_id is None else e.user_id,
                e.action,
                e.study_id or "",
                _safe_cell(json.dumps(e.details, sort_keys=True, ensure_ascii=False)),
            )
        )
        yield buffer.getvalue()


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ runs as a formula when the CSV is opened in a spreadsheet.
    if value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
