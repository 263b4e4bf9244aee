"""Property tests over the real surface builders: for random studies' worth of respondents
(group sizes, organisations, types, sizes, open answers, scores), no number on the public
summary, the mirror or a benchmark report is computed from fewer than k responses, and no two
published counts differ by a group of 1 to k-1 respondents."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.feedback.audit import audit, audit_lines, published_counts, statistics
from tests.feedback.factories import THEME_TEXTS, answers, klantmanagers

from vakstem.feedback.benchmarks import build_benchmarks, qualifying, render_benchmark
from vakstem.feedback.data import FeedbackData, frame_from_answers
from vakstem.feedback.mirror import build_aggregates, build_mirror, render_mirror
from vakstem.feedback.summary import build_summary, render_summary
from vakstem.instrument.schema import StudySettings

ORGS = (363, 14, 193, 518, 9999, None)

respondent = st.fixed_dictionaries(
    {
        "org": st.sampled_from(ORGS),
        "org_code": st.sampled_from((None, 5003, 5004)),
        "type": st.sampled_from((1, 2, 3, 4, None)),
        "size": st.sampled_from((1, 2, 3, 4, 5, 6, 9, None)),
        "text": st.sampled_from((None, *THEME_TEXTS)),
        "level": st.floats(1, 5),
    }
)


def _data(k: int, people: list[dict[str, Any]], seed: int) -> FeedbackData:
    study = klantmanagers().model_copy(
        update={"settings": StudySettings(k_min=k, mirror_min=max(k, 5))}
    )
    rng = random.Random(seed)
    by_id: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(people):
        a = answers(
            rng,
            organisation=p["org"],
            org_type=p["type"],
            grootte=p["size"] if p["org"] == 9999 else None,
            open_text=p["text"],
            level=p["level"],
        )
        if p["org"] == 9999 and p["org_code"] is not None:
            a["org_code"] = p["org_code"]
        by_id[f"r{i:03d}"] = a
    return frame_from_answers(study, by_id)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(5, 12),
    people=st.lists(respondent, min_size=0, max_size=70),
    seed=st.integers(0, 1000),
)
def test_public_surfaces_never_show_a_number_from_fewer_than_k(
    k: int, people: list[dict[str, Any]], seed: int
) -> None:
    data = _data(k, people, seed)
    summary = build_summary(data, "nl", findings=lambda *_: None)
    aggregates = build_aggregates(data)
    mirror = build_mirror(aggregates, {})
    # Both are public, so both together: differences across the two count as well.
    counts = published_counts(summary) + published_counts(aggregates)
    audit(counts, statistics(summary) + statistics(mirror), k)
    audit_lines(summary.disclosure)
    render_summary(summary)
    render_mirror(mirror, "en")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(5, 12),
    sizes=st.lists(st.integers(0, 25), min_size=len(ORGS), max_size=len(ORGS)),
    seed=st.integers(0, 1000),
)
def test_benchmark_reports_never_rest_on_fewer_than_k(k: int, sizes: list[int], seed: int) -> None:
    # Group sizes drawn per organisation, so small groups and small remainders are common.
    rng = random.Random(seed)
    people = [
        {"org": org, "org_code": 5003, "type": 1, "size": 5, "text": None,
         "level": rng.uniform(1, 5)}
        for org, n in zip(ORGS, sizes, strict=True)
        for _ in range(n)
    ]  # fmt: skip
    data = _data(k, people, seed)
    disclosure, _pairs = qualifying(data)
    audit_lines(disclosure)
    reports = build_benchmarks(data)
    counts = [c for r in reports for c in (r.n, r.others_n)]
    audit(counts, statistics(reports), k)
    for report in reports:
        own = data.frame.index[data.frame["org"] == report.code]
        assert len(own) >= k and len(data.frame) - len(own) >= k
        html = render_benchmark(data, report)
        # An organisation without a report is named in no report.
        for code in {c for c in data.frame["org"].dropna()} - {r.code for r in reports}:
            assert f"organisatie {code}" not in html
