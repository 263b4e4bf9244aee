"""A study cannot open without a privacy statement, on every path that opens one: the store's
`set_status` (which the console, `vakstem study open`, the demo and the simulator all use), and
an open study cannot get a version without one. A fieldwork window never opens a study by
itself. The shipped studies have a statement and open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from tests.service.factories import PRIVACY
from typer.testing import CliRunner

import vakstem
from vakstem.cli import app
from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Item, ItemType, Page, Study
from vakstem.service.audit import Actor
from vakstem.service.console import PrivacyRequired, change_status
from vakstem.store import open_database
from vakstem.store.studies import (
    NO_PRIVACY_TO_OPEN,
    NO_PRIVACY_WHILE_OPEN,
    PrivacyStatementMissing,
    StudyStatus,
    get_study,
    load_study,
    set_fieldwork,
    set_status,
)

STUDIES = Path(vakstem.__file__).parent / "studies"


def bare_study(version: str = "1") -> Study:
    """A study as a researcher first writes it: questions, no privacy statement yet."""
    return Study(
        id="kaal",
        version=version,
        title="Kaal onderzoek",
        pages=(Page(id="p1", items=(Item(id="jaren", type=ItemType.INTEGER, text="Jaren?"),)),),
    )


def with_privacy(study: Study) -> Study:
    return study.model_copy(update={"privacy": PRIVACY})


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def test_a_draft_without_privacy_statement_loads_but_does_not_open(engine: Engine) -> None:
    load_study(engine, bare_study(), "src")
    with pytest.raises(PrivacyStatementMissing) as refused:
        set_status(engine, "kaal", "open")
    assert str(refused.value) == NO_PRIVACY_TO_OPEN
    assert "privacy block" in str(refused.value)
    assert get_study(engine, "kaal").status is StudyStatus.DRAFT


def test_the_study_opens_once_a_version_with_privacy_statement_is_loaded(engine: Engine) -> None:
    load_study(engine, bare_study(), "src")
    load_study(engine, with_privacy(bare_study(version="2")), "src")
    assert set_status(engine, "kaal", "open") is StudyStatus.OPEN


def test_an_open_study_refuses_a_version_without_privacy_statement(engine: Engine) -> None:
    digest, _ = load_study(engine, with_privacy(bare_study()), "src")
    set_status(engine, "kaal", "open")
    with pytest.raises(PrivacyStatementMissing, match="needs a privacy statement"):
        load_study(engine, bare_study(version="2"), "src")
    stored = get_study(engine, "kaal")
    assert stored.version_hash == digest and stored.study.privacy == PRIVACY


def test_reopening_checks_the_current_version(engine: Engine) -> None:
    """Closed, a study may get a version without a statement (fixing a typo in a draft copy),
    but then it cannot be reopened."""
    load_study(engine, with_privacy(bare_study()), "src")
    set_status(engine, "kaal", "open")
    set_status(engine, "kaal", "closed")
    load_study(engine, bare_study(version="2"), "src")
    with pytest.raises(PrivacyStatementMissing):
        set_status(engine, "kaal", "open")
    assert get_study(engine, "kaal").status is StudyStatus.CLOSED


def test_a_fieldwork_window_does_not_open_a_draft(engine: Engine) -> None:
    load_study(engine, bare_study(), "src")
    now = datetime.now(UTC)
    set_fieldwork(engine, "kaal", opens_at=now - timedelta(days=1), closes_at=now + timedelta(1))
    stored = get_study(engine, "kaal")
    assert stored.status is StudyStatus.DRAFT and not stored.accepts_responses(now)


def test_console_service_refuses_with_its_own_error_and_records_nothing(engine: Engine) -> None:
    from vakstem.service import audit

    load_study(engine, bare_study(), "src")
    with pytest.raises(PrivacyRequired) as refused:
        change_status(engine, "kaal", "open", actor=Actor.system("test"))
    assert refused.value.status == 409 and refused.value.detail == NO_PRIVACY_TO_OPEN
    assert not [e for e in audit.entries(engine, study_id="kaal") if e.action == "status_changed"]


@pytest.mark.parametrize("name", ["voorbeeld", "klantmanagers"])
def test_shipped_studies_have_a_statement_and_open(engine: Engine, name: str) -> None:
    path = STUDIES / name / "study.yaml"
    study = load_study_file(path)
    assert study.privacy is not None
    load_study(engine, study, path.read_text(encoding="utf-8"))
    assert set_status(engine, name, "open") is StudyStatus.OPEN


def test_command_line_open_and_load_are_refused_with_the_reason(
    database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"VAKSTEM_DATABASE_URL": database_url, "COLUMNS": "200"}
    bare = tmp_path / "kaal.yaml"
    bare.write_text(dump_study_yaml(bare_study()), encoding="utf-8")
    full = tmp_path / "kaal_privacy.yaml"
    full.write_text(dump_study_yaml(with_privacy(bare_study(version="2"))), encoding="utf-8")

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["study", *args], env=env)
        return result.exit_code, " ".join(result.output.split())

    assert run("load", str(bare))[0] == 0
    code, out = run("open", "kaal")
    assert code == 1 and "no privacy statement, so it cannot open" in out
    assert run("load", str(full))[0] == 0
    code, out = run("open", "kaal")
    assert code == 0 and "now open" in out
    code, out = run("load", str(bare))
    assert code == 1 and "was not loaded" in out and NO_PRIVACY_WHILE_OPEN in out
    engine = open_database(database_url)
    try:
        assert get_study(engine, "kaal").study.privacy is not None
    finally:
        engine.dispose()
