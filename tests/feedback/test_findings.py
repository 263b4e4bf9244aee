"""Main findings on the public summary, from a stored analysis run (SQLite and PostgreSQL): a
real run of the plan on simulated responses shows its findings on `/s/{study}/resultaten` in
Dutch and English; without a run the page says findings follow; a run of fewer than k
responses gives no findings."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.feedback.factories import complete

from vakstem.analysis.plan import PlanOptions, data_from_records, run_plan, simulated_records
from vakstem.feedback.findings import findings_from_results
from vakstem.feedback.store import set_public_summary
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.analysis_runs import save_run
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE
from vakstem.web.app import create_app

LATER = "De analyse is nog niet gedaan"
HEADING_NL = "Belangrijkste uitkomsten"


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(STUDY_FILE)


@pytest.fixture(scope="module")
def results(study: Study) -> dict[str, Any]:
    # A real run of the plan's cheap steps and its structural model on simulated responses,
    # without bootstrap draws (the findings then use the delta-method intervals).
    records, _truth = simulated_records(study, 150, seed=4, mess=False)
    options = PlanOptions(
        seed=5, bootstrap=0, steps=("quality", "scores", "reliability", "structural")
    )
    document: dict[str, Any] = run_plan(study, data_from_records(study, records), options).to_dict()
    assert document["steps"]["structural"]["status"] == "ok"
    return document


@pytest.fixture(scope="module")
def small_results(study: Study) -> dict[str, Any]:
    records, _truth = simulated_records(study, 8, seed=6, mess=False)
    options = PlanOptions(seed=5, steps=("quality", "scores", "reliability"))
    return run_plan(study, data_from_records(study, records), options).to_dict()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    load_study(engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, "klantmanagers", "open")
    service = ResponseService(engine)
    rng = random.Random(5)
    for _ in range(12):
        complete(service, rng, organisatie=363, org_type=1)
    set_public_summary(engine, "klantmanagers", True)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret")
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield client


def _findings(html: str) -> list[str]:
    start = html.index('<ul class="findings">')
    block = html[start : html.index("</ul>", start)]
    return [part.split("</li>")[0] for part in block.split("<li>")[1:]]


def test_findings_are_plain_sentences_with_standardised_paths_and_intervals(
    study: Study, results: dict[str, Any]
) -> None:
    n = results["steps"]["quality"]["analysed"]
    assert n >= results["steps"]["structural"]["models"][0]["nobs"]
    dutch = findings_from_results(study, results, "nl", 10)
    english = findings_from_results(study, results, "en", 10)
    assert dutch is not None and english is not None
    assert 3 <= len(dutch) == len(english) <= 6
    nl_text = " ".join(f.text for f in dutch)
    en_text = " ".join(f.text for f in english)
    assert "beslisruimte" in nl_text.lower() and "discretion" in en_text.lower()
    assert "95%-BI" in nl_text and "95% CI" in en_text
    assert "betrouwbaar" in nl_text and "reliab" in en_text
    # The figure of the professional action -> performance path is the run's own.
    model = results["steps"]["structural"]["models"][0]
    (perf,) = [r for r in model["regressions"] if r["lhs"] == "PERF" and r["rhs"] == "PROF"]
    beta = f"{perf['std.all']:.2f}".replace("-", "\u2212")
    assert f"β = {beta}" in en_text and f"β = {beta.replace('.', ',')}" in nl_text
    # No wording of cause and effect.
    assert "veroorzaakt" not in nl_text and "causes" not in en_text
    # Every figure rests on at least k responses: at k = the model's n the run may be shown;
    # one more and its paths may not (reliability alone is too little to report).
    assert findings_from_results(study, results, "nl", model["nobs"]) is not None
    assert findings_from_results(study, results, "nl", model["nobs"] + 1) is None
    assert findings_from_results(study, results, "nl", n + 1) is None


def test_stored_run_shows_its_findings_on_the_public_summary_in_dutch_and_english(
    engine: Engine, client: TestClient, study: Study, results: dict[str, Any]
) -> None:
    before = client.get("/s/klantmanagers/resultaten")
    assert before.status_code == 200 and LATER in before.text
    save_run(engine, "klantmanagers", results)
    dutch = client.get("/s/klantmanagers/resultaten")
    assert dutch.status_code == 200 and LATER not in dutch.text
    expected = findings_from_results(study, results, "nl", 10)
    assert expected is not None
    shown = _findings(dutch.text)
    assert len(shown) == len(expected) and "beslisruimte" in dutch.text.lower()
    assert "niet wat de oorzaak is" in dutch.text
    english = client.get("/s/klantmanagers/resultaten?lang=en")
    assert "Main findings" in english.text and "discretion" in english.text.lower()
    assert "not what causes what" in english.text
    assert len(_findings(english.text)) == len(expected)


def test_a_run_of_fewer_than_k_responses_gives_no_findings(
    engine: Engine, client: TestClient, small_results: dict[str, Any]
) -> None:
    assert small_results["steps"]["quality"]["analysed"] < 10
    save_run(engine, "klantmanagers", small_results)
    page = client.get("/s/klantmanagers/resultaten")
    assert page.status_code == 200
    assert HEADING_NL in page.text and LATER in page.text
    assert '<ul class="findings">' not in page.text
