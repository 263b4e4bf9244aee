"""Quotas on an answer (a variable and one of its codes) and the `screened_out` response status.

Revision ID: 0005_answer_quotas
Revises: 0004_reach
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vakstem.store.tables import Json

revision = "0005_answer_quotas"
down_revision = "0004_reach"
branch_labels = None
depends_on = None

_OLD = "'active', 'completed', 'refused', 'withdrawn'"
_NEW = "'active', 'completed', 'refused', 'withdrawn', 'screened_out'"


def _set_status_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint("ck_responses_status", "responses", type_="check")
        op.create_check_constraint("ck_responses_status", "responses", f"status IN ({new})")
        return
    # SQLite cannot alter a CHECK constraint, and rebuilding `responses` (Alembic's batch
    # mode) would fire the ON DELETE CASCADE of answers and page events, because foreign keys
    # are enforced and that pragma cannot be switched off inside the migration's transaction.
    # Widening a CHECK does not change the stored format, so the table definition is edited in
    # place, the procedure SQLite documents for such changes (writable_schema + schema_version).
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text(
            "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
            "WHERE type = 'table' AND name = 'responses'"
        ),
        {"old": f"status IN ({old})", "new": f"status IN ({new})"},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'responses'")
    ).scalar_one()
    if f"status IN ({new})" not in sql:
        raise RuntimeError("could not widen the status check of the responses table")


def upgrade() -> None:
    with op.batch_alter_table("quotas") as batch:
        # The answer that defines the group: NULL for quotas over source tags or the study.
        batch.add_column(sa.Column("variable", sa.String(64), nullable=True))
        batch.add_column(sa.Column("value", Json, nullable=True))
    _set_status_check(_OLD, _NEW)


def downgrade() -> None:
    op.execute("UPDATE responses SET status = 'refused' WHERE status = 'screened_out'")
    _set_status_check(_NEW, _OLD)
    with op.batch_alter_table("quotas") as batch:
        batch.drop_column("value")
        batch.drop_column("variable")
