"""`vakstem study import` and `vakstem study export-xlsform` on the command line: files written,
exit codes, the printed report, storing with --load on both databases, and bad arguments."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result
from xlsform_book import make_form

import vakstem
import vakstem.commands.xlsform
from vakstem.commands.study import study_app
from vakstem.instrument.loader import load_study_file
from vakstem.store import open_database
from vakstem.store.studies import get_source, get_study

runner = CliRunner()

SIMPLE = [
    ["type", "name", "label", "relevant"],
    ["select_one yn", "roker", "Rookt u?", ""],
    ["integer", "aantal", "Hoeveel per dag?", "${roker} = 'yes'"],
]
CHOICES = [["list_name", "name", "label"], ["yn", "yes", "Ja"], ["yn", "no", "Nee"]]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(study_app, list(args), env={"COLUMNS": "200", **(env or {})})


def test_import_writes_a_valid_study_file_and_reports_the_codes(tmp_path: Path) -> None:
    form = make_form(tmp_path / "roken.xlsx", SIMPLE, CHOICES)
    out = tmp_path / "roken.yaml"
    result = run("import", str(form), "--out", str(out))
    assert result.exit_code == 0, result.output
    study = load_study_file(out)
    assert study.variables() == ["roker", "aantal"]
    assert study.item("aantal").relevant == "${roker} = 1"  # type: ignore[union-attr]
    assert "yes -> 1, no -> 2" in result.stderr
    assert "imported roken: 1 pages, 2 items, 2 variables" in result.stderr


def test_import_without_out_prints_the_yaml_on_stdout_only(tmp_path: Path) -> None:
    form = make_form(tmp_path / "roken.xlsx", SIMPLE, CHOICES)
    result = run("import", str(form))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("id: roken\n")
    assert "Codes given to choice names" not in result.stdout


def test_import_refuses_unsupported_features_and_lists_them(tmp_path: Path) -> None:
    survey = [*SIMPLE, ["geopoint", "plek", "Waar?", ""]]
    form = make_form(tmp_path / "gps.xlsx", survey, CHOICES)
    out = tmp_path / "gps.yaml"
    result = run("import", str(form), "--out", str(out))
    assert result.exit_code == 1
    assert "row 4" in result.stderr and "plek" in result.stderr and "geopoint" in result.stderr
    assert "rerun with --skip-unsupported" in result.stderr
    assert not out.exists()
    skipped = run("import", str(form), "--out", str(out), "--skip-unsupported")
    assert skipped.exit_code == 0, skipped.output
    assert "left out" in skipped.stderr
    assert load_study_file(out).variables() == ["roker", "aantal"]


def test_import_of_a_bad_form_prints_each_problem_with_its_row(tmp_path: Path) -> None:
    survey = [*SIMPLE, ["integr", "x", "X", ""], ["text", "aantal", "Weer", ""]]
    form = make_form(tmp_path / "fout.xlsx", survey, CHOICES)
    result = run("import", str(form))
    assert result.exit_code == 1
    assert "survey sheet, row 4, column 'type': unknown type 'integr'" in result.stderr
    assert "survey sheet, row 5, column 'name': duplicate name 'aantal' (also row 3)" in (
        result.stderr
    )
    assert "was not imported (2 problems)" in result.stderr
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_import_with_load_stores_the_generated_yaml_as_source(
    tmp_path: Path, database_url: str
) -> None:
    form = make_form(tmp_path / "roken.xlsx", SIMPLE, CHOICES)
    result = run("import", str(form), "--load", env={"VAKSTEM_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert "stored roken version 1" in result.stderr and "new version" in result.stderr
    engine = open_database(database_url)
    try:
        stored = get_study(engine, "roken")
        source = get_source(engine, "roken", stored.version_hash)
    finally:
        engine.dispose()
    assert source.startswith("id: roken\n") and "${roker} = 1" in source
    again = run("import", str(form), "--load", env={"VAKSTEM_DATABASE_URL": database_url})
    assert "unchanged, already stored" in again.stderr


def test_export_by_shipped_id_and_by_path_then_import_back(tmp_path: Path) -> None:
    by_id = tmp_path / "voorbeeld.xlsx"
    result = run("export-xlsform", "voorbeeld", "--out", str(by_id))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stderr and "5 pages, 16 items" in result.stderr
    source = Path(vakstem.__file__).parent / "studies" / "klantmanagers" / "study.yaml"
    by_path = tmp_path / "km.xlsx"
    assert run("export-xlsform", str(source), "--out", str(by_path)).exit_code == 0
    back = tmp_path / "km.yaml"
    result = run("import", str(by_path), "--out", str(back))
    assert result.exit_code == 0, result.output
    assert load_study_file(back).variables() == load_study_file(source).variables()


def test_export_refuses_unknown_study_existing_file_and_broken_study(tmp_path: Path) -> None:
    out = tmp_path / "f.xlsx"
    result = run("export-xlsform", "bestaatniet", "--out", str(out))
    assert result.exit_code == 1
    assert "neither a study file nor a shipped study (shipped: klantmanagers, voorbeeld)" in (
        result.stderr
    )
    out.write_bytes(b"x")
    result = run("export-xlsform", "voorbeeld", "--out", str(out))
    assert result.exit_code == 1 and "exists; use --force" in result.stderr
    assert run("export-xlsform", "voorbeeld", "--out", str(out), "--force").exit_code == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\ntitle: X\npages: []\nchoice_lists: {a: 1}\n", encoding="utf-8")
    result = run("export-xlsform", str(broken), "--out", str(tmp_path / "b.xlsx"))
    assert result.exit_code == 1 and "has problems" in result.stderr
    assert not (tmp_path / "b.xlsx").exists()


def test_import_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    form = make_form(tmp_path / "roken.xlsx", SIMPLE, CHOICES)
    out = tmp_path / "roken.yaml"
    out.write_text("keep", encoding="utf-8")
    result = run("import", str(form), "--out", str(out))
    assert result.exit_code == 1 and "exists; use --force" in result.stderr
    assert out.read_text(encoding="utf-8") == "keep"
    assert run("import", str(form), "--out", str(out), "--force").exit_code == 0
