"""Starting, resuming, languages, sources, test responses, versions and withdrawal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.conftest import EXAMPLE, NOW
from service.test_service_flow import ACHTERGROND, ok, page_id, stored_answers, to_page
from vakstem.instrument.schema import Study
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseFinished, ResponseStatus, StudyClosed, StudyNotFound
from vakstem.store.studies import load_study, set_fieldwork, set_status
from vakstem.store.tables import responses

CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}")


def row(engine: Engine, response_id: str) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(sa.select(responses).where(responses.c.id == response_id)).one()


def test_start_gives_an_id_a_typeable_code_and_the_first_page(
    service: ResponseService, engine: Engine
) -> None:
    state = service.start("voorbeeld")
    assert re.fullmatch(r"[0-9a-f]{32}", state.id)
    assert CODE.fullmatch(state.resume_code)
    assert state.language == "nl" and page_id(state) == "welkom"
    stored = row(engine, state.id)
    # Only the code's hash is stored.
    assert state.resume_code.replace("-", "") not in str(tuple(stored))
    assert stored.started_at == NOW and stored.source is None and not stored.is_test


def test_codes_differ_between_responses(service: ResponseService) -> None:
    codes = {service.start("voorbeeld").resume_code for _ in range(20)}
    assert len(codes) == 20


def test_later_reads_do_not_know_the_code(service: ResponseService) -> None:
    state = service.start("voorbeeld")
    assert service.state(state.id).resume_code == ""


def test_resume_ignores_case_spaces_dashes_and_lookalikes(service: ResponseService) -> None:
    service.start("voorbeeld")
    first = service.start("voorbeeld")
    typed = f"  {first.resume_code.lower().replace('-', ' ')} "
    assert service.resume(typed).id == first.id
    assert service.resume(first.resume_code.replace("-", "")).resume_code == first.resume_code
    zeroes = first.resume_code.replace("0", "o").replace("1", "l")
    assert service.resume(zeroes).id == first.id


def test_resume_continues_where_the_respondent_left(service: ResponseService) -> None:
    started = service.start("voorbeeld")
    ok(service.submit_page(started.id, "welkom", {"toestemming": 1}))
    resumed = service.resume(started.resume_code)
    assert resumed.id == started.id and page_id(resumed) == "achtergrond"
    assert resumed.resume_code == started.resume_code


def test_unknown_study_is_not_found(service: ResponseService) -> None:
    with pytest.raises(StudyNotFound):
        service.start("bestaat_niet")


def test_draft_study_takes_only_test_responses(engine: Engine, example: Study) -> None:
    load_study(engine, example, EXAMPLE.read_text(encoding="utf-8"))
    service = ResponseService(engine, clock=lambda: NOW)
    with pytest.raises(StudyClosed):
        service.start("voorbeeld")
    state = service.start("voorbeeld", test=True)
    assert state.is_test and page_id(state) == "welkom"
    assert ok(service.submit_page(state.id, "welkom", {"toestemming": 1}))


def test_closed_and_archived_studies_take_no_responses(
    service: ResponseService, engine: Engine
) -> None:
    set_status(engine, "voorbeeld", "closed")
    with pytest.raises(StudyClosed):
        service.start("voorbeeld")
    with pytest.raises(StudyClosed):
        service.start("voorbeeld", test=True)
    set_status(engine, "voorbeeld", "archived")
    with pytest.raises(StudyClosed):
        service.start("voorbeeld")


def test_fieldwork_window_and_completes_target_are_honoured(
    service: ResponseService, engine: Engine
) -> None:
    set_fieldwork(engine, "voorbeeld", opens_at=NOW + timedelta(days=1))
    with pytest.raises(StudyClosed):
        service.start("voorbeeld")
    set_fieldwork(engine, "voorbeeld", closes_at=NOW)
    with pytest.raises(StudyClosed):
        service.start("voorbeeld")
    set_fieldwork(engine, "voorbeeld", max_completes=1)
    to_page(service, "end")
    with pytest.raises(StudyClosed):
        service.start("voorbeeld")


@pytest.mark.parametrize(
    ("asked", "given"), [("en", "en"), ("nl", "nl"), ("de", "nl"), (None, "nl")]
)
def test_language_falls_back_to_the_default(
    service: ResponseService, asked: str | None, given: str
) -> None:
    assert service.start("voorbeeld", language=asked).language == given


def test_language_can_be_switched(service: ResponseService, engine: Engine) -> None:
    state = service.start("voorbeeld")
    assert service.set_language(state.id, "en").language == "en"
    assert row(engine, state.id).language == "en"
    assert service.set_language(state.id, "fr").language == "nl"


@pytest.mark.parametrize(("source", "stored"), [("nieuwsbrief", "nieuwsbrief"), ("spam", None)])
def test_only_listed_source_tags_are_stored(
    service: ResponseService, engine: Engine, source: str, stored: str | None
) -> None:
    state = service.start("voorbeeld", source=source)
    assert row(engine, state.id).source == stored


def test_each_response_keeps_its_instrument_version(
    service: ResponseService, engine: Engine, example: Study
) -> None:
    old = service.start("voorbeeld")
    changed = example.model_copy(update={"version": "2"})
    new_hash, created = load_study(engine, changed, "gewijzigd")
    assert created
    new = service.start("voorbeeld")
    assert new.instrument_version == new_hash != old.instrument_version
    assert service.state(old.id).instrument_version == old.instrument_version
    assert service.state(old.id).study.version == "1"
    assert ok(service.submit_page(old.id, "welkom", {"toestemming": 1}))


def test_withdraw_deletes_answers_and_ends_the_response(
    service: ResponseService, engine: Engine
) -> None:
    state = service.start("voorbeeld")
    ok(service.submit_page(state.id, "welkom", {"toestemming": 1}))
    ok(service.submit_page(state.id, "achtergrond", ACHTERGROND))
    assert stored_answers(engine, state.id)
    withdrawn = service.withdraw(state.resume_code.lower())
    assert withdrawn.status is ResponseStatus.WITHDRAWN and withdrawn.page is None
    assert stored_answers(engine, state.id) == {}
    with pytest.raises(ResponseFinished):
        service.submit_page(state.id, "werk", {})
    assert service.resume(state.resume_code).status is ResponseStatus.WITHDRAWN
