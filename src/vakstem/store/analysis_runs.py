"""Stored results of analysis-plan runs, so that pages can show findings without re-running
the plan (which fits SEM models with bootstrap draws and takes minutes).

`vakstem analyse STUDY` saves each run on the store's data here; the public summary reads the
latest one, and the console lists them with what changed in the responses since. The table is
registered on the store's shared metadata; migration 0006_analysis_runs creates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.service.types import StudyNotFound
from vakstem.store.engine import write_transaction
from vakstem.store.tables import Json, UTCDateTime, metadata, responses, studies

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

analysis_runs = sa.Table(
    "analysis_runs",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column(
        "study_id",
        sa.String(64),
        sa.ForeignKey("studies.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("plan_sha256", sa.String(64), nullable=False),
    sa.Column("seed", sa.BigInteger(), nullable=False),
    sa.Column("vakstem_version", sa.String(32), nullable=False),
    sa.Column("n_used", sa.Integer(), nullable=False),
    sa.Column("results", Json, nullable=False),
)


class AnalysisRunError(ValueError):
    """The results given cannot be stored (not the shape `PlanResults.to_dict()` gives)."""


@dataclass(frozen=True)
class RunListing:
    """A stored run as the console lists it: provenance without the (large) results."""

    id: int
    created_at: datetime
    data_sha256: str
    plan_sha256: str
    seed: int
    vakstem_version: str
    n_used: int


@dataclass(frozen=True)
class AnalysisRun(RunListing):
    """One stored run: its provenance and the results as `PlanResults.to_dict()` gave them."""

    study_id: str
    results: dict[str, Any]


def n_used(results: dict[str, Any]) -> int:
    """The responses the run's models used: those left after the quality step's exclusions,
    or every row of the data when that step did not run."""
    quality = results.get("steps", {}).get("quality", {})
    analysed = quality.get("analysed") if quality.get("status") == "ok" else None
    if isinstance(analysed, int) and not isinstance(analysed, bool):
        return analysed
    rows = results.get("reproducibility", {}).get("rows_in_data")
    if isinstance(rows, int) and not isinstance(rows, bool):
        return rows
    raise AnalysisRunError("the results say neither how many responses were analysed nor read")


def save_run(
    engine: Engine, study_id: str, results: dict[str, Any], *, now: datetime | None = None
) -> int:
    """Store `results` (from `PlanResults.to_dict()`) as a run of `study_id`; its id.

    An unknown study raises `StudyNotFound`; results without their provenance raise
    `AnalysisRunError`."""
    repro = results.get("reproducibility")
    if not isinstance(repro, dict) or not isinstance(results.get("steps"), dict):
        raise AnalysisRunError("not analysis results: 'reproducibility' or 'steps' is missing")
    try:
        values = {
            "data_sha256": str(repro["data_sha256"]),
            "plan_sha256": str(repro["plan_sha256"]),
            "seed": int(repro["seed"]),
            "vakstem_version": str(repro["vakstem_version"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise AnalysisRunError(f"the results' reproducibility block lacks {exc}") from None
    # A JSON round trip keeps only what JSON can hold, the same on both backends.
    stored = json.loads(json.dumps(results, allow_nan=False))
    with write_transaction(engine) as conn:
        known = conn.execute(sa.select(studies.c.id).where(studies.c.id == study_id)).scalar()
        if known is None:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
        inserted = conn.execute(
            analysis_runs.insert()
            .values(
                study_id=study_id,
                created_at=now or datetime.now(UTC),
                n_used=n_used(results),
                results=stored,
                **values,
            )
            .returning(analysis_runs.c.id)
        ).scalar_one()
    return int(inserted)


def latest_run(engine: Engine, study_id: str) -> AnalysisRun | None:
    """The most recently stored run of `study_id`, or None when there is none."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(analysis_runs)
                .where(analysis_runs.c.study_id == study_id)
                .order_by(analysis_runs.c.created_at.desc(), analysis_runs.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return None if row is None else AnalysisRun(**dict(row))


def latest_run_id(engine: Engine, study_id: str) -> int | None:
    """The id of the latest run (cheap: for cache keys)."""
    with engine.connect() as conn:
        run = conn.execute(
            sa.select(analysis_runs.c.id)
            .where(analysis_runs.c.study_id == study_id)
            .order_by(analysis_runs.c.created_at.desc(), analysis_runs.c.id.desc())
            .limit(1)
        ).scalar()
    return None if run is None else int(run)


def list_runs(engine: Engine, study_id: str, limit: int = 100) -> list[RunListing]:
    """The study's stored runs, newest first."""
    c = analysis_runs.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                c.id,
                c.created_at,
                c.data_sha256,
                c.plan_sha256,
                c.seed,
                c.vakstem_version,
                c.n_used,
            )
            .where(c.study_id == study_id)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(limit)
        ).all()
    return [RunListing(*row) for row in rows]


def get_run(engine: Engine, study_id: str, run_id: int) -> AnalysisRun | None:
    """One stored run of `study_id` (None when it has no run with that id)."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(analysis_runs).where(
                    analysis_runs.c.study_id == study_id, analysis_runs.c.id == run_id
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else AnalysisRun(**dict(row))


@dataclass(frozen=True)
class SinceRun:
    """What changed in the responses after a run: completes it could not include, and
    responses completed before it that have been withdrawn since (their answers are gone, but
    the run's aggregates still count them until the plan runs again)."""

    completed: int
    withdrawn: int


def changes_since(engine: Engine, study_id: str, when: datetime) -> SinceRun:
    """Completes and withdrawals of `study_id` after `when` (test responses not counted)."""
    r = responses.c
    completed_since = sa.and_(r.status == "completed", r.is_test.is_(False), r.completed_at > when)
    # Withdrawn after the run, having completed before it: counted by the run, gone since.
    withdrawn_since = sa.and_(
        r.status == "withdrawn",
        r.completed_at.is_not(None),
        r.completed_at <= when,
        r.updated_at > when,
    )
    with engine.connect() as conn:
        completed, withdrawn = conn.execute(
            sa.select(
                sa.func.count().filter(completed_since), sa.func.count().filter(withdrawn_since)
            ).where(r.study_id == study_id)
        ).one()
    return SinceRun(completed=int(completed), withdrawn=int(withdrawn))
