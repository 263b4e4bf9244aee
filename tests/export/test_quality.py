"""Quality flags in the export follow the dashboard's rules, computed while streaming."""

from __future__ import annotations

import pytest

from vakstem.export.quality import FLAG_COLUMNS, QualityFlagger
from vakstem.export.relevance import expression_relevance
from vakstem.export.table import ExportOptions, ResponseRecord, TableLayout
from vakstem.instrument.schema import Choice, Item, ItemType, MatrixRow, Page, Study
from vakstem.service.dashboard import ResponseRecord as DashboardRecord
from vakstem.service.dashboard import quality_flags

from .factories import record

EENS = (
    *(Choice(code=c, label=str(c)) for c in range(1, 6)),
    Choice(code=9, label="weet ik niet", missing=True),
)


def block_study() -> Study:
    rows = tuple(MatrixRow(id=f"m_{i}", text=f"stelling {i}") for i in range(1, 13))
    matrix = Item(id="m", type=ItemType.MATRIX, text="Stellingen", choices="eens", rows=rows)
    return Study(
        id="blok",
        title="Blok",
        languages=("nl", "en"),
        choice_lists={"eens": EENS},
        pages=(Page(id="p", items=(matrix,)),),
    )


def answers(*values: int) -> dict[str, int]:
    return {f"m_{i + 1}": v for i, v in enumerate(values)}


def test_speeder_straightliner_and_duplicate_are_flagged() -> None:
    study = block_study()
    flagger = QualityFlagger(study, [600.0, 600.0, 900.0])
    varied = answers(1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2)
    first = record("a", varied, minutes=10)
    fast = record("b", answers(2, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 3), minutes=3)
    straight = record("c", answers(*[4] * 11, 9), minutes=10)
    copy = record("d", dict(varied), minutes=11)
    assert flagger.flags(first) == {
        "flag_speeder": 0, "flag_straightliner": 0, "flag_duplicate": 0,
    }  # fmt: skip
    assert flagger.flags(fast)["flag_speeder"] == 1  # 180 s < 600 s / 3
    # Eleven times 4 and one weet ik niet: the don't-know answer does not break the line.
    assert flagger.flags(straight)["flag_straightliner"] == 1
    assert flagger.flags(copy)["flag_duplicate"] == 1
    assert flagger.flags(record("e", varied, status="active")) == {}


def test_flag_columns_follow_the_metadata_with_labels() -> None:
    layout = TableLayout(
        block_study(), ExportOptions(language="en"), expression_relevance(), flags=FLAG_COLUMNS
    )
    names = layout.names
    assert names[9:14] == list(FLAG_COLUMNS)
    speeder = next(c for c in layout.columns if c.name == "flag_speeder")
    assert speeder.label.startswith("Speeder") and speeder.value_labels == {0: "no", 1: "yes"}
    row = dict(
        zip(names, layout.row(record("a", answers(1), flags={"flag_speeder": 1})), strict=True)
    )
    assert row["flag_speeder"] == 1 and row["flag_duplicate"] is None


def test_duplicates_are_the_dashboards_equal_answer_sets() -> None:
    """The export's hash keeps apart what the dashboard's repr keeps apart (1, 1.0, True,
    a list in another order) and ignores what it ignores (empty answers, key order)."""
    study = block_study()
    base: dict[str, object] = answers(1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2)
    variants: list[dict[str, object]] = [
        base,
        dict(reversed(list(base.items()))),  # same answers, other order: a duplicate
        {**base, "m_12": 2.0},
        {**base, "m_12": True, "m_1": True},
        {**base, "extra": [1, 2]},
        {**base, "extra": [2, 1]},
        {**base, "extra": [2, 1], "leeg": "", "niets": None},  # empties do not count
        {**base, "m_12": "2"},
        {f"m_{i}": i for i in range(1, 10)},  # nine answered: too few to compare
        {f"m_{i}": i for i in range(1, 10)},
    ]
    records = [record(f"r{i}", dict(v), minutes=10 + i) for i, v in enumerate(variants)]
    flagger = QualityFlagger(study, [600.0])
    ours = {r.response_id for r in records if flagger.flags(r)["flag_duplicate"]}
    dashboard = quality_flags(study, [dashboard_record(r) for r in records])
    assert ours == set(dashboard.duplicates) == {"r1", "r6"}


