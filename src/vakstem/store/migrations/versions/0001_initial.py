"""Initial schema: studies, instrument versions, responses, answers, page events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vakstem.store.tables import Json, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("current_version", sa.String(64), nullable=True),
        sa.Column("opens_at", UTCDateTime(), nullable=True),
        sa.Column("closes_at", UTCDateTime(), nullable=True),
        sa.Column("max_completes", sa.Integer(), nullable=True),
        sa.Column("refusals", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'closed', 'archived')", name="ck_studies_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
    )
    op.create_table(
        "instrument_versions",
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("model_json", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name="fk_instrument_versions_study_id_studies",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("study_id", "hash", name="pk_instrument_versions"),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("version_hash", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("is_test", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("current_page", sa.String(64), nullable=True),
        sa.Column("path", Json, nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("orders", Json, nullable=False),
        sa.Column("resume_hash", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'refused', 'withdrawn')",
            name="ck_responses_status",
        ),
        sa.ForeignKeyConstraint(
            ["study_id", "version_hash"],
            ["instrument_versions.study_id", "instrument_versions.hash"],
            name="fk_responses_version",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
        sa.UniqueConstraint("resume_hash", name="uq_responses_resume_hash"),
    )
    op.create_index("ix_responses_study_status", "responses", ["study_id", "status"])
    op.create_table(
        "answers",
        sa.Column("response_id", sa.String(32), nullable=False),
        sa.Column("variable", sa.String(64), nullable=False),
        sa.Column("value", Json, nullable=False),
        sa.Column("page_id", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name="fk_answers_response_id_responses",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "variable", name="pk_answers"),
    )
    op.create_table(
        "page_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("response_id", sa.String(32), nullable=False),
        sa.Column("page_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("event IN ('shown', 'submitted', 'back')", name="ck_page_events_event"),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name="fk_page_events_response_id_responses",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_page_events"),
    )
    op.create_index("ix_page_events_response_id", "page_events", ["response_id"])


def downgrade() -> None:
    op.drop_index("ix_page_events_response_id", table_name="page_events")
    op.drop_table("page_events")
    op.drop_table("answers")
    op.drop_index("ix_responses_study_status", table_name="responses")
    op.drop_table("responses")
    op.drop_table("instrument_versions")
    op.drop_table("studies")
