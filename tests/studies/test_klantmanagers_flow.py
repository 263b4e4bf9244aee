"""The klantmanager study through the real respondent service and storage (SQLite and
PostgreSQL): complete runs along both routes of its conditions, the caseload check, the
organisation questions, and consent refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import ItemType
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseState, ResponseStatus, ShownItem
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE
from vakstem.studies.klantmanagers.organisations import OTHER_ORGANISATION


@pytest.fixture
def service(database_url: str) -> Iterator[ResponseService]:
    engine: Engine = open_database(database_url)
    study = load_study_file(STUDY_FILE)
    load_study(engine, study, STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, study.id, "open")
    yield ResponseService(engine)
    engine.dispose()


def _answer(shown: ShownItem, chosen: dict[str, Any]) -> dict[str, Any]:
    """Answers for one shown item: the value in `chosen` if given, else a valid one."""
    item = shown.item
    if item.type is ItemType.MATRIX:
        return {row.id: chosen.get(row.id, 4) for row in shown.rows}
    if item.id in chosen:
        return {item.id: chosen[item.id]}
    if item.type is ItemType.CONSENT:
        return {item.id: 1}
    if item.type is ItemType.SINGLE:
        return {item.id: shown.choices[0].code}
    if item.type is ItemType.INTEGER:
        return {item.id: 12}
    if item.type is ItemType.LONGTEXT:
        return {item.id: "Meer tijd per klant."}
    return {}


def _walk(
    service: ResponseService, chosen: dict[str, Any], language: str = "nl"
) -> tuple[ResponseState, list[str], dict[str, list[str]]]:
    """Fill in the whole study; returns the final state, the pages seen and their items."""
    state = service.start("klantmanagers", language=language)
    seen: list[str] = []
    shown: dict[str, list[str]] = {}
    while state.page is not None:
        page = state.page
        seen.append(page.page.id)
        shown[page.page.id] = [s.item.id for s in page.items]
        answers: dict[str, Any] = {}
        for item in page.items:
            answers.update(_answer(item, chosen))
        result = service.submit_page(state.id, page.page.id, answers)
        assert result.ok, (page.page.id, result.errors)
        state = result.state
    return state, seen, shown


def test_with_agreements_and_a_caseload_every_page_is_shown_and_stored(
    service: ResponseService,
) -> None:
    state, seen, shown = _walk(
        service, {"organisatie": 363, "pa_1": 1, "cl_1": 1, "cl_2": 120, "cl_3": 70}
    )
    assert state.status is ResponseStatus.COMPLETED
    assert seen == [p.id for p in state.study.pages]
    assert shown["werkdruk"] == ["blok_wd", "cl_2", "cl_3"]
    assert {"pa_2": 4, "pa_5": 4, "cl_2": 120, "cl_3": 70, "organisatie": 363}.items() <= (
        state.answers.items()
    )
    assert "grootte" not in state.answers  # follows from the municipality code


def test_without_agreements_or_caseload_targets_and_caseload_numbers_are_skipped(
    service: ResponseService,
) -> None:
    state, seen, shown = _walk(service, {"organisatie": 14, "pa_1": 0, "cl_1": 0}, "en")
    assert state.status is ResponseStatus.COMPLETED
    assert "prestatieafspraken" not in seen
    assert shown["werkdruk"] == ["blok_wd"]
    assert not {"pa_2", "pa_3", "pa_4", "pa_5", "cl_2", "cl_3"} & set(state.answers)


def test_more_active_clients_than_the_caseload_is_refused_with_the_studys_message(
    service: ResponseService,
) -> None:
    state = service.start("klantmanagers", language="nl")
    pages = {"welkom": {}, "toestemming": {"toestemming": 1}}
    for page_id, answers in pages.items():
        state = service.submit_page(state.id, page_id, answers).state
    state = service.submit_page(state.id, "organisatie", {"organisatie": 363}).state
    werk = {"cl_1": 1}
    while state.page is not None and state.page.page.id != "werkdruk":
        answers = {}
        for item in state.page.items:
            answers.update(_answer(item, werk))
        state = service.submit_page(state.id, state.page.page.id, answers).state
    wd = {f"wd_{n}": 3 for n in range(1, 5)}
    result = service.submit_page(state.id, "werkdruk", {**wd, "cl_2": 50, "cl_3": 80})
    assert not result.ok
    [error] = result.errors
    assert error.variable == "cl_3"
    assert error.message is not None and "caseload" in error.message


def test_other_organisation_keeps_its_size_province_and_code(service: ResponseService) -> None:
    chosen = {"organisatie": OTHER_ORGANISATION, "org_code": 5003, "grootte": 5, "provincie": 22}
    state, _seen, shown = _walk(service, chosen)
    assert shown["organisatie"] == ["org_type", "organisatie", "org_code", "grootte", "provincie"]
    assert {"org_code": 5003, "grootte": 5, "provincie": 22}.items() <= state.answers.items()


def test_refusing_consent_ends_the_survey(service: ResponseService) -> None:
    state = service.start("klantmanagers", language="nl")
    state = service.submit_page(state.id, "welkom", {}).state
    result = service.submit_page(state.id, "toestemming", {"toestemming": 0})
    assert result.ok
    assert result.state.status is ResponseStatus.REFUSED
    assert result.state.page is None
