"""`vakstem simulate`: a run prints its counts and writes the true values; bad input is a clear
error with exit status 1 and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vakstem.commands.simulate import simulate_command

runner = CliRunner()


def app() -> typer.Typer:
    # The command function alone, so these tests do not depend on the other registrations.
    application = typer.Typer()
    application.command()(simulate_command)
    return application


def run(tmp_path: Path, database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app(),
        [*args, "--database-url", database_url],
        env={"VAKSTEM_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"},
    )
    return result.exit_code, result.output


def test_simulate_loads_the_shipped_study_and_writes_the_truth(
    tmp_path: Path, database_url: str
) -> None:
    truth = tmp_path / "truth.json"
    code, output = run(
        tmp_path,
        database_url,
        "klantmanagers",
        "--n",
        "12",
        "--seed",
        "4",
        "--organisations",
        "3",
        "--truth",
        str(truth),
        "--start",
        "2026-09-07",
    )
    assert code == 0, output
    assert "loaded and opened the shipped study klantmanagers" in output
    assert "12 simulated responses for klantmanagers from 3 organisations (seed 4)" in output
    values = json.loads(truth.read_text(encoding="utf-8"))
    assert values["simulation"]["n"] == 12
    assert values["simulation"]["fieldwork_start"].startswith("2026-09-07")
    assert {p["rhs"] for p in values["paths"] if p["lhs"] == "prof"} >= {"br", "sch", "co"}


def test_default_truth_file_is_in_the_data_folder(tmp_path: Path, database_url: str) -> None:
    code, output = run(
        tmp_path, database_url, "klantmanagers", "--n", "3", "--seed", "1", "-k", "2"
    )
    assert code == 0, output
    assert (tmp_path / "data" / "simulated-klantmanagers-truth.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["klantmanagers", "--n", "0", "--seed", "1"], "--n must be at least 1, not 0"),
        (["klantmanagers", "--n", "-3", "--seed", "1"], "--n must be at least 1, not -3"),
        (
            ["klantmanagers", "--n", "5", "--seed", "1", "--organisations", "0"],
            "--organisations must be at least 1, not 0",
        ),
        (
            ["klantmanagers", "--n", "5", "--seed", "1", "--organisations", "5000"],
            "organisations must be between 1 and 342",
        ),
        (["onbekend", "--n", "5", "--seed", "1"], "unknown study 'onbekend'"),
        (["voorbeeld", "--n", "5", "--seed", "1"], "has no population model"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, database_url: str, args: list[str], message: str
) -> None:
    code, output = run(tmp_path, database_url, *args)
    assert code == 1, output
    assert message in " ".join(output.split())
    assert "Traceback" not in output


def test_vakstem_cli_has_the_simulate_command() -> None:
    from vakstem.cli import app as vakstem_app

    result = runner.invoke(vakstem_app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--organisations" in result.output and "--truth" in result.output
