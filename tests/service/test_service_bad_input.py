"""Every bad submission gets a specific error, and on any error nothing is stored and the
response stays where it was."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.test_service_flow import ACHTERGROND, WERK, codes, stored_answers, to_page
from vakstem.service.responses import ResponseService
from vakstem.service.types import (
    ResponseFinished,
    ResponseNotFound,
    StalePage,
    StudyClosed,
)
from vakstem.store.studies import set_status
from vakstem.store.tables import answers, page_events, responses


def snapshot(engine: Engine, response_id: str) -> tuple[Any, ...]:
    """Everything stored about a response, to show that a refused submit changed nothing."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(responses).where(responses.c.id == response_id)).one()
        n_events = conn.execute(
            sa.select(sa.func.count()).where(page_events.c.response_id == response_id)
        ).scalar_one()
    return (tuple(row), stored_answers(engine, response_id), n_events)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ervaring": "12"}, {"ervaring": "not_integer"}),
        ({"ervaring": True}, {"ervaring": "not_integer"}),
        ({"ervaring": 51}, {"ervaring": "above_max"}),
        ({"ervaring": -1}, {"ervaring": "below_min"}),
        ({"uren": "36"}, {"uren": "not_number"}),
        ({"uren": 61}, {"uren": "above_max"}),
        ({"functie": 7}, {"functie": "not_a_choice"}),
        ({"provincie": "Utrecht"}, {"provincie": "not_a_choice"}),
        ({"in_dienst": "2023-02-30"}, {"in_dienst": "not_a_date"}),
        ({"functie": 6, "functie_anders": "x" * 101}, {"functie_anders": "too_long"}),
        ({"functie": 6, "functie_anders": 5}, {"functie_anders": "not_text"}),
        ({"onbekend": 1}, {"onbekend": "unknown_item"}),
        ({"br_1": 3}, {"br_1": "unknown_item"}),  # an item of another page
        ({"uitleg": "x"}, {"uitleg": "unknown_item"}),  # a note stores nothing
        ({"functie": None}, {"functie": "required"}),
        ({"ervaring": 99, "uren": "veel"}, {"ervaring": "above_max", "uren": "not_number"}),
    ],
)
def test_bad_answer_gets_its_error_and_nothing_is_stored(
    service: ResponseService, engine: Engine, changes: dict[str, Any], expected: dict[str, str]
) -> None:
    state = to_page(service, "achtergrond")
    before = snapshot(engine, state.id)
    result = service.submit_page(state.id, "achtergrond", {**ACHTERGROND, **changes})
    assert codes(result) == expected
    assert result.state.page is not None and result.state.page.page.id == "achtergrond"
    assert result.submitted == {**ACHTERGROND, **changes}
    assert snapshot(engine, state.id) == before


def test_form_values_are_parsed_and_checked(service: ResponseService, engine: Engine) -> None:
    state = to_page(service, "achtergrond")
    form = {"functie": "2", "provincie": "", "ervaring": "12", "uren": "32,5", "in_dienst": ""}
    result = service.submit_page(state.id, "achtergrond", form, from_form=True)
    assert result.ok, result.errors
    stored = stored_answers(engine, state.id)
    assert stored["uren"] == 32.5 and stored["ervaring"] == 12 and "provincie" not in stored
    bad = service.submit_page(
        result.state.id,
        "werk",
        {**{k: str(v) for k, v in WERK.items()}, "overleg": ["1", "1"]},
        from_form=True,
    )
    assert codes(bad) == {"overleg": "not_a_choice"}


def test_answer_for_an_item_hidden_by_an_earlier_page_is_refused(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "tot_slot", uren=20.0)
    before = snapshot(engine, state.id)
    result = service.submit_page(state.id, "tot_slot", {"uren_toelichting": "x"})
    assert codes(result) == {"uren_toelichting": "not_relevant"}
    assert snapshot(engine, state.id) == before
    # Left empty (as a form might send it), it is simply ignored.
    assert service.submit_page(state.id, "tot_slot", {"uren_toelichting": ""}).ok


def test_stale_page_is_refused_and_changes_nothing(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "werk")
    before = snapshot(engine, state.id)
    with pytest.raises(StalePage) as stale:
        service.submit_page(state.id, "achtergrond", {**ACHTERGROND, "ervaring": 3})
    assert stale.value.params == {"page": "achtergrond", "current": "werk"}
    with pytest.raises(StalePage):
        service.submit_page(state.id, "tot_slot", {})
    assert snapshot(engine, state.id) == before


def test_double_submit_stores_one_row_per_variable(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "achtergrond")
    assert service.submit_page(state.id, "achtergrond", ACHTERGROND).ok
    with pytest.raises(StalePage):
        service.submit_page(state.id, "achtergrond", ACHTERGROND)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.variable, sa.func.count())
            .where(answers.c.response_id == state.id)
            .group_by(answers.c.variable)
        ).all()
    assert {v for v, _n in rows} == {"toestemming", *ACHTERGROND}
    assert all(n == 1 for _v, n in rows)


def test_submit_after_the_study_closed_is_refused(service: ResponseService, engine: Engine) -> None:
    state = to_page(service, "achtergrond")
    set_status(engine, "voorbeeld", "closed")
    before = snapshot(engine, state.id)
    with pytest.raises(StudyClosed):
        service.submit_page(state.id, "achtergrond", ACHTERGROND)
    assert snapshot(engine, state.id) == before
    set_status(engine, "voorbeeld", "open")
    assert service.submit_page(state.id, "achtergrond", ACHTERGROND).ok


def test_finished_response_takes_no_more_pages(service: ResponseService) -> None:
    state = to_page(service, "end")
    assert state.completed
    with pytest.raises(ResponseFinished):
        service.submit_page(state.id, "tot_slot", {})
    with pytest.raises(ResponseFinished):
        service.back(state.id)


@pytest.mark.parametrize("code", ["", "ABCD-EFGH-JK", "0000000000", "te kort", "I" * 10, "x" * 200])
def test_unknown_resume_code_is_not_found(service: ResponseService, code: str) -> None:
    service.start("voorbeeld")
    with pytest.raises(ResponseNotFound):
        service.resume(code)
    with pytest.raises(ResponseNotFound):
        service.withdraw(code)


def test_unknown_response_id_is_not_found(service: ResponseService) -> None:
    for call in (
        lambda: service.state("0" * 32),
        lambda: service.submit_page("nope", "welkom", {}),
        lambda: service.back("nope"),
        lambda: service.set_language("nope", "en"),
    ):
        with pytest.raises(ResponseNotFound):
            call()


def test_wrong_code_for_a_response_is_not_found(service: ResponseService) -> None:
    first = service.start("voorbeeld")
    second = service.start("voorbeeld")
    with pytest.raises(ResponseNotFound):
        service.authorize(first.id, second.resume_code)
    with pytest.raises(ResponseNotFound):
        service.authorize("f" * 32, first.resume_code)
    with pytest.raises(ResponseNotFound):
        service.authorize(first.id, "")
    assert service.authorize(first.id, first.resume_code).id == first.id
