"""The tidy table: columns in questionnaire order, codes, missing values kept apart by reason."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from vakstem.export.missing import ExportError
from vakstem.export.relevance import expression_relevance
from vakstem.export.table import ExportOptions, TableLayout, utc_naive, variable_name_problems

from .factories import ALL_PAGES, FULL, example_study, layout, record


def _row(lay: TableLayout, rec: object) -> dict[str, object]:
    return dict(zip(lay.names, lay.row(rec), strict=True))  # type: ignore[arg-type]


def test_columns_follow_questionnaire_order_after_metadata() -> None:
    lay = layout(open_text=True)
    assert lay.names[:9] == [
        "response_id", "instrument_version", "language", "source", "started_at",
        "completed_at", "duration_s", "status", "is_test",
    ]  # fmt: skip
    assert lay.names[9:] == [
        "toestemming", "functie", "functie_anders", "functie_anders_mis", "provincie",
        "ervaring", "uren", "in_dienst", "in_dienst_mis", "overleg_1", "overleg_2", "overleg_3",
        "overleg_4", "overleg_m1", "overleg_keer", "br_1", "br_2", "br_3", "br_4", "afspraken",
        "pa_1", "pa_2", "pa_3", "pa_aantal", "uren_toelichting", "uren_toelichting_mis",
        "behoefte", "behoefte_mis",
    ]  # fmt: skip


def test_open_answers_are_left_out_unless_asked() -> None:
    names = layout().names
    assert "behoefte" not in names and "functie_anders" not in names
    assert "uren_toelichting" not in names
    assert "behoefte" in layout(open_text=True).names


def test_full_response_gives_codes_dates_and_option_columns() -> None:
    lay = layout(open_text=True)
    row = _row(lay, record("r1", FULL, path=ALL_PAGES, source="nieuwsbrief"))
    assert row["functie"] == 6 and row["functie_anders"] == "Schuldhulp"
    assert row["uren"] == 36.5 and isinstance(row["uren"], float)
    assert row["in_dienst"] == dt.date(2019, 4, 1)
    assert [row[f"overleg_{c}"] for c in ("1", "2", "3", "4", "m1")] == [1, 0, 1, 0, 0]
    assert row["started_at"] == dt.datetime(2026, 3, 2, 9, 30)
    assert row["duration_s"] == 750.0
    assert row["source"] == "nieuwsbrief" and row["is_test"] == 0


def test_weet_ik_niet_is_exported_as_dont_know_code_and_keeps_its_own_code_in_the_label() -> None:
    lay = layout()
    row = _row(lay, record("r1", FULL, path=ALL_PAGES))
    assert row["br_4"] == -7
    br4 = next(c for c in lay.columns if c.name == "br_4")
    assert br4.value_labels[-7] == "Weet ik niet [9]"
    assert br4.value_labels[5] == "Helemaal eens"
    assert 9 not in br4.value_labels


def test_skipped_item_on_a_visited_page_is_not_answered() -> None:
    answers = {k: v for k, v in FULL.items() if k not in ("provincie", "br_2")}
    row = _row(layout(), record("r1", answers, path=ALL_PAGES))
    assert row["provincie"] == -9 and row["br_2"] == -9


def test_item_hidden_by_its_condition_is_not_applicable() -> None:
    answers = {k: v for k, v in FULL.items() if k != "overleg_keer"} | {"overleg": [-1]}
    row = _row(layout(), record("r1", answers, path=ALL_PAGES))
    assert row["overleg_keer"] == -8
    assert row["overleg_m1"] == 1 and row["overleg_1"] == 0


def test_page_hidden_by_its_condition_is_not_applicable() -> None:
    answers = {k: v for k, v in FULL.items() if not k.startswith("pa_")} | {"afspraken": 0}
    path = [p for p in ALL_PAGES if p != "afspraken_detail"]
    row = _row(layout(), record("r1", answers, path=path))
    assert [row[v] for v in ("pa_1", "pa_2", "pa_3", "pa_aantal")] == [-8, -8, -8, -8]


def test_hidden_page_is_not_applicable_also_without_a_stored_path() -> None:
    answers = {k: v for k, v in FULL.items() if not k.startswith("pa_")} | {"afspraken": 0}
    row = _row(layout(), record("r1", answers, path=None))
    assert row["pa_1"] == -8
    assert _row(layout(), record("r2", {**FULL, "pa_2": None}, path=None))["pa_2"] == -9


def test_dropout_marks_the_page_left_and_every_later_page_as_dropped_out() -> None:
    answers = {k: FULL[k] for k in ("toestemming", "functie", "provincie", "ervaring")}
    rec = record(
        "r1", answers, status="active", path=["welkom", "achtergrond"], current_page="werk"
    )
    row = _row(layout(), rec)
    assert row["uren"] == -9  # on a page that was submitted
    assert row["br_1"] == -6 and row["overleg_1"] == -6 and row["afspraken"] == -6
    assert row["pa_1"] == -6
    assert row["completed_at"] is None and row["duration_s"] is None


def test_dropout_without_a_stored_path_counts_pages_after_the_last_answer() -> None:
    answers = {k: FULL[k] for k in ("toestemming", "functie")}
    row = _row(layout(), record("r1", answers, status="active", path=None))
    assert row["provincie"] == -9
    assert row["br_1"] == -6


def test_declared_missing_codes_replace_the_defaults() -> None:
    study = example_study()
    settings = {"missing_codes": {"not_answered": -99, "dropped_out": -96}}
    study = study.model_copy(
        update={"analysis": study.analysis.model_copy(update={"settings": settings})}
    )
    lay = layout(study)
    answers = {k: v for k, v in FULL.items() if k != "provincie"}
    row = _row(lay, record("r1", answers, path=ALL_PAGES))
    assert row["provincie"] == -99 and row["br_4"] == -7
    assert lay.codes.dropped_out == -96 and lay.codes.not_applicable == -8


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ({"not_answered": 1}, "also answer codes"),
        ({"not_answered": -8}, "must differ"),
        ({"skipped": -5}, "unknown missing reason"),
        ({"not_answered": "x"}, "whole number"),
    ],
)
def test_bad_missing_codes_are_refused_with_a_reason(codes: object, message: str) -> None:
    study = example_study()
    study = study.model_copy(
        update={
            "analysis": study.analysis.model_copy(update={"settings": {"missing_codes": codes}})
        }
    )
    with pytest.raises(ExportError, match=message):
        layout(study)


def test_labels_come_in_the_chosen_language() -> None:
    nl = {c.name: c for c in layout(language="nl").columns}
    en = {c.name: c for c in layout(language="en").columns}
    assert nl["functie"].label == "Waar ligt het zwaartepunt van uw werk?"
    assert en["functie"].label == "What is the main focus of your work?"
    assert en["br_1"].value_labels[1] == "Strongly disagree"
    assert en["br_1"].value_labels[-9] == "not answered"
    assert nl["br_1"].value_labels[-9] == "niet beantwoord"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ExportError, match="no language 'de'"):
        layout(language="de")


def test_scale_scores_are_means_after_reverse_keying() -> None:
    lay = layout(with_scores=True)
    row = _row(lay, record("r1", FULL, path=ALL_PAGES))
    # br_3 = 2 reversed on 1..5 is 4; br_4 is weet ik niet, so 3 of 4 items count.
    assert row["beslisruimte"] == pytest.approx((5 + 4 + 4) / 3)
    assert row["prestatiedruk"] == pytest.approx((3 + 2 + 5) / 3)
    # Too few items answered: the score takes the not-answered code (its empty items mix
    # not answered and weet ik niet).
    sparse = {**FULL, "br_1": None, "br_2": None}
    assert _row(lay, record("r2", sparse, path=ALL_PAGES))["beslisruimte"] == -9


def test_variable_names_spss_and_stata_cannot_take_are_named() -> None:
    problems = variable_name_problems(["ok_name", "x" * 33, "with", "Ok_Name"])
    assert len(problems) == 3
    assert "33 characters long; Stata allows at most 32" in problems[0]
    assert "'with' is a reserved word in SPSS and Stata" in problems[1]
    assert "occurs twice" in problems[2]


def test_layout_refuses_a_study_whose_names_stata_cannot_take() -> None:
    study = example_study()
    long_id = "a" * 40
    page = study.pages[1]
    item = page.items[3].model_copy(update={"id": long_id})
    pages = list(study.pages)
    pages[1] = page.model_copy(update={"items": (*page.items[:3], item, *page.items[4:])})
    study = study.model_copy(update={"pages": tuple(pages)})
    with pytest.raises(ExportError, match=f"'{long_id}' is 40 characters long"):
        TableLayout(study, ExportOptions(), lambda _e, _a: True)


def test_refused_or_withdrawn_response_counts_every_page_as_not_reached() -> None:
    row = _row(layout(), record("r1", {}, status="withdrawn", path=["welkom", "achtergrond"]))
    assert row["toestemming"] == -6 and row["provincie"] == -6 and row["br_1"] == -6


def test_variable_missing_from_a_responses_own_version_is_not_applicable() -> None:
    current = example_study()
    page = current.pages[1]
    older_page = page.model_copy(
        update={"items": tuple(i for i in page.items if i.id != "provincie")}
    )
    older = current.model_copy(update={"pages": (current.pages[0], older_page, *current.pages[2:])})
    lay = TableLayout(
        current, ExportOptions(), expression_relevance(), versions={"v0": older, "v1": current}
    )
    answers = {k: v for k, v in FULL.items() if k != "provincie"}
    old_row = _row(lay, record("r1", answers, path=ALL_PAGES, instrument_version="v0"))
    assert old_row["provincie"] == -8 and old_row["instrument_version"] == "v0"
    assert _row(lay, record("r2", answers, path=ALL_PAGES))["provincie"] == -9


def test_answer_scales_are_ordinal_and_categories_nominal() -> None:
    measure = {c.name: c.measure.value for c in layout().columns}
    assert measure["br_1"] == "ordinal"  # a matrix on the agreement scale
    assert measure["functie"] == "nominal" and measure["provincie"] == "nominal"
    assert measure["afspraken"] == "nominal" and measure["overleg_1"] == "nominal"
    assert measure["ervaring"] == "scale" and measure["uren"] == "scale"


def test_a_chunk_holds_the_rows_of_its_responses_built_one_at_a_time() -> None:
    # The table is built a column at a time for a whole chunk; each response's empty cells
    # must still get that response's own reasons, and its scores its own codes.
    lay = layout(open_text=True, with_scores=True, completed_only=False)
    hidden = {k: v for k, v in FULL.items() if not k.startswith("pa_")} | {"afspraken": 0}
    records = [
        record("r1", FULL, path=ALL_PAGES),
        record("r2", {"toestemming": 1, "functie": 2}, status="active", path=None),
        record("r3", hidden, path=[p for p in ALL_PAGES if p != "afspraken_detail"]),
        record("r4", {}, status="screened_out", path=["welkom"]),
        record("r5", {**FULL, "overleg": [-1], "uren": 36, "br_1": None}, path=ALL_PAGES),
        record(
            "r6", {"toestemming": 1}, status="active", path=["welkom"], current_page="achtergrond"
        ),
    ]
    chunk = lay.rows(records)
    one_by_one = [lay.row(r) for r in records]
    assert len(chunk) == len(records)
    assert list(chunk) == one_by_one
    assert [chunk[i] for i in range(len(records))] == one_by_one
    assert chunk.columns == [list(cells) for cells in zip(*one_by_one, strict=True)]
    rows = {row[0]: dict(zip(lay.names, row, strict=True)) for row in chunk}
    assert rows["r2"]["provincie"] == -9 and rows["r2"]["br_1"] == -6
    assert rows["r3"]["pa_1"] == -8 and rows["r4"]["functie"] == -8
    assert rows["r5"]["uren"] == 36.0 and isinstance(rows["r5"]["uren"], float)
    assert rows["r5"]["br_1"] == -9 and rows["r6"]["functie"] == -6


def test_responses_sharing_a_path_keep_their_own_status_page_and_conditions() -> None:
    # The pages seen and the frontier are worked out once per (path, status, page left open)
    # and shared; what depends on the answers (a page's condition) never is.
    lay = layout(completed_only=False, open_text=True)
    path = ["welkom", "achtergrond", "werk", "afspraken_detail"]
    fresh = [
        record("c", {"toestemming": 1, "afspraken": 1}, status="completed", path=path),
        record("a", {"toestemming": 1}, status="active", path=path, current_page="werk"),
        record("b", {"toestemming": 1}, status="active", path=path),
        record("w", {}, status="withdrawn", path=path),
        record("h", {"toestemming": 1, "afspraken": 0}, status="completed", path=path),
    ]
    chunk = {row[0]: dict(zip(lay.names, row, strict=True)) for row in lay.rows(fresh)}
    # Each response through a layout of its own gives the same row.
    for rec in fresh:
        assert chunk[rec.response_id] == _row(layout(completed_only=False, open_text=True), rec)
    assert chunk["c"]["functie"] == -9 and chunk["c"]["pa_1"] == -9  # seen, left empty
    assert chunk["c"]["behoefte_mis"] == -8  # completed: a page off its path was skipped
    assert chunk["a"]["functie"] == -9 and chunk["a"]["br_1"] == -6  # "werk" left open
    assert chunk["b"]["br_1"] == -9 and chunk["b"]["behoefte_mis"] == -6  # left after its path
    assert chunk["w"]["functie"] == -6 and chunk["w"]["br_1"] == -6  # withdrawn
    assert chunk["h"]["pa_1"] == -8  # the same path, its page hidden by the answer


def test_responses_sharing_a_path_keep_their_own_item_conditions() -> None:
    # A code shared along a path is one no condition decided: "functie_anders" is asked only
    # after functie 6, so on the same page the same empty cell has two reasons.
    lay = layout(completed_only=False, open_text=True)
    path = ["welkom", "achtergrond", "werk", "afspraken_detail"]
    fresh = [
        record("x", {"toestemming": 1, "functie": 6}, status="completed", path=path),
        record("y", {"toestemming": 1, "functie": 2}, status="completed", path=path),
        record("z", {"toestemming": 1, "functie": 6}, status="completed", path=path),
    ]
    chunk = {row[0]: dict(zip(lay.names, row, strict=True)) for row in lay.rows(fresh)}
    for rec in fresh:
        assert chunk[rec.response_id] == _row(layout(completed_only=False, open_text=True), rec)
    assert [chunk[r]["functie_anders_mis"] for r in "xyz"] == [-9, -8, -9]


def test_answers_in_any_mapping_give_the_same_row() -> None:
    # The chunk's columns merge each response's answers onto a dict of every variable; a
    # read-only mapping of answers must give the same cells as a dict.
    from types import MappingProxyType

    lay = layout(open_text=True, with_scores=True)
    as_dict = lay.rows([record("r1", {**FULL, "br_2": None}, path=ALL_PAGES)])
    as_proxy = lay.rows([record("r1", MappingProxyType({**FULL, "br_2": None}), path=ALL_PAGES)])
    assert list(as_proxy) == list(as_dict)
    assert dict(zip(lay.names, as_dict[0], strict=True))["br_2"] == -9


def test_times_are_written_in_utc_without_a_zone_or_microseconds() -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    moment = dt.datetime(2026, 3, 1, 13, 30, 15, 123456, tzinfo=amsterdam)
    expected = dt.datetime(2026, 3, 1, 12, 30, 15)
    assert utc_naive(moment) == expected
    assert utc_naive(moment.astimezone(dt.UTC)) == expected
    assert utc_naive(moment.astimezone(dt.timezone(dt.timedelta(hours=-5)))) == expected
    assert utc_naive(dt.datetime(2026, 3, 1, 12, 30, 15, 9)) == expected  # naive is UTC
    assert utc_naive(None) is None
