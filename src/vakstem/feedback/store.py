"""Per-study feedback settings in the database: whether the public summary page is on.

The switch belongs to the deployment, not to the questionnaire (an owner turns it on when
there is something to show), so it is stored per study rather than in the study file. Its
table is registered on the store's shared metadata; migration 0003_feedback creates it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.service.types import StudyNotFound
from vakstem.store.engine import write_transaction
from vakstem.store.tables import UTCDateTime, metadata, studies

feedback_settings = sa.Table(
    "feedback_settings",
    metadata,
    sa.Column(
        "study_id",
        sa.String(64),
        sa.ForeignKey("studies.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("public_summary", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)


def public_summary_enabled(engine: Engine, study_id: str) -> bool:
    """Whether the owner switched the public summary of `study_id` on (off by default)."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(feedback_settings.c.public_summary).where(
                feedback_settings.c.study_id == study_id
            )
        ).scalar()
    return bool(value)


def set_public_summary(
    engine: Engine, study_id: str, enabled: bool, *, now: datetime | None = None
) -> None:
    """Switch the public summary on or off; an unknown study raises `StudyNotFound`."""
    now = now or datetime.now(UTC)
    with write_transaction(engine) as conn:
        known = conn.execute(sa.select(studies.c.id).where(studies.c.id == study_id)).scalar()
        if known is None:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
        updated = conn.execute(
            feedback_settings.update()
            .where(feedback_settings.c.study_id == study_id)
            .values(public_summary=enabled, updated_at=now)
        ).rowcount
        if not updated:
            conn.execute(
                feedback_settings.insert().values(
                    study_id=study_id, public_summary=enabled, updated_at=now
                )
            )
