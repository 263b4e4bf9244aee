"""Dashboard figures computed from plain records: per-day counts, completion rate, the page
funnel, median duration, breakdowns and the data-quality flags; and the server-drawn chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vakstem.instrument.schema import Study
from vakstem.service.dashboard import (
    DayCount,
    ResponseRecord,
    answer_blocks,
    compute_dashboard,
    daily_chart_svg,
    funnel,
    quality_flags,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _study(block: int = 10) -> Study:
    return Study.model_validate(
        {
            "id": "s",
            "title": "S",
            "choice_lists": {
                "agree": [
                    {"code": 1, "label": "oneens"},
                    {"code": 2, "label": "neutraal"},
                    {"code": 3, "label": "eens"},
                    {"code": 9, "label": "weet niet", "missing": True},
                ],
                "orgtype": [{"code": 1, "label": "Gemeente"}, {"code": 2, "label": "Regio"}],
            },
            "pages": [
                {
                    "id": "intro",
                    "items": [{"id": "org_type", "type": "single", "choices": "orgtype"}],
                },
                {
                    "id": "block",
                    "items": [
                        {
                            "id": "m",
                            "type": "matrix",
                            "choices": "agree",
                            "rows": [{"id": f"q{i}", "text": f"Q{i}"} for i in range(block)],
                        }
                    ],
                },
                {"id": "end", "items": [{"id": "open", "type": "text"}]},
            ],
        }
    )


def _rec(
    i: int, *, minutes: float | None = 10, status: str = "completed", **kw: Any
) -> ResponseRecord:
    started = kw.pop("started", T0 + timedelta(hours=i))
    completed = started + timedelta(minutes=minutes) if minutes is not None else None
    if status != "completed":
        completed = None
    return ResponseRecord(
        id=f"r{i}", status=status, started_at=started, completed_at=completed, **kw
    )


def _varied(seed: int) -> dict[str, Any]:
    return {f"q{i}": 1 + (i + seed) % 3 for i in range(10)} | {"org_type": 1 + seed % 2}


def test_speeders_are_under_a_third_of_the_median_duration() -> None:
    records = [_rec(i, minutes=m, answers=_varied(i)) for i, m in enumerate([9, 10, 11, 12, 3.2])]
    flags = quality_flags(_study(), records)
    # Median is 10 minutes; 3.2 < 10/3 is a speeder, 9 is not.
    assert flags.speeders == ("r4",)


def test_straightliner_needs_one_answer_over_a_whole_block_of_ten() -> None:
    same = {f"q{i}": 2 for i in range(10)}
    nine_same = {f"q{i}": 2 for i in range(9)}
    with_dont_know = {f"q{i}": 2 for i in range(9)} | {"q9": 9}
    records = [
        _rec(1, answers=same),
        _rec(2, answers=nine_same),
        _rec(3, answers=with_dont_know),
        _rec(4, answers=_varied(1)),
    ]
    assert quality_flags(_study(), records).straightliners == ("r1",)
    # A block of nine items is too short to call anyone a straightliner.
    assert answer_blocks(_study(block=9)) == []
    assert (
        quality_flags(
            _study(block=9), [_rec(1, answers={f"q{i}": 2 for i in range(9)})]
        ).straightliners
        == ()
    )


def test_duplicates_flag_the_later_copy_only() -> None:
    answers = _varied(3)
    records = [_rec(2, answers=answers), _rec(1, answers=answers), _rec(3, answers=_varied(4))]
    assert quality_flags(_study(), records).duplicates == ("r2",)


def test_funnel_counts_reaching_a_page_or_any_later_one() -> None:
    records = [
        _rec(1),  # completed: reached all
        _rec(2, status="active", pages_seen=frozenset({"intro"})),
        _rec(3, status="active", pages_seen=frozenset({"intro", "block"})),
        _rec(4, status="active", pages_seen=frozenset({"end"})),  # 'block' hidden: not lost
        _rec(5, status="active"),
    ]
    steps = funnel(["intro", "block", "end"], records)
    assert [(s.page_id, s.reached, s.lost) for s in steps] == [
        ("intro", 4, 1),
        ("block", 3, 1),
        ("end", 2, 1),
    ]
    assert steps[0].share == 0.8


def test_funnel_shows_screened_out_responses_apart_from_the_lost_ones() -> None:
    records = [
        _rec(1),
        _rec(2, status="screened_out", pages_seen=frozenset({"intro"})),
        _rec(3, status="screened_out", pages_seen=frozenset({"intro"})),
        _rec(4, status="active", pages_seen=frozenset({"intro"})),
        _rec(5, status="screened_out", pages_seen=frozenset({"intro", "block"})),
    ]
    steps = funnel(["intro", "block", "end"], records)
    assert [(s.page_id, s.reached, s.lost, s.screened_out) for s in steps] == [
        ("intro", 5, 0, 0),
        ("block", 2, 1, 2),
        ("end", 1, 0, 1),
    ]


def test_dashboard_leaves_out_test_and_excluded_responses_and_counts_them() -> None:
    records = [
        _rec(1, answers=_varied(1), source="nieuwsbrief", language="nl"),
        _rec(2, answers=_varied(2), source="nieuwsbrief", language="en"),
        _rec(3, status="active", source="linkedin"),
        _rec(4, status="refused"),
        _rec(5, is_test=True),
        _rec(6, excluded=True),
    ]
    d = compute_dashboard(_study(), records)
    assert (d.starts, d.completes, d.refused) == (4, 2, 1)
    assert d.completion_rate == 2 / 3  # refusals are not drop-outs
    assert d.test_responses == 1 and d.excluded == 1
    assert dict(d.by_source) == {"nieuwsbrief": 2, "linkedin": 1, "—": 1}
    assert dict(d.by_language) == {"nl": 3, "en": 1}
    assert d.breakdown_variable == "org_type"
    assert dict(d.by_breakdown) == {"Regio": 1, "Gemeente": 1, "—": 2}
    assert d.median_duration_s == 600
    with_test = compute_dashboard(_study(), records, include_test=True)
    assert with_test.starts == 5


def test_per_day_fills_empty_days() -> None:
    records = [
        _rec(1, started=T0),
        _rec(2, started=T0 + timedelta(days=2), status="active"),
    ]
    d = compute_dashboard(_study(), records)
    assert [(x.day, x.starts, x.completes) for x in d.per_day] == [
        (date(2026, 3, 2), 1, 1),
        (date(2026, 3, 3), 0, 0),
        (date(2026, 3, 4), 1, 0),
    ]
    assert d.as_json()["per_day"][1] == {"day": "2026-03-03", "starts": 0, "completes": 0}


def test_empty_study_has_no_rates_instead_of_dividing_by_zero() -> None:
    d = compute_dashboard(_study(), [])
    assert d.completion_rate is None and d.median_duration_s is None and d.per_day == ()
    ET.fromstring(daily_chart_svg(d.per_day))


def test_chart_is_valid_svg_with_one_titled_bar_per_count() -> None:
    days = [DayCount(date(2026, 3, 2), 5, 2), DayCount(date(2026, 3, 3), 3, 3)]
    root = ET.fromstring(daily_chart_svg(days, title="Starts <&> completes"))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(bars) == 4
    titles = [r.find(f"{ns}title").text for r in bars]  # type: ignore[union-attr]
    assert "2026-03-02: 5 starts" in titles
    heights = [float(r.get("height", 0)) for r in bars]
    assert max(heights) == heights[0]  # the 5 is the tallest bar
    assert root.get("aria-label") == "Starts <&> completes"
