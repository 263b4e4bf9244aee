"""`vakstem export` on the command line: files, messages and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyreadstat
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from vakstem.cli import app
from vakstem.service.responses import ResponseService
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status

from .factories import EXAMPLE, example_study
from .test_export_store import ACHTERGROND, DETAIL, SLOT, WELKOM, WERK, Clock, answer

runner = CliRunner()


@pytest.fixture
def db(database_url: str) -> Iterator[str]:
    url = database_url
    engine: Engine = open_database(url)
    load_study(engine, example_study(), EXAMPLE.read_text("utf-8"))
    set_status(engine, "voorbeeld", "open")
    service = ResponseService(engine, clock=Clock())
    pages = [
        ("welkom", WELKOM), ("achtergrond", ACHTERGROND), ("werk", WERK),
        ("afspraken_detail", DETAIL), ("tot_slot", SLOT),
    ]  # fmt: skip
    for _ in range(3):
        answer(service, pages)
    engine.dispose()
    yield url


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["export", *args])
    return result.exit_code, result.output


def test_export_writes_the_file_its_manifest_and_reports_counts(db: str, tmp_path: Path) -> None:
    out = tmp_path / "v.sav"
    code, output = run(
        "voorbeeld", "--database-url", db, "-f", "sav", "-o", str(out), "--language", "en"
    )
    assert code == 0, output
    assert "3 responses" in output and "v.sav.manifest.json" in output
    frame, meta = pyreadstat.read_sav(str(out))
    assert len(frame) == 3
    assert meta.column_names_to_labels["functie"] == "What is the main focus of your work?"
    manifest = json.loads((tmp_path / "v.sav.manifest.json").read_text("utf-8"))
    assert manifest["rows"] == 3 and manifest["filters"]["language"] == "en"


def test_format_follows_the_file_name_when_not_given(db: str, tmp_path: Path) -> None:
    code, output = run("voorbeeld", "--database-url", db, "-o", str(tmp_path / "v.parquet"))
    assert code == 0, output
    assert json.loads((tmp_path / "v.parquet.manifest.json").read_text())["format"] == "parquet"


def test_scores_and_open_text_are_added_only_when_asked(db: str, tmp_path: Path) -> None:
    assert run("voorbeeld", "--database-url", db, "-o", str(tmp_path / "a.csv"))[0] == 0
    plain = (tmp_path / "a.csv").read_text("utf-8").splitlines()[0].split(",")
    code, output = run(
        "voorbeeld", "--database-url", db, "-o", str(tmp_path / "b.csv"),
        "--with-scores", "--open-text",
    )  # fmt: skip
    assert code == 0, output
    full = (tmp_path / "b.csv").read_text("utf-8").splitlines()[0].split(",")
    assert set(full) - set(plain) == {
        "functie_anders", "uren_toelichting", "behoefte", "beslisruimte", "prestatiedruk",
        "functie_anders_mis", "uren_toelichting_mis", "behoefte_mis",
    }  # fmt: skip
    manifest = json.loads((tmp_path / "b.csv.manifest.json").read_text("utf-8"))
    assert manifest["filters"]["raw_text"] is False
    code, output = run(
        "voorbeeld", "--database-url", db, "-o", str(tmp_path / "c.csv"), "--open-text",
        "--raw-text",
    )  # fmt: skip
    assert code == 0, output
    manifest = json.loads((tmp_path / "c.csv.manifest.json").read_text("utf-8"))
    assert manifest["filters"]["raw_text"] is True


def test_existing_output_is_refused_without_force(db: str, tmp_path: Path) -> None:
    out = tmp_path / "v.csv"
    out.write_text("mine")
    code, output = run("voorbeeld", "--database-url", db, "-o", str(out))
    assert code == 1 and "use --force to overwrite" in output
    assert out.read_text() == "mine"
    assert run("voorbeeld", "--database-url", db, "-o", str(out), "--force")[0] == 0
    assert out.read_text("utf-8").startswith("response_id,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["onbekend", "-f", "csv"], "no study 'onbekend' in this database"),
        (["voorbeeld", "-f", "spss"], "unknown format 'spss'; choose one of csv, xlsx"),
        (["voorbeeld", "-o", "x.txt"], "say which format with --format"),
        (["voorbeeld", "-f", "csv", "--language", "de"], "has no language 'de'"),
        (["voorbeeld", "-f", "csv", "-o", "/nonexistent/dir/x.csv"], "does not exist"),
    ],
)
def test_bad_input_gives_one_clear_error_line(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = run(*args, "--database-url", db)
    assert code != 0
    assert message in output
    assert "Traceback" not in output
