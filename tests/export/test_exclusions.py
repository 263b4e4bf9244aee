"""Responses a researcher excluded in the console stay out of exports and analysis data by
default; `--include-excluded` keeps them with their reason. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyreadstat
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from vakstem.analysis.plan import PlanOptions, data_from_store, run_plan
from vakstem.cli import app
from vakstem.export.api import export_to_file
from vakstem.export.database import count_excluded
from vakstem.export.table import ExportOptions
from vakstem.service.audit import Actor
from vakstem.service.console import exclude_response, include_response

from .factories import example_study
from .test_export_store import engine, responses  # noqa: F401  (fixtures)

REASON = "Ingevuld door een collega, niet door de respondent"


@pytest.fixture
def excluded(engine: Engine, responses: dict[str, str]) -> str:  # noqa: F811
    exclude_response(engine, "voorbeeld", responses["full"], REASON, actor=Actor.system("test"))
    return responses["full"]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def manifest_filters(path: Path) -> dict[str, object]:
    data = json.loads(path.with_name(path.name + ".manifest.json").read_text("utf-8"))
    filters: dict[str, object] = data["filters"]
    return filters


def test_excluded_response_is_left_out_of_csv_and_sav_by_default(
    engine: Engine,  # noqa: F811
    responses: dict[str, str],  # noqa: F811
    excluded: str,
    tmp_path: Path,
) -> None:
    options = ExportOptions(completed_only=False)
    out = tmp_path / "v.csv"
    result = export_to_file(engine, "voorbeeld", "csv", out, options)
    rows = csv_rows(out)
    ids = {r["response_id"] for r in rows}
    assert excluded not in ids
    assert responses["skipper"] in ids and responses["dropout"] in ids
    assert result.rows == len(rows)
    assert "excluded" not in rows[0] and "exclusion_reason" not in rows[0]
    assert manifest_filters(out)["include_excluded"] is False

    sav = tmp_path / "v.sav"
    export_to_file(engine, "voorbeeld", "sav", sav, options)
    frame, _ = pyreadstat.read_sav(str(sav))
    assert excluded not in set(frame["response_id"])
    assert set(frame["response_id"]) == ids
    assert count_excluded(engine, "voorbeeld", options) == 1


def test_include_excluded_keeps_it_with_its_reason_in_csv_and_sav(
    engine: Engine,  # noqa: F811
    responses: dict[str, str],  # noqa: F811
    excluded: str,
    tmp_path: Path,
) -> None:
    options = ExportOptions(completed_only=False, include_excluded=True)
    out = tmp_path / "v.csv"
    export_to_file(engine, "voorbeeld", "csv", out, options)
    rows = {r["response_id"]: r for r in csv_rows(out)}
    assert rows[excluded]["excluded"] == "1"
    assert rows[excluded]["exclusion_reason"] == REASON
    assert rows[responses["skipper"]]["excluded"] == "0"
    assert rows[responses["skipper"]]["exclusion_reason"] == ""
    assert manifest_filters(out)["include_excluded"] is True

    sav = tmp_path / "v.sav"
    export_to_file(engine, "voorbeeld", "sav", sav, options)
    frame, meta = pyreadstat.read_sav(str(sav))
    by_id = frame.set_index("response_id")
    assert by_id.loc[excluded, "excluded"] == 1
    assert by_id.loc[excluded, "exclusion_reason"] == REASON
    assert by_id.loc[responses["skipper"], "excluded"] == 0
    assert meta.column_names_to_labels["excluded"] == "Uitgesloten door onderzoeker"
    assert meta.variable_value_labels["excluded"] == {0.0: "nee", 1.0: "ja"}


def test_undone_exclusion_brings_the_response_back(
    engine: Engine,  # noqa: F811
    responses: dict[str, str],  # noqa: F811
    excluded: str,
    tmp_path: Path,
) -> None:
    include_response(engine, "voorbeeld", excluded, actor=Actor.system("test"))
    out = tmp_path / "v.csv"
    export_to_file(engine, "voorbeeld", "csv", out, ExportOptions())
    assert excluded in {r["response_id"] for r in csv_rows(out)}
    assert count_excluded(engine, "voorbeeld", ExportOptions()) == 0


def test_export_command_leaves_out_excluded_unless_asked(
    engine: Engine,  # noqa: F811
    database_url: str,
    excluded: str,
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    plain, kept = tmp_path / "plain.csv", tmp_path / "kept.csv"
    base = ["export", "voorbeeld", "--database-url", database_url, "--out"]
    first = runner.invoke(app, [*base, str(plain)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*base, str(kept), "--include-excluded"])
    assert second.exit_code == 0, second.output
    assert excluded not in {r["response_id"] for r in csv_rows(plain)}
    kept_rows = {r["response_id"]: r for r in csv_rows(kept)}
    assert kept_rows[excluded]["exclusion_reason"] == REASON
    assert manifest_filters(plain)["include_excluded"] is False
    assert manifest_filters(kept)["include_excluded"] is True


def test_analysis_data_from_the_store_leaves_excluded_responses_out(
    engine: Engine,  # noqa: F811
    responses: dict[str, str],  # noqa: F811
    excluded: str,
) -> None:
    data = data_from_store(engine, example_study())
    ids = set(data.frame["response_id"])
    assert excluded not in ids
    # The analysis reads every other response, test and unfinished ones included.
    assert {responses["skipper"], responses["dropout"], responses["test"]} <= ids
    assert data.filters["include_excluded"] is False


def test_analysis_quality_step_reports_how_many_researchers_excluded(
    engine: Engine,  # noqa: F811
    responses: dict[str, str],  # noqa: F811
    excluded: str,
) -> None:
    study = example_study()
    data = data_from_store(engine, study)
    assert data.excluded_by_researchers == 1
    results = run_plan(study, data, PlanOptions(steps=("quality",)))
    quality = results.to_dict()["steps"]["quality"]
    assert quality["excluded_by_researchers"] == 1
