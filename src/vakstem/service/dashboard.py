"""Fieldwork dashboard figures for one study, computed as pure functions on plain records.

The console and the researcher API both call `compute_dashboard` on records read from the
store, so the numbers on the page and in the JSON are the same. `daily_chart_svg` draws the
starts/completes chart on the server, so the dashboard works without scripts.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from vakstem.instrument.schema import ItemType, Study
from vakstem.service.bots import HONEYPOT, TOO_FAST

#: A block must hold at least this many items sharing one answer scale for straightlining
#: to count (STUDY.md: zero variance across a block of 10+ items).
STRAIGHTLINE_MIN_ITEMS = 10
#: Speeders complete in under this fraction of the median completion time.
SPEEDER_FRACTION = 1 / 3
#: Identical answer sets only count as duplicates when this many variables were answered;
#: two people can legitimately give the same three answers.
DUPLICATE_MIN_ANSWERED = 10
#: Bar colours with enough contrast against white and against each other.
STARTS_FILL = "#8fb3cc"
COMPLETES_FILL = "#1f5f8b"


@dataclass(frozen=True)
class ResponseRecord:
    """What the dashboard needs of one response."""

    id: str
    status: str
    started_at: datetime
    completed_at: datetime | None = None
    language: str = "nl"
    source: str | None = None
    is_test: bool = False
    excluded: bool = False
    answers: Mapping[str, Any] = field(default_factory=dict)
    #: Ids of the pages this response was shown (from page events).
    pages_seen: frozenset[str] = frozenset()
    #: Flags the respondent flow stored (`vakstem.service.bots`: honeypot, too_fast).
    flags: frozenset[str] = frozenset()

    @property
    def completed(self) -> bool:
        return self.status == "completed" and self.completed_at is not None

    @property
    def duration_s(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class DayCount:
    day: date
    starts: int
    completes: int


@dataclass(frozen=True)
class FunnelStep:
    page_id: str
    reached: int
    #: Share of all starts that reached this page (0..1).
    share: float
    #: Responses lost between the previous page and this one (drop-outs, not screen-outs).
    lost: int
    #: Responses a full answer quota ended between the previous page and this one: they left
    #: by design, so they are shown apart and not counted as lost.
    screened_out: int = 0


@dataclass(frozen=True)
class QualityFlags:
    speeders: tuple[str, ...]
    straightliners: tuple[str, ...]
    duplicates: tuple[str, ...]
    #: Responses that filled in the honeypot field (any status: a bot need not finish).
    honeypot: tuple[str, ...] = ()
    #: Completed responses under the study's minimum time per answer shown.
    too_fast: tuple[str, ...] = ()

    def for_response(self, response_id: str) -> tuple[str, ...]:
        flags = []
        if response_id in self.speeders:
            flags.append("speeder")
        if response_id in self.straightliners:
            flags.append("straightliner")
        if response_id in self.duplicates:
            flags.append("duplicate")
        if response_id in self.honeypot:
            flags.append(HONEYPOT)
        if response_id in self.too_fast:
            flags.append(TOO_FAST)
        return tuple(flags)

    @property
    def likely_bots(self) -> int:
        """Responses with a bot flag (honeypot or too fast), each counted once."""
        return len(set(self.honeypot) | set(self.too_fast))


@dataclass(frozen=True)
class Dashboard:
    starts: int
    completes: int
    refused: int
    completion_rate: float | None
    median_duration_s: float | None
    per_day: tuple[DayCount, ...]
    funnel: tuple[FunnelStep, ...]
    by_source: tuple[tuple[str, int], ...]
    by_language: tuple[tuple[str, int], ...]
    #: Variable used for the organisation breakdown (None when the study has none).
    breakdown_variable: str | None
    by_breakdown: tuple[tuple[str, int], ...]
    quality: QualityFlags
    test_responses: int
    excluded: int
    #: Ended by a full quota on an answer: neither completes nor drop-outs.
    screened_out: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "starts": self.starts,
            "completes": self.completes,
            "refused": self.refused,
            "screened_out": self.screened_out,
            "completion_rate": self.completion_rate,
            "median_duration_s": self.median_duration_s,
            "per_day": [
                {"day": d.day.isoformat(), "starts": d.starts, "completes": d.completes}
                for d in self.per_day
            ],
            "funnel": [
                {
                    "page": s.page_id,
                    "reached": s.reached,
                    "share": s.share,
                    "lost": s.lost,
                    "screened_out": s.screened_out,
                }
                for s in self.funnel
            ],
            "by_source": dict(self.by_source),
            "by_language": dict(self.by_language),
            "breakdown_variable": self.breakdown_variable,
            "by_breakdown": dict(self.by_breakdown),
            "quality": {
                "speeders": len(self.quality.speeders),
                "straightliners": len(self.quality.straightliners),
                "duplicates": len(self.quality.duplicates),
                "honeypot": len(self.quality.honeypot),
                "too_fast": len(self.quality.too_fast),
                "likely_bots": self.quality.likely_bots,
            },
            "test_responses": self.test_responses,
            "excluded": self.excluded,
        }


def per_day(records: Iterable[ResponseRecord]) -> tuple[DayCount, ...]:
    """Starts and completes per calendar day (UTC), with empty days in between filled in."""
    starts: Counter[date] = Counter()
    completes: Counter[date] = Counter()
    for r in records:
        starts[r.started_at.date()] += 1
        if r.completed and r.completed_at is not None:
            completes[r.completed_at.date()] += 1
    days = set(starts) | set(completes)
    if not days:
        return ()
    first, last = min(days), max(days)
    out = []
    day = first
    while day <= last:
        out.append(DayCount(day, starts[day], completes[day]))
        day += timedelta(days=1)
    return tuple(out)


def median_duration(records: Iterable[ResponseRecord]) -> float | None:
    durations = [d for r in records if r.completed and (d := r.duration_s) is not None]
    return float(statistics.median(durations)) if durations else None


def funnel(page_ids: Sequence[str], records: Sequence[ResponseRecord]) -> tuple[FunnelStep, ...]:
    """How many responses reached each page, in questionnaire order.

    A response counts as having reached a page when it was shown that page, or any later one
    (a page hidden by a condition is skipped, not a drop-out). A response a full answer quota
    ended counts as screened out before the page after the last one it was shown, not as lost.
    """
    starts = len(records)
    position = {page: i for i, page in enumerate(page_ids)}
    furthest: list[int] = []
    screened: Counter[int] = Counter()
    for r in records:
        seen = [position[p] for p in r.pages_seen if p in position]
        if r.completed:
            furthest.append(len(page_ids) - 1)
        elif seen:
            furthest.append(max(seen))
        else:
            furthest.append(-1)
        if r.status == "screened_out":
            screened[furthest[-1] + 1] += 1
    steps = []
    previous = starts
    for i, page in enumerate(page_ids):
        reached = sum(1 for f in furthest if f >= i)
        steps.append(
            FunnelStep(
                page_id=page,
                reached=reached,
                share=(reached / starts) if starts else 0.0,
                lost=previous - reached - screened[i],
                screened_out=screened[i],
            )
        )
        previous = reached
    return tuple(steps)


def answer_blocks(study: Study) -> list[tuple[str, ...]]:
    """Groups of variables answered on one scale: per page, the single-choice and matrix
    variables sharing a choice list, and per block declared on the study's scales, its items
    sharing a choice list. Only blocks of `STRAIGHTLINE_MIN_ITEMS` or more count."""
    blocks: list[tuple[str, ...]] = []
    for page in study.pages:
        by_list: dict[str, list[str]] = {}
        for item in page.items:
            if item.type in (ItemType.SINGLE, ItemType.MATRIX) and item.choices:
                by_list.setdefault(item.choices, []).extend(item.variables())
        blocks.extend(tuple(v) for v in by_list.values() if len(v) >= STRAIGHTLINE_MIN_ITEMS)
    # A block the study declares on its scales (`block: professional_action`) spans several
    # pages; its items sharing one answer scale form a block as well.
    list_of = {
        v: item.choices for _p, item in study.items() if item.choices for v in item.variables()
    }
    declared: dict[tuple[str, str], list[str]] = {}
    for scale in study.scales:
        for v in scale.items:
            if scale.block and v in list_of:
                declared.setdefault((scale.block, list_of[v]), []).append(v)
    for variables in declared.values():
        if len(variables) >= STRAIGHTLINE_MIN_ITEMS and tuple(variables) not in blocks:
            blocks.append(tuple(variables))
    return blocks


def _missing_codes(study: Study) -> set[tuple[str, int]]:
    return {
        (name, c.code) for name, choices in study.choice_lists.items() for c in choices if c.missing
    }


def quality_flags(study: Study, records: Sequence[ResponseRecord]) -> QualityFlags:
    """Speeders, straightliners and duplicates among completed responses; the stored bot flags
    (a filled honeypot on any response, too fast on completed ones)."""
    done = [r for r in records if r.completed]
    median = median_duration(done)
    speeders = tuple(
        r.id
        for r in done
        if median is not None and (d := r.duration_s) is not None and d < median * SPEEDER_FRACTION
    )

    list_of: dict[str, str] = {}
    for _page, item in study.items():
        if item.choices:
            for var in item.variables():
                list_of[var] = item.choices
    missing = _missing_codes(study)
    blocks = answer_blocks(study)
    straight = []
    for r in done:
        for block in blocks:
            values = [
                r.answers.get(v)
                for v in block
                if r.answers.get(v) is not None and (list_of[v], r.answers.get(v)) not in missing
            ]
            # Zero variance over a whole block; a block mostly skipped says nothing.
            if len(values) >= STRAIGHTLINE_MIN_ITEMS and len(set(map(repr, values))) == 1:
                straight.append(r.id)
                break

    seen: dict[tuple[tuple[str, str], ...], str] = {}
    duplicates = []
    for r in sorted(done, key=lambda x: (x.started_at, x.id)):
        answered = tuple(sorted((k, repr(v)) for k, v in r.answers.items() if v not in (None, "")))
        if len(answered) < DUPLICATE_MIN_ANSWERED:
            continue
        if answered in seen:
            duplicates.append(r.id)
        else:
            seen[answered] = r.id
    return QualityFlags(
        tuple(speeders),
        tuple(straight),
        tuple(duplicates),
        honeypot=tuple(r.id for r in records if HONEYPOT in r.flags),
        too_fast=tuple(r.id for r in done if TOO_FAST in r.flags),
    )


def breakdown_variable(study: Study) -> str | None:
    """The variable the dashboard breaks responses down by (organisation type).

    A study names it in `analysis.settings.dashboard_breakdown`; otherwise the first
    single-choice item whose id starts with `org` is used.
    """
    named = study.analysis.settings.get("dashboard_breakdown")
    if isinstance(named, str) and study.item(named) is not None:
        return named
    for _page, item in study.items():
        if item.type is ItemType.SINGLE and item.id.startswith("org"):
            return item.id
    return None


def _label_of(study: Study, variable: str, value: Any, language: str) -> str:
    from vakstem.instrument.schema import text_in

    item = study.item(variable)
    if item is not None:
        for choice in study.choices_of(item):
            if choice.code == value:
                return text_in(choice.label, language)
    return str(value)


def compute_dashboard(
    study: Study,
    records: Sequence[ResponseRecord],
    *,
    include_test: bool = False,
    language: str = "nl",
) -> Dashboard:
    """Every dashboard figure. Test responses are left out unless `include_test`; excluded
    responses are counted separately and left out of the figures."""
    test_count = sum(1 for r in records if r.is_test)
    pool = [r for r in records if include_test or not r.is_test]
    excluded = sum(1 for r in pool if r.excluded)
    pool = [r for r in pool if not r.excluded]
    refused = sum(1 for r in pool if r.status == "refused")
    screened_out = sum(1 for r in pool if r.status == "screened_out")
    starts = len(pool)
    completes = sum(1 for r in pool if r.completed)
    # Refusals end the survey at the consent page and screen-outs at a full answer quota;
    # neither are drop-outs of the questionnaire, so both are left out of the completion
    # rate's denominator.
    eligible = starts - refused - screened_out
    var = breakdown_variable(study)
    by_org: Counter[str] = Counter()
    if var is not None:
        for r in pool:
            value = r.answers.get(var)
            key = "—" if value is None else _label_of(study, var, value, language)
            by_org[key] += 1
    return Dashboard(
        starts=starts,
        completes=completes,
        refused=refused,
        completion_rate=(completes / eligible) if eligible > 0 else None,
        median_duration_s=median_duration(pool),
        per_day=per_day(pool),
        funnel=funnel([p.id for p in study.pages], pool),
        by_source=tuple(Counter(r.source or "—" for r in pool).most_common()),
        by_language=tuple(Counter(r.language for r in pool).most_common()),
        breakdown_variable=var,
        by_breakdown=tuple(by_org.most_common()),
        quality=quality_flags(study, pool),
        test_responses=test_count,
        excluded=excluded,
        screened_out=screened_out,
    )


def daily_chart_svg(
    days: Sequence[DayCount],
    *,
    title: str = "Starts and completes per day",
    starts_label: str = "starts",
    completes_label: str = "completes",
    width: int = 640,
    height: int = 220,
) -> str:
    """A grouped bar chart as inline SVG (no scripts, no external files).

    Each bar carries a `<title>` so screen readers and hover show the exact number; the page
    also shows the same numbers as a table.
    """
    pad_left, pad_bottom, pad_top = 36, 28, 20
    plot_w = width - pad_left - 8
    plot_h = height - pad_bottom - pad_top
    top = max([1] + [max(d.starts, d.completes) for d in days])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" '
        f'y2="{pad_top + plot_h}" stroke="currentColor" stroke-width="1"/>',
        f'<text x="{pad_left - 4}" y="{pad_top + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{pad_left - 4}" y="{pad_top + plot_h}" text-anchor="end" '
        'font-size="11">0</text>',
    ]
    n = len(days)
    if n:
        slot = plot_w / n
        bar = max(1.0, slot * 0.4)
        label_every = max(1, n // 8)
        for i, d in enumerate(days):
            x = pad_left + i * slot + slot * 0.1
            for j, (value, colour, label) in enumerate(
                (
                    (d.starts, STARTS_FILL, starts_label),
                    (d.completes, COMPLETES_FILL, completes_label),
                )
            ):
                h = plot_h * value / top
                parts.append(
                    f'<rect fill="{colour}" x="{x + j * bar:.1f}" y="{pad_top + plot_h - h:.1f}" '
                    f'width="{bar:.1f}" height="{h:.1f}">'
                    f"<title>{d.day.isoformat()}: {value} {escape(label)}</title></rect>"
                )
            if i % label_every == 0:
                parts.append(
                    f'<text x="{x + bar:.1f}" y="{height - 8}" text-anchor="middle" '
                    f'font-size="10">{d.day.strftime("%d-%m")}</text>'
                )
    parts.append(
        f'<g font-size="11">'
        f'<rect fill="{STARTS_FILL}" x="{pad_left + 4}" y="4" width="10" height="10"/>'
        f'<text x="{pad_left + 18}" y="13">{escape(starts_label)}</text>'
        f'<rect fill="{COMPLETES_FILL}" x="{pad_left + 90}" y="4" width="10" height="10"/>'
        f'<text x="{pad_left + 104}" y="13">{escape(completes_label)}</text></g>'
    )
    parts.append("</svg>")
    return "".join(parts)
