"""Retention and deletion: `vakstem purge` removes test responses and idle unfinished ones
(and nothing else), and a deleted response is gone from the tables, the export, the dashboard's
cached records and the feedback data, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.console.helpers import World, build_world, login

from vakstem.feedback.data import completed_ids, completed_state
from vakstem.service.console import RecordCache
from vakstem.service.responses import ResponseService
from vakstem.service.retention import RetentionError, delete_responses, purge, purge_unfinished
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.accounts import response_exclusions
from vakstem.store.tables import answers, page_events, responses
from vakstem.web.app import create_app

VAKSTEM = Path(sys.executable).parent / "vakstem"


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    engine = open_database(database_url)
    yield build_world(engine)
    engine.dispose()


def _traces(engine: Engine, response_id: str) -> dict[str, int]:
    """Rows that mention the response, per table."""
    with engine.connect() as conn:
        return {
            table.name: conn.execute(
                sa.select(sa.func.count()).select_from(table).where(column == response_id)
            ).scalar_one()
            for table, column in (
                (responses, responses.c.id),
                (answers, answers.c.response_id),
                (page_events, page_events.c.response_id),
                (response_exclusions, response_exclusions.c.response_id),
            )
        }


def _ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(responses.c.id)).scalars())


def test_purge_deletes_test_and_idle_unfinished_responses_only(world: World) -> None:
    service = ResponseService(world.engine)
    trial = service.start("alpha", test=True)
    service.submit_page(trial.id, "p1", {"org_type": 1})
    before = _ids(world.engine)
    result = purge(world.engine, test=True)
    assert result.test_responses == 1
    assert _ids(world.engine) == before - {trial.id}
    assert not any(_traces(world.engine, trial.id).values())
    # The half-way response is idle for 0 days now: not yet 30 days.
    assert purge_unfinished(world.engine, 30) == 0
    later = datetime.now(UTC) + timedelta(days=31)
    assert purge_unfinished(world.engine, 30, now=later) == 1
    assert _ids(world.engine) == {world.completed}
    assert not any(_traces(world.engine, world.active).values())


def test_purge_refuses_an_unknown_study_and_negative_days(world: World) -> None:
    with pytest.raises(RetentionError, match="no study 'gamma'"):
        purge(world.engine, study_id="gamma", test=True)
    with pytest.raises(RetentionError, match="negative"):
        purge_unfinished(world.engine, -1)


def test_deleted_response_is_gone_from_tables_export_dashboard_and_feedback(
    world: World, tmp_path: Path
) -> None:
    service = ResponseService(world.engine)
    other = service.start("alpha")
    service.submit_page(other.id, "p1", {"org_type": 1, "opm": "Nog een opmerking"})
    service.submit_page(other.id, "p2", {"jaren": 3})
    cache = RecordCache()
    assert world.completed in {r.id for r in cache.records(world.engine, "alpha")}
    assert world.completed in completed_ids(world.engine, "alpha")
    state_before = completed_state(world.engine, "alpha")
    settings = Settings(data_dir=tmp_path, secret_key="retention-secret")
    with TestClient(create_app(settings, world.engine), follow_redirects=False) as client:
        login(client, "owner@example.org")
        export = client.get("/console/studies/alpha/export?format=csv")
        assert "Mijn geheime opmerking" in export.text
        with world.engine.begin() as conn:
            assert delete_responses(conn, [world.completed]) == 1
        export = client.get("/console/studies/alpha/export?format=csv")
        assert export.status_code == 200
        assert "Mijn geheime opmerking" not in export.text
        assert world.completed not in export.text
        assert "Nog een opmerking" in export.text
        listing = client.get("/console/studies/alpha/responses")
        assert world.completed not in listing.text
    assert not any(_traces(world.engine, world.completed).values())
    assert world.completed not in {r.id for r in cache.records(world.engine, "alpha")}
    assert completed_ids(world.engine, "alpha") == [other.id]
    # The feedback caches' key sees the deletion as one (not as responses only added).
    state_after = completed_state(world.engine, "alpha")
    assert not state_after.same_as(state_before)
    assert not state_after.only_added_to(state_before)


def test_purge_command_reports_counts_and_refuses_no_choice(
    database_url: str, tmp_path: Path
) -> None:
    engine = open_database(database_url)
    try:
        build_world(engine)
        ResponseService(engine).start("alpha", test=True)
    finally:
        engine.dispose()
    env = {**os.environ, "VAKSTEM_DATABASE_URL": database_url, "VAKSTEM_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [str(VAKSTEM), "purge", "--test", "--unfinished-days", "30", "--contacts"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "test responses deleted: 1" in done.stdout
    assert "unfinished responses deleted: 0" in done.stdout
    nothing = subprocess.run(
        [str(VAKSTEM), "purge"], env=env, capture_output=True, text=True, timeout=120
    )
    assert nothing.returncode == 1
    assert "say what to purge" in nothing.stderr and "Traceback" not in nothing.stderr
