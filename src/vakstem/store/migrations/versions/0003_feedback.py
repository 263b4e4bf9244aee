"""Feedback settings per study: whether the public summary page is switched on.

Revision ID: 0003_feedback
Revises: 0002_console
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Importing the module registers the table on the shared metadata, which the schema comparison
# test checks against.
import vakstem.feedback.store  # noqa: F401
from vakstem.store.tables import UTCDateTime

revision = "0003_feedback"
down_revision = "0002_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_settings",
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("public_summary", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name="fk_feedback_settings_study_id_studies",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("study_id", name="pk_feedback_settings"),
    )


def downgrade() -> None:
    op.drop_table("feedback_settings")
