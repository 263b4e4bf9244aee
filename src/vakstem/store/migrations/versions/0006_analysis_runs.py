"""Stored results of analysis-plan runs (for findings on the public summary).

Revision ID: 0006_analysis_runs
Revises: 0005_answer_quotas
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Importing the module registers the table on the shared metadata, which the schema comparison
# test checks against.
import vakstem.store.analysis_runs  # noqa: F401
from vakstem.store.tables import Json, UTCDateTime

revision = "0006_analysis_runs"
down_revision = "0005_answer_quotas"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analysis_runs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("plan_sha256", sa.String(64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("vakstem_version", sa.String(32), nullable=False),
        sa.Column("n_used", sa.Integer(), nullable=False),
        sa.Column("results", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name="fk_analysis_runs_study_id_studies",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_analysis_runs"),
    )
    op.create_index("ix_analysis_runs_study_id", "analysis_runs", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_analysis_runs_study_id", table_name="analysis_runs")
    op.drop_table("analysis_runs")
