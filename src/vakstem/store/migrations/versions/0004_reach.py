"""Reaching respondents: source tags, daily link-open counts, personal invitations, quotas.

Revision ID: 0004_reach
Revises: 0003_feedback
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Importing the module registers the tables on the shared metadata, which the schema comparison
# test checks against.
import vakstem.store.invitations  # noqa: F401
from vakstem.store.tables import Json, UTCDateTime

revision = "0004_reach"
down_revision = "0003_feedback"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _study_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["study_id"], ["studies.id"], name=f"fk_{table}_study_id_studies", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "source_tags",
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _study_fk("source_tags"),
        sa.PrimaryKeyConstraint("study_id", "tag", name="pk_source_tags"),
    )
    op.create_table(
        "link_opens",
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False, server_default="0"),
        _study_fk("link_opens"),
        sa.PrimaryKeyConstraint("study_id", "source", "day", name="pk_link_opens"),
    )
    op.create_table(
        "invitations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("organisatie", sa.String(200), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("used", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("completed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("declined", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("bounced", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("failure", sa.String(500), nullable=True),
        sa.Column("purged", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("claim_hash", sa.String(64), nullable=True),
        _study_fk("invitations"),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
        sa.UniqueConstraint("claim_hash", name="uq_invitations_claim_hash"),
        sa.UniqueConstraint("study_id", "email", name="uq_invitations_study_email"),
    )
    op.create_index("ix_invitations_study_id", "invitations", ["study_id"])
    op.create_table(
        "quotas",
        sa.Column("id", _ID, nullable=False),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("sources", Json, nullable=True),
        sa.Column("max_completes", sa.Integer(), nullable=False),
        sa.Column("hold_minutes", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _study_fk("quotas"),
        sa.PrimaryKeyConstraint("id", name="pk_quotas"),
        sa.UniqueConstraint("study_id", "name", name="uq_quotas_study_name"),
        sa.CheckConstraint("max_completes >= 0", name="ck_quotas_max_completes"),
    )


def downgrade() -> None:
    op.drop_table("quotas")
    op.drop_index("ix_invitations_study_id", table_name="invitations")
    op.drop_table("invitations")
    op.drop_table("link_opens")
    op.drop_table("source_tags")
