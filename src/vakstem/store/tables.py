"""The database tables (SQLAlchemy Core), shared by the migrations, the study repository and the
respondent service. The Alembic migrations under `migrations/` are the source of truth for the
schema in a database; these definitions must stay equal to what the migrations build (a test
compares them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both backends.

    SQLite has no timezone type and hands back naive datetimes; storing every value converted to
    UTC and re-attaching UTC on the way out gives callers the same aware values on SQLite and
    PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Vakstem stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON on SQLite, JSONB on PostgreSQL (compact and comparable).
Json: sa.types.TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

STUDY_STATUSES = ("draft", "open", "closed", "archived")
RESPONSE_STATUSES = ("active", "completed", "refused", "withdrawn", "screened_out")
PAGE_EVENTS = ("shown", "submitted", "back")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


studies = sa.Table(
    "studies",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
    # No foreign key to instrument_versions: the two tables would reference each other.
    sa.Column("current_version", sa.String(64), nullable=True),
    sa.Column("opens_at", UTCDateTime(), nullable=True),
    sa.Column("closes_at", UTCDateTime(), nullable=True),
    sa.Column("max_completes", sa.Integer(), nullable=True),
    sa.Column("refusals", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("status", STUDY_STATUSES), name="status"),
)

instrument_versions = sa.Table(
    "instrument_versions",
    metadata,
    sa.Column(
        "study_id",
        sa.String(64),
        sa.ForeignKey("studies.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("source_text", sa.Text(), nullable=False),
    sa.Column("model_json", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

responses = sa.Table(
    "responses",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("study_id", sa.String(64), nullable=False),
    sa.Column("version_hash", sa.String(64), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("is_test", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("current_page", sa.String(64), nullable=True),
    # Page ids submitted so far, in order: the stack that `back` pops.
    sa.Column("path", Json, nullable=False),
    sa.Column("seed", sa.BigInteger(), nullable=False),
    # Item id -> choice codes or matrix row ids in the order first shown.
    sa.Column("orders", Json, nullable=False),
    sa.Column("resume_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Flags set while answering (`honeypot`, `too_fast`), sorted; NULL when there are none.
    sa.Column("quality_flags", Json, nullable=True),
    # SHA-256 of the welcome form's one-time key: a repeated POST of that form finds this row.
    sa.Column("start_nonce", sa.String(64), nullable=True),
    sa.ForeignKeyConstraint(
        ["study_id", "version_hash"],
        ["instrument_versions.study_id", "instrument_versions.hash"],
        name="fk_responses_version",
    ),
    sa.CheckConstraint(_in("status", RESPONSE_STATUSES), name="status"),
    sa.Index("ix_responses_study_status", "study_id", "status"),
    # The export pages through a study's responses by keyset in this order.
    sa.Index("ix_responses_study_started", "study_id", "started_at", "id"),
    sa.Index("uq_responses_start_nonce", "start_nonce", unique=True),
)

answers = sa.Table(
    "answers",
    metadata,
    sa.Column(
        "response_id",
        sa.String(32),
        sa.ForeignKey("responses.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("variable", sa.String(64), primary_key=True),
    sa.Column("value", Json, nullable=False),
    sa.Column("page_id", sa.String(64), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

page_events = sa.Table(
    "page_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "response_id",
        sa.String(32),
        sa.ForeignKey("responses.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("page_id", sa.String(64), nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("event", PAGE_EVENTS), name="event"),
)
