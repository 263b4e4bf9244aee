"""`ResponseService.submit_by_code`, the respondent page's POST in one transaction: found by the
resume code, the form's token checked, the page stored, all or nothing — on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.conftest import open_study
from service.factories import item, page, study
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseNotFound, ResponseState, ResponseStatus
from vakstem.store.tables import answers

ACHTERGROND = {"functie": 2, "provincie": 7, "ervaring": 12, "uren": 38.5}


def stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(answers.c.variable, answers.c.value)).all()
    return {variable: value for variable, value in rows}


def fixed(values: Mapping[str, Any]) -> Any:
    return lambda _state: values


def accept(_response_id: str) -> bool:
    return True


def started(service: ResponseService) -> ResponseState:
    state = service.start("voorbeeld")
    result = service.submit_page(state.id, "welkom", {"toestemming": 1})
    assert result.ok and result.state.page is not None
    assert result.state.page.page.id == "achtergrond"
    return state


def test_stores_the_page_and_answers_with_the_next_one(
    service: ResponseService, engine: Engine
) -> None:
    state = started(service)
    seen: list[tuple[str, str | None]] = []

    def answers_for(found: ResponseState) -> Mapping[str, Any]:
        seen.append((found.id, found.page.page.id if found.page else None))
        return ACHTERGROND

    tokens: list[str] = []

    def token_ok(response_id: str) -> bool:
        tokens.append(response_id)
        return True

    outcome = service.submit_by_code(
        state.resume_code.lower().replace("-", " "),  # typed as a person might
        "achtergrond",
        answers_for,
        study_id="voorbeeld",
        token_ok=token_ok,
        from_form=False,
    )
    assert outcome.token_ok and outcome.result is not None and outcome.result.ok
    assert seen == [(state.id, "achtergrond")] and tokens == [state.id]
    # The form was read against the page the response was on; the result is the next page,
    # with the code as the respondent sees it.
    assert outcome.state.page is not None and outcome.state.page.page.id == "achtergrond"
    following = outcome.result.state
    assert following.page is not None and following.page.page.id == "werk"
    assert following.resume_code == state.resume_code
    assert {k: stored(engine)[k] for k in ACHTERGROND} == ACHTERGROND


def test_a_code_under_another_study_is_unknown_and_stores_nothing(
    service: ResponseService, engine: Engine
) -> None:
    open_study(engine, study(page("p", item("q", "integer")), id="ander"))
    state = started(service)
    with pytest.raises(ResponseNotFound):
        service.submit_by_code(
            state.resume_code, "achtergrond", fixed(ACHTERGROND), study_id="ander", token_ok=accept
        )
    with pytest.raises(ResponseNotFound):
        service.submit_by_code(
            "not-a-code", "achtergrond", fixed(ACHTERGROND), study_id="voorbeeld", token_ok=accept
        )
    assert set(stored(engine)) == {"toestemming"}


def test_a_refused_token_stores_nothing(service: ResponseService, engine: Engine) -> None:
    state = started(service)
    outcome = service.submit_by_code(
        state.resume_code,
        "achtergrond",
        fixed(ACHTERGROND),
        study_id="voorbeeld",
        token_ok=lambda _id: False,
    )
    assert not outcome.token_ok and outcome.result is None
    assert outcome.state.page is not None and outcome.state.page.page.id == "achtergrond"
    assert set(stored(engine)) == {"toestemming"}


def test_a_page_no_longer_current_stores_nothing(service: ResponseService, engine: Engine) -> None:
    state = started(service)
    outcome = service.submit_by_code(
        state.resume_code,
        "welkom",
        fixed({"toestemming": 0}),
        study_id="voorbeeld",
        token_ok=accept,
    )
    assert outcome.token_ok and outcome.result is None
    assert service.state(state.id).status is ResponseStatus.ACTIVE
    assert stored(engine) == {"toestemming": 1}


def test_an_ended_response_is_returned_without_checking_the_token(
    service: ResponseService, engine: Engine
) -> None:
    state = service.start("voorbeeld")
    service.submit_page(state.id, "welkom", {"toestemming": 0})

    def never(_id: str) -> bool:
        raise AssertionError("an ended response needs no token")

    outcome = service.submit_by_code(
        state.resume_code, "welkom", fixed({"toestemming": 1}), study_id="voorbeeld", token_ok=never
    )
    assert outcome.result is None and outcome.state.status is ResponseStatus.REFUSED
    assert stored(engine) == {}


def test_errors_store_nothing_and_give_the_page_again(
    service: ResponseService, engine: Engine
) -> None:
    state = started(service)
    outcome = service.submit_by_code(
        state.resume_code,
        "achtergrond",
        fixed({**ACHTERGROND, "ervaring": -3}),
        study_id="voorbeeld",
        token_ok=accept,
    )
    assert outcome.result is not None and not outcome.result.ok
    assert {e.variable for e in outcome.result.errors} == {"ervaring"}
    current = outcome.result.state
    assert current.page is not None and current.page.page.id == "achtergrond"
    assert set(stored(engine)) == {"toestemming"}
