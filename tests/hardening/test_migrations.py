"""Migrations upgrade a database that holds data: data written under the first schema stays
intact through every later migration, one step at a time up to head (each step is an
"upgrade from the previous release"), and the upgraded database is usable by the current
service. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from vakstem.service.responses import ResponseService
from vakstem.store.engine import _alembic_config, create_database_engine, schema_revision

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC).replace(tzinfo=None)
STUDY = {
    "id": "oud",
    "title": "Oud onderzoek",
    "pages": [{"id": "p1", "items": [{"id": "jaren", "type": "integer", "text": "Jaren"}]}],
}


def _steps() -> list[str]:
    script = ScriptDirectory.from_config(_alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _upgrade(engine: sa.Engine, target: str) -> None:
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, target)


def _seed(conn: sa.Connection) -> None:
    """Rows written with plain SQL against the first schema (not today's table objects)."""
    from vakstem.instrument.schema import Study

    model = Study.model_validate(STUDY).model_dump_json()
    conn.execute(
        sa.text(
            "INSERT INTO studies (id, status, current_version, refusals, created_at, updated_at)"
            " VALUES ('oud', 'open', 'h1', 0, :t, :t)"
        ),
        {"t": NOW},
    )
    conn.execute(
        sa.text(
            "INSERT INTO instrument_versions (study_id, hash, label, source_text, model_json,"
            " created_at) VALUES ('oud', 'h1', '1', 'id: oud', :m, :t)"
        ),
        {"m": model, "t": NOW},
    )
    conn.execute(
        sa.text(
            "INSERT INTO responses (id, study_id, version_hash, language, status, is_test,"
            " current_page, path, seed, orders, resume_hash, started_at, updated_at) VALUES"
            " ('r1', 'oud', 'h1', 'nl', 'active', false, 'p1', :path, 7, :orders, 'x' , :t, :t)"
        ),
        {"path": json.dumps([]), "orders": json.dumps({}), "t": NOW},
    )
    conn.execute(
        sa.text(
            "INSERT INTO answers (response_id, variable, value, page_id, updated_at)"
            " VALUES ('r1', 'jaren', :v, 'p1', :t)"
        ),
        {"v": json.dumps(12), "t": NOW},
    )


def _data(conn: sa.Connection) -> list[tuple[object, ...]]:
    rows = conn.execute(
        sa.text(
            "SELECT r.id, r.study_id, r.status, r.seed, a.variable, a.value FROM responses r"
            " JOIN answers a ON a.response_id = r.id ORDER BY r.id"
        )
    ).all()
    return [(*row[:5], json.loads(row[5]) if isinstance(row[5], str) else row[5]) for row in rows]


def test_data_survives_every_migration_step_up_to_head(empty_database_url: str) -> None:
    steps = _steps()
    assert len(steps) >= 2
    engine = create_database_engine(empty_database_url)
    try:
        _upgrade(engine, steps[0])
        with engine.begin() as conn:
            _seed(conn)
            before = _data(conn)
        assert before == [("r1", "oud", "active", 7, "jaren", 12)]
        for step in steps[1:]:
            _upgrade(engine, step)
            assert schema_revision(engine) == step
            with engine.connect() as conn:
                assert _data(conn) == before, step
        # The current service reads the upgraded response.
        state = ResponseService(engine).state("r1")
        assert state.answers == {"jaren": 12}
    finally:
        engine.dispose()
