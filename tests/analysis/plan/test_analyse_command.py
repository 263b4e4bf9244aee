"""`vakstem analyse` on the command line: from an export csv and from the store (SQLite and
PostgreSQL), and each bad input as one clear error line with exit code 2."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from vakstem.analysis.plan import data_from_records, simulated_records
from vakstem.commands.analyse import analyse
from vakstem.export.api import export_to_file
from vakstem.export.codebook import find_study_file
from vakstem.export.table import ExportOptions
from vakstem.instrument.loader import load_study_file
from vakstem.simulate.api import population_for
from vakstem.simulate.draw import draw_population
from vakstem.simulate.writer import write_responses
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status

runner = CliRunner()
app = typer.Typer()
app.command()(analyse)
CHEAP = "quality,scores,reliability,open_answers"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def export_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    study = load_study_file(find_study_file("klantmanagers"))
    records, _truth = simulated_records(study, 200, seed=8, mess=True)
    path = tmp_path_factory.mktemp("export") / "klantmanagers.csv"
    data_from_records(study, records).frame.to_csv(path, index=False)
    return path


def test_analyse_an_export_writes_the_report_and_the_json(export_csv: Path, tmp_path: Path) -> None:
    report, results = tmp_path / "report.html", tmp_path / "results.json"
    code, output = run(
        "klantmanagers", "--data", str(export_csv), "--out", str(report), "--json", str(results),
        "--steps", CHEAP, "--seed", "3",
    )  # fmt: skip
    assert code == 0, output
    document = json.loads(results.read_text("utf-8"))
    assert (
        document["reproducibility"]["data_sha256"]
        == hashlib.sha256(export_csv.read_bytes()).hexdigest()
    )
    assert document["reproducibility"]["seed"] == 3
    assert document["steps"]["quality"]["status"] == "ok"
    assert document["steps"]["structural"]["message"] == "not requested in this run"
    html = report.read_text("utf-8")
    assert '<section id="reliability"' in html and "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--data", "{csv}"], "no study file 'nosuch'"),
        (["klantmanagers", "--data", "{missing}"], "cannot read"),
        (["klantmanagers", "--data", "{csv}", "--steps", "quality,nope"], "unknown step"),
        (["klantmanagers", "--data", "{narrow}"], "lacks column(s) the analysis plan"),
    ],
)
def test_bad_input_is_one_clear_error(
    export_csv: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    narrow = tmp_path / "narrow.csv"
    pd.read_csv(export_csv).iloc[:, :30].to_csv(narrow, index=False)
    filled = [
        a.format(csv=export_csv, missing=tmp_path / "absent.csv", narrow=narrow) for a in args
    ]
    code, output = run(*filled, "--out", str(tmp_path / "r.html"))
    assert code == 2, output
    assert message in output and "Traceback" not in output
    assert not (tmp_path / "r.html").exists()


def test_report_folder_must_exist(export_csv: Path, tmp_path: Path) -> None:
    code, output = run(
        "klantmanagers", "--data", str(export_csv), "--out", str(tmp_path / "no" / "r.html")
    )
    assert code == 2 and "folder does not exist" in output


def test_analyse_from_the_store_hashes_the_same_table_as_the_export(
    database_url: str, tmp_path: Path
) -> None:
    study_file = find_study_file("klantmanagers")
    study = load_study_file(study_file)
    engine = open_database(database_url)
    try:
        load_study(engine, study, study_file.read_text("utf-8"))
        set_status(engine, study.id, "open")
        frame = draw_population(study, population_for(study), 40, seed=2)
        write_responses(
            engine, study.id, study, frame, start=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), seed=2
        )
        exported = export_to_file(
            engine, study.id, "csv", tmp_path / "all.csv",
            ExportOptions(completed_only=False, include_test=True, open_text=True),
        )  # fmt: skip
    finally:
        engine.dispose()
    results = tmp_path / "results.json"
    code, output = run(
        "klantmanagers", "--database-url", database_url, "--out", str(tmp_path / "r.html"),
        "--json", str(results), "--steps", "quality,scores",
    )  # fmt: skip
    assert code == 0, output
    document = json.loads(results.read_text("utf-8"))
    assert document["reproducibility"]["data_sha256"] == exported.sha256
    assert document["steps"]["quality"]["responses"] == exported.rows


def test_unknown_study_in_the_database(database_url: str, tmp_path: Path) -> None:
    open_database(database_url).dispose()
    code, output = run("nosuch", "--database-url", database_url, "--out", str(tmp_path / "r.html"))
    assert code == 2 and "no study 'nosuch' in this database" in output


def test_vakstem_cli_offers_the_analyse_command() -> None:
    from vakstem.cli import app as vakstem_app

    result = runner.invoke(vakstem_app, ["analyse", "--help"])
    assert result.exit_code == 0 and "--bootstrap" in result.output and "--data" in result.output
