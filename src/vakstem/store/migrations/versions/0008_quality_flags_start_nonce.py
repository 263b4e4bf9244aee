"""Bot flags and a one-time start key on responses.

`quality_flags` holds the flags the respondent flow sets while a response is being answered
(`honeypot`, `too_fast`; NULL means none). `start_nonce` is the hash of the one-time key of the
welcome form that created the response: a unique index makes a repeated or concurrent POST of
the same welcome form find that response instead of creating a second one.

Revision ID: 0008_quality_flags_start_nonce
Revises: 0007_export_paging_index
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vakstem.store.tables import Json

revision = "0008_quality_flags_start_nonce"
down_revision = "0007_export_paging_index"
branch_labels = None
depends_on = None

_INDEX = "uq_responses_start_nonce"


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE UNIQUE INDEX, not batch mode: rebuilding `responses` on
    # SQLite would fire the ON DELETE CASCADE of its answers (see 0005).
    op.add_column("responses", sa.Column("quality_flags", Json, nullable=True))
    op.add_column("responses", sa.Column("start_nonce", sa.String(64), nullable=True))
    op.create_index(_INDEX, "responses", ["start_nonce"], unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="responses")
    # ALTER TABLE ... DROP COLUMN on both backends (SQLite 3.35+), again without a rebuild.
    op.drop_column("responses", "start_nonce")
    op.drop_column("responses", "quality_flags")
