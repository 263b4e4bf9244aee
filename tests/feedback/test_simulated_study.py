"""Feedback over a realistically simulated klantmanager study in the store (the simulator
submits respondents through the respondent service, with dropouts, test responses and
refusals): the data read back are the completed non-test responses only, and every surface
passes the disclosure audit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from tests.feedback.audit import audit, audit_lines, published_counts, statistics

from vakstem.feedback.benchmarks import build_benchmarks, qualifying
from vakstem.feedback.data import completed_ids, load_feedback_data
from vakstem.feedback.mirror import build_aggregates
from vakstem.feedback.summary import build_summary, render_summary
from vakstem.instrument.loader import load_study_file
from vakstem.simulate.api import simulate
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE


@pytest.fixture(scope="module")
def engine(module_database_url: str) -> Iterator[Engine]:
    # Simulated once per backend; the module's tests read it.
    engine = open_database(module_database_url)
    load_study(engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, "klantmanagers", "open")
    simulate(engine, "klantmanagers", n=160, seed=4, organisations=6)
    yield engine
    engine.dispose()


def test_feedback_reads_exactly_the_completed_non_test_responses(engine: Engine) -> None:
    data = load_feedback_data(engine, "klantmanagers")
    assert data.ids == frozenset(completed_ids(engine, "klantmanagers"))
    assert 0 < len(data.ids) < 160  # dropouts, refusals and test responses are left out
    assert data.frame["score:br"].notna().mean() > 0.9


def test_every_surface_of_a_simulated_study_passes_the_disclosure_audit(engine: Engine) -> None:
    data = load_feedback_data(engine, "klantmanagers")
    summary = build_summary(data, "nl", findings=lambda *_: None)
    aggregates = build_aggregates(data)
    audit(
        published_counts(summary) + published_counts(aggregates),
        statistics(summary) + statistics(aggregates),
        data.k,
    )
    audit_lines(summary.disclosure)
    assert summary.n.value == len(data.ids)
    html = render_summary(summary)
    assert f"{len(data.ids)} klantmanagers hebben" in html
    disclosure, _pairs = qualifying(data)
    audit_lines(disclosure)
    reports = build_benchmarks(data)
    assert reports, "six organisations over ~140 completes: some must qualify"
    audit([c for r in reports for c in (r.n, r.others_n)], statistics(reports), data.k)
