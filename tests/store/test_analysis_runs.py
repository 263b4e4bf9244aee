"""Stored analysis runs on SQLite and PostgreSQL: the table comes from the migration, a run
keeps its provenance and results, the latest run wins, and bad input gets a clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from vakstem.service.types import StudyNotFound
from vakstem.store import open_database
from vakstem.store.analysis_runs import (
    AnalysisRunError,
    latest_run,
    latest_run_id,
    save_run,
)
from vakstem.store.tables import studies


def _results(data: str, analysed: int) -> dict[str, Any]:
    return {
        "study": {"id": "runs"},
        "reproducibility": {
            "vakstem_version": "0.1.0",
            "data_sha256": data * 64,
            "plan_sha256": "b" * 64,
            "seed": 20240601,
            "rows_in_data": analysed + 3,
        },
        "steps": {"quality": {"id": "quality", "status": "ok", "analysed": analysed}},
    }


def test_runs_are_stored_and_the_latest_one_is_read_back(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        assert "analysis_runs" in sa.inspect(engine).get_table_names()
        moment = datetime(2026, 3, 1, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                studies.insert().values(
                    id="runs", status="open", created_at=moment, updated_at=moment
                )
            )
        assert latest_run(engine, "runs") is None and latest_run_id(engine, "runs") is None
        save_run(engine, "runs", _results("a", 40), now=moment)
        second = save_run(engine, "runs", _results("c", 41), now=datetime(2026, 3, 2, tzinfo=UTC))
        run = latest_run(engine, "runs")
        assert run is not None and run.id == second == latest_run_id(engine, "runs")
        assert run.n_used == 41 and run.data_sha256 == "c" * 64 and run.seed == 20240601
        assert run.created_at == datetime(2026, 3, 2, tzinfo=UTC)
        assert run.results["steps"]["quality"]["analysed"] == 41
    finally:
        engine.dispose()


def test_saving_for_an_unknown_study_or_without_provenance_is_a_clear_error(
    database_url: str,
) -> None:
    engine = open_database(database_url)
    try:
        with pytest.raises(StudyNotFound):
            save_run(engine, "nobody", _results("a", 40))
        with pytest.raises(AnalysisRunError, match="reproducibility"):
            save_run(engine, "nobody", {"steps": {}})
    finally:
        engine.dispose()
