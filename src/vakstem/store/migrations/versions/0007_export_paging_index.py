"""An index on responses (study_id, started_at, id): the export reads a study's responses in
pages by keyset in exactly that order, so each page is an index range instead of a sort.

Revision ID: 0007_export_paging_index
Revises: 0006_analysis_runs
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0007_export_paging_index"
down_revision = "0006_analysis_runs"
branch_labels = None
depends_on = None

_NAME = "ix_responses_study_started"


def upgrade() -> None:
    op.create_index(_NAME, "responses", ["study_id", "started_at", "id"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="responses")
