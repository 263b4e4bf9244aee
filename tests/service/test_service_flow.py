"""The respondent flow through the service with the example study: every page, back, skipped
pages, hidden items and their stale answers, required-as-expression, constraints, consent
refusal and completion — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.conftest import NOW, open_study
from service.factories import item, page, study
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseState, ResponseStatus, StalePage, SubmitResult
from vakstem.store.studies import get_study
from vakstem.store.tables import answers, page_events, responses

ACHTERGROND = {
    "functie": 2,
    "provincie": 7,
    "ervaring": 12,
    "uren": 38.5,
    "in_dienst": "2019-04-01",
}
WERK = {
    "overleg": [1, 2],
    "overleg_keer": 4,
    "br_1": 4,
    "br_2": 5,
    "br_3": 2,
    "br_4": 9,
    "afspraken": 1,
}
DETAIL = {"pa_1": 3, "pa_2": 2, "pa_3": 5, "pa_aantal": 12}
SLOT = {"uren_toelichting": "Veel overwerk.", "behoefte": "Meer tijd per klant."}


def ok(result: SubmitResult) -> ResponseState:
    assert result.ok, result.errors
    return result.state


def page_id(state: ResponseState) -> str | None:
    return state.page.page.id if state.page else None


def codes(result: SubmitResult) -> dict[str, str]:
    return {e.variable: e.code for e in result.errors}


def stored_answers(engine: Engine, response_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.variable, answers.c.value).where(
                answers.c.response_id == response_id
            )
        ).all()
    return {r.variable: r.value for r in rows}


def events(engine: Engine, response_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(page_events.c.page_id, page_events.c.event)
            .where(page_events.c.response_id == response_id)
            .order_by(page_events.c.id)
        ).all()
    return [(r.page_id, r.event) for r in rows]


def to_page(service: ResponseService, target: str, **overrides: Any) -> ResponseState:
    """A new response walked with valid answers up to page `target`."""
    pages = [
        ("welkom", {"toestemming": 1}),
        ("achtergrond", ACHTERGROND),
        ("werk", WERK),
        ("afspraken_detail", DETAIL),
        ("tot_slot", SLOT),
    ]
    state = service.start("voorbeeld")
    for pid, values in pages:
        if page_id(state) == target:
            return state
        assert page_id(state) == pid
        values = {k: overrides.get(k, v) for k, v in values.items()}
        state = ok(service.submit_page(state.id, pid, values))
    assert target == "end"
    return state


def test_example_study_can_be_completed_page_by_page(
    service: ResponseService, engine: Engine
) -> None:
    state = service.start("voorbeeld")
    assert page_id(state) == "welkom" and state.status is ResponseStatus.ACTIVE
    assert state.page is not None and state.page.index == 0 and state.page.total == 5
    assert not state.page.can_go_back
    state = ok(service.submit_page(state.id, "welkom", {"toestemming": 1}))
    assert page_id(state) == "achtergrond"
    state = ok(service.submit_page(state.id, "achtergrond", ACHTERGROND))
    state = ok(service.submit_page(state.id, "werk", WERK))
    assert page_id(state) == "afspraken_detail"
    state = ok(service.submit_page(state.id, "afspraken_detail", DETAIL))
    assert page_id(state) == "tot_slot"
    assert [s.item.id for s in state.page.items] == ["uren_toelichting", "behoefte"]
    state = ok(service.submit_page(state.id, "tot_slot", SLOT))
    assert state.completed and state.page is None
    expected = {"toestemming": 1, **ACHTERGROND, **WERK, **DETAIL, **SLOT}
    assert state.answers == expected
    assert stored_answers(engine, state.id) == expected
    with engine.connect() as conn:
        row = conn.execute(sa.select(responses).where(responses.c.id == state.id)).one()
    assert row.status == "completed" and row.completed_at == NOW
    assert row.path == ["welkom", "achtergrond", "werk", "afspraken_detail", "tot_slot"]


def test_back_returns_to_the_previous_page_with_answers_kept(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "werk")
    assert state.page is not None and state.page.can_go_back
    state = service.back(state.id)
    assert page_id(state) == "achtergrond"
    assert {k: state.answers[k] for k in ACHTERGROND} == ACHTERGROND
    state = ok(service.submit_page(state.id, "achtergrond", ACHTERGROND))
    assert page_id(state) == "werk"
    assert events(engine, state.id) == [
        ("welkom", "shown"),
        ("welkom", "submitted"),
        ("achtergrond", "shown"),
        ("achtergrond", "submitted"),
        ("werk", "shown"),
        ("werk", "back"),
        ("achtergrond", "shown"),
        ("achtergrond", "submitted"),
        ("werk", "shown"),
    ]


def test_back_on_the_first_page_stays_there(service: ResponseService) -> None:
    state = service.start("voorbeeld")
    assert page_id(service.back(state.id)) == "welkom"


def test_double_clicked_back_goes_back_once(service: ResponseService) -> None:
    state = to_page(service, "werk")
    service.back(state.id, page_id="werk")
    with pytest.raises(StalePage):
        service.back(state.id, page_id="werk")
    assert page_id(service.state(state.id)) == "achtergrond"


def test_irrelevant_page_is_skipped(service: ResponseService) -> None:
    state = to_page(service, "werk")
    state = ok(service.submit_page(state.id, "werk", {**WERK, "afspraken": 0}))
    assert page_id(state) == "tot_slot"


def test_answers_of_a_page_that_becomes_irrelevant_are_removed(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "tot_slot")
    assert {"pa_1", "pa_aantal"} <= set(stored_answers(engine, state.id))
    service.back(state.id)
    state = service.back(state.id)
    assert page_id(state) == "werk"
    state = ok(service.submit_page(state.id, "werk", {**WERK, "afspraken": 0}))
    assert page_id(state) == "tot_slot"
    stored = stored_answers(engine, state.id)
    assert not {"pa_1", "pa_2", "pa_3", "pa_aantal"} & set(stored)
    assert stored["afspraken"] == 0


def test_item_hidden_by_an_answer_on_the_same_page_is_silently_dropped(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "achtergrond")
    values = {**ACHTERGROND, "functie": 1, "functie_anders": "Coach"}
    state = ok(service.submit_page(state.id, "achtergrond", values))
    assert page_id(state) == "werk"
    assert "functie_anders" not in stored_answers(engine, state.id)


def test_item_shown_by_an_answer_on_the_same_page_is_validated(service: ResponseService) -> None:
    state = to_page(service, "achtergrond")
    result = service.submit_page(state.id, "achtergrond", {**ACHTERGROND, "functie": 6})
    assert codes(result) == {"functie_anders": "required"}
    values = {**ACHTERGROND, "functie": 6, "functie_anders": "Coach"}
    assert service.submit_page(state.id, "achtergrond", values).ok


def test_page_lists_items_whose_condition_depends_on_the_same_page(
    service: ResponseService,
) -> None:
    state = to_page(service, "achtergrond")
    assert state.page is not None
    # functie_anders is shown (a page without JavaScript needs it); its rule travels with it.
    shown = [s.item.id for s in state.page.items]
    assert shown == ["functie", "functie_anders", "provincie", "ervaring", "uren", "in_dienst"]


def test_item_hidden_by_an_earlier_page_is_not_shown(service: ResponseService) -> None:
    state = to_page(service, "tot_slot", uren=20.0)
    assert state.page is not None
    assert [s.item.id for s in state.page.items] == ["behoefte"]


def chain_study() -> Any:
    return study(
        page("p1", item("a", "integer")),
        page("p2", item("b", "text", relevant="${a} > 5")),
        page("p3", item("c", "integer", relevant="string-length(${b}) > 0")),
        page("p4", item("d", "text")),
        id="keten",
    )


def test_stale_answers_on_later_pages_are_deleted_when_they_become_hidden(
    engine: Engine,
) -> None:
    service = open_study(engine, chain_study())
    state = service.start("keten")
    state = ok(service.submit_page(state.id, "p1", {"a": 10}))
    state = ok(service.submit_page(state.id, "p2", {"b": "iets"}))
    state = ok(service.submit_page(state.id, "p3", {"c": 3}))
    assert page_id(state) == "p4"
    assert stored_answers(engine, state.id) == {"a": 10, "b": "iets", "c": 3}
    service.back(state.id)
    service.back(state.id)
    state = service.back(state.id)
    assert page_id(state) == "p1"
    state = ok(service.submit_page(state.id, "p1", {"a": 1}))
    # b is hidden by a; c depended on b, so it goes too; both pages are now skipped.
    assert page_id(state) == "p4"
    assert stored_answers(engine, state.id) == {"a": 1}
    assert state.answers == {"a": 1}


def test_required_may_be_an_expression(service: ResponseService) -> None:
    state = to_page(service, "afspraken_detail")
    assert state.page is not None
    assert not next(s for s in state.page.items if s.item.id == "pa_aantal").required
    result = service.submit_page(state.id, "afspraken_detail", {"pa_3": 5})
    assert codes(result) == {"pa_aantal": "required"}
    state = ok(service.submit_page(state.id, "afspraken_detail", {"pa_3": 2}))
    assert page_id(state) == "tot_slot"


@pytest.mark.parametrize(
    ("language", "message"),
    [("nl", "Deze datum ligt in de toekomst."), ("en", "This date is in the future.")],
)
def test_constraint_error_carries_the_authors_message_in_the_response_language(
    service: ResponseService, language: str, message: str
) -> None:
    state = service.start("voorbeeld", language=language)
    state = ok(service.submit_page(state.id, "welkom", {"toestemming": 1}))
    result = service.submit_page(
        state.id, "achtergrond", {**ACHTERGROND, "in_dienst": "2026-11-27"}
    )
    assert [(e.variable, e.code, e.message) for e in result.errors] == [
        ("in_dienst", "constraint", message)
    ]
    # Today (the service's clock) is allowed.
    assert service.submit_page(
        state.id, "achtergrond", {**ACHTERGROND, "in_dienst": "2026-11-26"}
    ).ok


def test_constraint_on_a_multiple_choice(service: ResponseService) -> None:
    state = to_page(service, "werk")
    result = service.submit_page(state.id, "werk", {**WERK, "overleg": [-1, 2]})
    assert codes(result) == {"overleg": "constraint"}


def test_refused_consent_ends_the_response_and_keeps_no_answers(
    service: ResponseService, engine: Engine
) -> None:
    state = service.start("voorbeeld")
    state = ok(service.submit_page(state.id, "welkom", {"toestemming": 0}))
    assert state.status is ResponseStatus.REFUSED and state.page is None
    assert stored_answers(engine, state.id) == {}
    assert get_study(engine, "voorbeeld").refusals == 1


def test_consent_refused_later_in_the_survey_deletes_earlier_answers(engine: Engine) -> None:
    service = open_study(
        engine,
        study(
            page("intro", item("leeftijd", "integer")),
            page("akkoord", item("ok", "consent", required=True), item("x", "text")),
            page("vragen", item("y", "text")),
            id="laat",
        ),
    )
    state = service.start("laat")
    state = ok(service.submit_page(state.id, "intro", {"leeftijd": 40}))
    state = ok(service.submit_page(state.id, "akkoord", {"ok": False, "x": "iets"}))
    assert state.status is ResponseStatus.REFUSED
    assert stored_answers(engine, state.id) == {}
    assert get_study(engine, "laat").refusals == 1


def test_consent_is_required_when_the_author_says_so(service: ResponseService) -> None:
    state = service.start("voorbeeld")
    assert codes(service.submit_page(state.id, "welkom", {})) == {"toestemming": "required"}


def test_page_events_record_showing_and_submitting(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "achtergrond")
    assert events(engine, state.id) == [
        ("welkom", "shown"),
        ("welkom", "submitted"),
        ("achtergrond", "shown"),
    ]