def dashboard_record(r: ResponseRecord) -> DashboardRecord:
    assert r.started_at is not None
    return DashboardRecord(
        id=r.response_id,
        status=r.status,
        started_at=r.started_at,
        completed_at=r.completed_at,
        answers=r.answers,
    )


def test_straightliners_are_the_dashboards() -> None:
    """The export's quick test per block (a set of the block's values) decides as the
    dashboard's repr of each value does: 1, 1.0 and True kept apart, don't know and empty
    answers left out, ten values at least, answers of another version's variables allowed."""
    study = block_study()
    variants: list[dict[str, object]] = [
        answers(*[4] * 12),  # straight
        answers(*[4] * 11, 9),  # weet ik niet does not break the line
        answers(*[4] * 11, 4.0),  # 4.0 is not 4 to the dashboard
        answers(*[True] * 12),
        answers(*[1] * 11, True),
        {**answers(*[4] * 10), "m_11": None, "m_12": None},  # ten values: enough
        {**answers(*[4] * 9), "m_10": None, "m_11": None, "m_12": None},  # nine: too few
        answers(*[4] * 9, 9, 9, 9),
        {**answers(*[4] * 12), "oud": 3},  # a variable of another version
        {**answers(*[4] * 11), "m_12": "4"},
        {**answers(*[4] * 11), "m_12": ""},
        answers(1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2),
        {**answers(*[4] * 11, 5), "oud": 3},
    ]
    records = [record(f"r{i}", dict(v), minutes=10 + i) for i, v in enumerate(variants)]
    flagger = QualityFlagger(study, [600.0])
    ours = {r.response_id for r in records if flagger.flags(r)["flag_straightliner"]}
    dashboard = quality_flags(study, [dashboard_record(r) for r in records])
    assert ours == set(dashboard.straightliners) == {"r0", "r1", "r3", "r5", "r8"}


def test_duplicates_across_versions_ignore_empty_answers_outside_the_study() -> None:
    """A response holding an empty answer to a variable the study no longer has is the same
    answer set as one without it (as on the dashboard)."""
    study = block_study()
    base: dict[str, object] = answers(1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2)
    variants: list[dict[str, object]] = [
        base,
        {**base, "oud": None},
        {**base, "oud": ""},
        {**base, "oud": 3},
        {**base, "oud": 3, "weg": None},
        {**base, "m_3": ""},
        {**base, "m_3": None},
    ]
    records = [record(f"r{i}", dict(v), minutes=10 + i) for i, v in enumerate(variants)]
    flagger = QualityFlagger(study, [600.0])
    ours = {r.response_id for r in records if flagger.flags(r)["flag_duplicate"]}
    dashboard = quality_flags(study, [dashboard_record(r) for r in records])
    assert ours == set(dashboard.duplicates) == {"r1", "r2", "r4", "r6"}


def test_flags_given_with_a_chunk_stand_in_for_the_records_own() -> None:
    layout = TableLayout(
        block_study(), ExportOptions(language="en"), expression_relevance(), flags=FLAG_COLUMNS
    )
    records = [
        record("a", answers(1), flags={"flag_honeypot": 1}),
        record("b", answers(2), flags={"flag_speeder": 1}),
    ]
    given = [{"flag_honeypot": 1, "flag_duplicate": 1}, {}]
    rows = [dict(zip(layout.names, row, strict=True)) for row in layout.rows(records, given)]
    assert [(r["flag_honeypot"], r["flag_duplicate"], r["flag_speeder"]) for r in rows] == [
        (1, 1, None),
        (None, None, None),
    ]
    own = [dict(zip(layout.names, row, strict=True)) for row in layout.rows(records)]
    assert [(r["flag_honeypot"], r["flag_speeder"]) for r in own] == [(1, None), (None, 1)]
    with pytest.raises(ValueError, match="1 sets of flags for 2 responses"):
        layout.rows(records, given[:1])
