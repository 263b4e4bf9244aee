"""Tables for reaching respondents: source tags defined in the database, daily link-open
counters, personal invitations and quotas.

Anonymity is a property of this schema: no table here has a column that refers to a response,
and the responses tables have no column that refers to an invitation. The only bridge while a
response is running is `invitations.claim_hash`, a slow one-way hash of the respondent's resume
code (which only the respondent holds); it is cleared when the response completes. See
`vakstem.service.invitations` and docs/anonymity.md.
"""

from __future__ import annotations

import sqlalchemy as sa

from vakstem.store.tables import Json, UTCDateTime, metadata

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _study_fk() -> sa.ForeignKey:
    return sa.ForeignKey("studies.id", ondelete="CASCADE")


source_tags = sa.Table(
    "source_tags",
    metadata,
    sa.Column("study_id", sa.String(64), _study_fk(), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# One row per study, source and day with a count: nothing about any visitor is kept.
link_opens = sa.Table(
    "link_opens",
    metadata,
    sa.Column("study_id", sa.String(64), _study_fk(), primary_key=True),
    # "" for the plain link without a tag.
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("opens", sa.Integer(), nullable=False, server_default="0"),
)

invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("study_id", sa.String(64), _study_fk(), nullable=False),
    # SHA-256 of the 128-bit random token; the token itself exists only in the email sent.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # Contact data: NULL once purged.
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("organisatie", sa.String(200), nullable=True),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("imported_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    # Flags and counters only, no moments: a time of use would line up with a response's start.
    sa.Column("sent", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("used", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("completed", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("declined", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("bounced", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("failure", sa.String(500), nullable=True),
    sa.Column("purged", sa.Boolean(), nullable=False, server_default=sa.false()),
    # Argon2id of the running response's resume code (see the module docstring); NULL otherwise.
    sa.Column("claim_hash", sa.String(64), nullable=True, unique=True),
    sa.UniqueConstraint("study_id", "email", name="uq_invitations_study_email"),
    sa.Index("ix_invitations_study_id", "study_id"),
)

quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("study_id", sa.String(64), _study_fk(), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    # Source tags that make up the group; NULL: every response of the study.
    sa.Column("sources", Json, nullable=True),
    sa.Column("max_completes", sa.Integer(), nullable=False),
    # An unfinished response holds its place this long after its last activity.
    sa.Column("hold_minutes", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # A quota on an answer: the group is the responses that gave `value` to `variable`.
    sa.Column("variable", sa.String(64), nullable=True),
    sa.Column("value", Json, nullable=True),
    sa.UniqueConstraint("study_id", "name", name="uq_quotas_study_name"),
    sa.CheckConstraint("max_completes >= 0", name="max_completes"),
)
