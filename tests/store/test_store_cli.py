"""`vakstem study load|list|open|close|archive` against a real database (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vakstem
from vakstem.cli import app
from vakstem.store import open_database
from vakstem.store.studies import get_study, list_studies

Run = Callable[..., tuple[int, str]]
EXAMPLE = Path(vakstem.__file__).parent / "studies" / "voorbeeld" / "study.yaml"


@pytest.fixture
def run(database_url: str) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(
            app, ["study", *args], env={"VAKSTEM_DATABASE_URL": database_url, "COLUMNS": "200"}
        )
        return result.exit_code, result.output

    return invoke


def test_load_stores_a_new_version_then_finds_it_again(run: Run, database_url: str) -> None:
    code, out = run("load", str(EXAMPLE))
    assert code == 0, out
    assert "voorbeeld" in out and "new version" in out and "draft" in out
    code, out = run("load", str(EXAMPLE))
    assert code == 0 and "unchanged" in out
    engine = open_database(database_url)
    try:
        stored = get_study(engine, "voorbeeld")
        assert stored.version_hash[:12] in out
    finally:
        engine.dispose()


def test_load_of_a_changed_file_makes_a_new_version(run: Run, tmp_path: Path) -> None:
    run("load", str(EXAMPLE))
    changed = tmp_path / "study.yaml"
    changed.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace('version: "1"', 'version: "2"'),
        encoding="utf-8",
    )
    code, out = run("load", str(changed))
    assert code == 0 and "new version" in out and "version 2" in out


def test_load_of_a_broken_file_prints_problems_and_stores_nothing(
    run: Run,
    tmp_path: Path,
    database_url: str,
) -> None:
    broken = tmp_path / "kapot.yaml"
    broken.write_text("id: kapot\ntitle: x\npages:\n  - id: p1\n    items: [\n", encoding="utf-8")
    code, out = run("load", str(broken))
    assert code == 1 and "kapot.yaml" in out and "not loaded" in out
    assert "Traceback" not in out
    code, out = run("load", str(tmp_path / "bestaat_niet.yaml"))
    assert code == 1 and "file not found" in out
    engine = open_database(database_url)
    try:
        assert list_studies(engine) == []
    finally:
        engine.dispose()


def test_open_close_and_list(run: Run) -> None:
    code, out = run("list")
    assert code == 0 and "No studies stored yet" in out
    run("load", str(EXAMPLE))
    code, out = run("open", "voorbeeld")
    assert code == 0 and "now open" in out
    code, out = run("list")
    assert code == 0
    line = next(x for x in out.splitlines() if "voorbeeld" in x)
    assert "open" in line and " 0 " in line
    code, out = run("close", "voorbeeld")
    assert code == 0 and "now closed" in out
    code, out = run("archive", "voorbeeld")
    assert code == 0 and "now archived" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("open", "niets"), "no study 'niets'"),
        (("close", "voorbeeld"), "cannot go from draft to closed"),
        (("archive", "voorbeeld"), "cannot go from draft to archived"),
    ],
)
def test_status_errors_are_clear(run: Run, args: tuple[str, ...], message: str) -> None:
    run("load", str(EXAMPLE))
    code, out = run(*args)
    assert code == 1 and message in out and "Traceback" not in out


def test_unusable_database_is_a_clear_error() -> None:
    result = CliRunner().invoke(
        app, ["study", "list"], env={"VAKSTEM_DATABASE_URL": "mysql://x@localhost/db"}
    )
    assert result.exit_code == 1 and "unsupported database" in result.output
