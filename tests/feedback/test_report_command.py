"""`vakstem report benchmarks` and `vakstem report summary` on the command line: one HTML (and
PDF) file per qualifying organisation, nothing about the others, clear errors."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from tests.feedback.factories import complete
from typer.testing import CliRunner

from vakstem.cli import app
from vakstem.feedback.store import public_summary_enabled
from vakstem.instrument.loader import load_study_file
from vakstem.service.responses import ResponseService
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE

runner = CliRunner()
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

#: Organisation code -> completed responses. Zwolle (193) has 10, but with The Hague's 3 the
#: respondents without a report would be 3, so Zwolle, the smallest, goes without one too.
GROUPS = {363: 12, 14: 11, 193: 10, 518: 3}


@pytest.fixture(scope="module")
def db(module_database_url: str) -> Iterator[str]:
    url = module_database_url
    engine: Engine = open_database(url)
    load_study(engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, "klantmanagers", "open")
    service = ResponseService(engine)
    rng = random.Random(11)
    for code, n in GROUPS.items():
        for _ in range(n):
            complete(service, rng, organisatie=code, cl_2=80 + code % 50)
    engine.dispose()
    yield url


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["report", *args])
    return result.exit_code, result.output


def test_one_html_report_per_qualifying_organisation_named_by_its_code(
    db: str, tmp_path: Path
) -> None:
    code, output = _run("benchmarks", "klantmanagers", "--out", str(tmp_path), "--database-url", db)
    assert code == 0, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["14.html", "363.html"]
    amsterdam = (tmp_path / "363.html").read_text(encoding="utf-8")
    assert "Benchmark voor organisatie 363: Amsterdam" in amsterdam
    assert "Beslisruimte" in amsterdam and "Caseload" in amsterdam
    # Self-contained: no links to other files or the network.
    for reference in ("<link", "src=", "href=", "url(", "@import"):
        assert reference not in amsterdam
    for report in tmp_path.iterdir():
        text = report.read_text(encoding="utf-8")
        for named in ("Zwolle", "Gravenhage", "organisatie 193", "organisatie 518"):
            assert named not in text
    assert "193" not in output and "518" not in output


def test_reports_give_respondent_numbers_in_bands_only(db: str, tmp_path: Path) -> None:
    _run("benchmarks", "klantmanagers", "--out", str(tmp_path), "--database-url", db)
    text = (tmp_path / "363.html").read_text(encoding="utf-8")
    assert "Jouw organisatie: 10–19 klantmanagers" in text
    assert "Andere organisaties: 20–29 klantmanagers" in text


def test_english_reports(db: str, tmp_path: Path) -> None:
    code, output = _run(
        "benchmarks", "klantmanagers", "--out", str(tmp_path), "-l", "en", "--database-url", db
    )
    assert code == 0, output
    assert "Benchmark for organisation 14" in (tmp_path / "14.html").read_text(encoding="utf-8")


def _pdftotext() -> str:
    found = shutil.which("pdftotext")
    if found is None:
        if IN_CI:
            pytest.fail("pdftotext not found (install poppler-utils; required in CI)")
        pytest.skip("pdftotext not found (install poppler-utils)")
    return found


def test_pdf_reports_open_and_hold_the_reports_text(
    db: str, tmp_path: Path, chromium_path: str
) -> None:
    pdftotext = _pdftotext()
    code, output = _run(
        "benchmarks", "klantmanagers", "--out", str(tmp_path), "--pdf",
        "--chromium", chromium_path, "--database-url", db,
    )  # fmt: skip
    assert code == 0, output
    pdf = tmp_path / "363.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Benchmark voor organisatie 363" in text
    assert "Beslisruimte" in text and "Werkdruk" in text


def test_pdf_without_chromium_is_a_clear_error_before_any_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _run(
        "benchmarks", "klantmanagers", "--out", str(out), "--pdf",
        "--chromium", str(tmp_path / "geen-chromium"), "--database-url", db,
    )  # fmt: skip
    assert code == 1
    assert "Chromium not found" in output and "Traceback" not in output
    assert not out.exists()


def test_unknown_study_and_unwritable_folder_are_named(db: str, tmp_path: Path) -> None:
    code, output = _run("benchmarks", "nergens", "--out", str(tmp_path), "--database-url", db)
    assert code == 1 and "no study 'nergens'" in output
    a_file = tmp_path / "bestand"
    a_file.write_text("x")
    code, output = _run("benchmarks", "klantmanagers", "--out", str(a_file), "--database-url", db)
    assert code == 1 and "is a file, not a folder" in output


def test_summary_switch_on_and_off(db: str) -> None:
    code, output = _run("summary", "klantmanagers", "--on", "--database-url", db)
    assert code == 0 and "is on" in output
    engine = open_database(db)
    try:
        assert public_summary_enabled(engine, "klantmanagers")
        code, output = _run("summary", "klantmanagers", "--off", "--database-url", db)
        assert code == 0 and not public_summary_enabled(engine, "klantmanagers")
    finally:
        engine.dispose()
    code, output = _run("summary", "klantmanagers", "--database-url", db)
    assert code == 2 and "--on or --off" in output
    code, output = _run("summary", "nergens", "--on", "--database-url", db)
    assert code == 1 and "no study 'nergens'" in output
