"""Tables of the researcher console: institutions, accounts, memberships per study, console
sessions, password-reset links, personal API tokens, response exclusions and the audit trail.

Secrets (session tokens, reset links, API tokens) are stored only as SHA-256 hashes, so a copy
of the database does not let anyone log in. The audit trail is append-only: the migration adds
triggers that refuse UPDATE and DELETE on it, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import sqlalchemy as sa

from vakstem.store.tables import Json, UTCDateTime, metadata

ROLES = ("owner", "researcher", "viewer")

institutions = sa.Table(
    "institutions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    # Stored lower-cased, so logins and "add member by email" are case-insensitive.
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column(
        "institution_id",
        sa.Integer(),
        sa.ForeignKey("institutions.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("totp_secret", sa.String(64), nullable=True),
    sa.Column("totp_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    # Lock-out is per account and time-based; no IP address is kept anywhere.
    sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("password_changed_at", UTCDateTime(), nullable=False),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column(
        "study_id",
        sa.String(64),
        sa.ForeignKey("studies.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'researcher', 'viewer')", name="role"),
)

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
)

password_resets = sa.Table(
    "password_resets",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # The first characters of the token, shown in the console so a user can tell tokens apart.
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

response_exclusions = sa.Table(
    "response_exclusions",
    metadata,
    sa.Column(
        "response_id",
        sa.String(32),
        sa.ForeignKey("responses.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("excluded_by", sa.Integer(), nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
)

# No foreign keys: entries must outlive the accounts, studies and responses they mention.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=True),
    sa.Column("actor", sa.String(254), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("study_id", sa.String(64), nullable=True),
    sa.Column("details", Json, nullable=False),
    sa.Index("ix_audit_log_study_id_id", "study_id", "id"),
)

#: Statements that make `audit_log` append-only, per dialect (used by the migration).
APPEND_ONLY_SQL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ),
    "postgresql": (
        "CREATE FUNCTION vakstem_audit_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION vakstem_audit_append_only()",
    ),
}

DROP_APPEND_ONLY_SQL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
        "DROP FUNCTION IF EXISTS vakstem_audit_append_only()",
    ),
}
