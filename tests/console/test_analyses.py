"""The console's list of stored analysis runs: provenance of each run, what changed in the
responses since the newest (completes it lacks, withdrawals it still counts), the report as
a download, in Dutch and English, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from vakstem.analysis.plan import PlanOptions, data_from_store, run_plan
from vakstem.service.responses import ResponseService
from vakstem.store.analysis_runs import changes_since, save_run
from vakstem.store.studies import get_study

from .helpers import World, login


def store_run(world: World, when: datetime) -> int:
    study = get_study(world.engine, "alpha").study
    results = run_plan(study, data_from_store(world.engine, study), PlanOptions(bootstrap=0))
    return save_run(world.engine, "alpha", results.to_dict(), now=when)


def complete_one(world: World) -> str:
    """A completed response of study alpha; its resume code."""
    service = ResponseService(world.engine)
    state = service.start("alpha")
    service.submit_page(state.id, "p1", {"org_type": 1})
    service.submit_page(state.id, "p2", {"jaren": 3})
    assert service.state(state.id).completed
    return state.resume_code


def test_no_run_yet_says_how_to_make_one(client: TestClient, world: World) -> None:
    login(client, "viewer@example.org")
    page = client.get("/console/studies/alpha/analyses?lang=en")
    assert page.status_code == 200, page.text
    assert "No analysis has been stored yet." in page.text
    assert "vakstem analyse alpha" in page.text
    assert 'href="/console/studies/alpha/analyses"' in page.text  # in the study's menu


def test_runs_are_listed_newest_first_with_their_report_and_what_changed_since(
    client: TestClient, world: World
) -> None:
    counted = complete_one(world)
    run_at = datetime.now(UTC)
    older = store_run(world, run_at - timedelta(days=2))
    newer = store_run(world, run_at)
    login(client, "viewer@example.org")
    page = client.get("/console/studies/alpha/analyses?lang=en").text
    assert page.index(f"/analyses/{newer}/report.html") < page.index(
        f"/analyses/{older}/report.html"
    )
    assert "No response was completed or withdrawn since the newest run." in page

    # After the run one respondent completes, and one the run counted withdraws; a test
    # response and a withdrawal of a response that never completed count for nothing.
    complete_one(world)
    service = ResponseService(world.engine)
    service.withdraw(counted, study_id="alpha")
    service.withdraw(world.resume_code, study_id="alpha")
    since = changes_since(world.engine, "alpha", run_at)
    assert (since.completed, since.withdrawn) == (1, 1)
    page = client.get("/console/studies/alpha/analyses?lang=en").text
    assert "Completed since, not included: 1." in page
    assert "Withdrawn since, still counted in its results until the plan runs again: 1." in page
    dutch = client.get("/console/studies/alpha/analyses?lang=nl").text
    assert "Geanalyseerde antwoorden" in dutch
    assert "Sindsdien ingetrokken, nog meegeteld tot het plan opnieuw draait: 1." in dutch

    report = client.get(f"/console/studies/alpha/analyses/{newer}/report.html")
    assert report.status_code == 200
    assert report.headers["content-disposition"].startswith('attachment; filename="alpha-analysis-')
    assert "<html" in report.text and "Meetinvariantie" in report.text
    assert client.get("/console/studies/alpha/analyses/999999/report.html").status_code == 404


def test_a_run_of_another_study_is_not_found_through_this_one(
    client: TestClient, world: World
) -> None:
    run = store_run(world, datetime.now(UTC))
    login(client, "outsider@example.org")  # owner of beta only
    assert client.get(f"/console/studies/beta/analyses/{run}/report.html").status_code == 404
    assert client.get(f"/console/studies/alpha/analyses/{run}/report.html").status_code == 404
