"""Quotas on an answer (e.g. organisation type 2 at most N completes): checked when the page with
that question is submitted; a full group ends the response politely as screened out, other
answers go on, respondents past the page finish, and concurrent submits never overshoot, on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.invitations.factories import SOURCES, load_open, opened
from tests.service.factories import PRIVACY

from vakstem.instrument.schema import Choice, Item, ItemType, Page, Study
from vakstem.service.quotas import QuotaError, has_room, list_quotas, set_quota
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseStatus
from vakstem.store.tables import answers, responses

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def screening_study() -> Study:
    return Study(
        id="screen",
        title={"nl": "Screening", "en": "Screening"},
        languages=("nl", "en"),
        sources=SOURCES,
        privacy=PRIVACY,
        choice_lists={
            "orgtype": tuple(Choice(code=c, label=f"type {c}") for c in (1, 2, 3, 4)),
            "janee": (Choice(code=1, label="Ja"), Choice(code=0, label="Nee")),
        },
        pages=(
            Page(
                id="p1",
                items=(
                    Item(
                        id="org_type", type=ItemType.SINGLE, text="Organisatie?", choices="orgtype"
                    ),
                    Item(id="jaren", type=ItemType.INTEGER, text="Jaren?", required=False),
                ),
            ),
            Page(
                id="p2",
                items=(
                    Item(id="tevreden", type=ItemType.SINGLE, text="Tevreden?", choices="janee"),
                ),
            ),
        ),
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with opened(database_url) as engine:
        load_open(engine, screening_study())
        yield engine


def _finish(service: ResponseService, response_id: str) -> None:
    result = service.submit_page(response_id, "p2", {"tevreden": 1})
    assert result.ok and result.state.completed


def _answer_org(service: ResponseService, org: int) -> ResponseStatus:
    state = service.start("screen")
    result = service.submit_page(state.id, "p1", {"org_type": org})
    assert result.ok
    return result.state.status


def test_full_answer_quota_screens_out_new_respondents_at_that_page(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "screen", "gemeentelijk", 2, variable="org_type", value="2")
    for _ in range(2):
        state = service.start("screen")
        assert service.submit_page(state.id, "p1", {"org_type": 2}).state.page is not None
        _finish(service, state.id)
    late = service.start("screen")
    result = service.submit_page(late.id, "p1", {"org_type": 2, "jaren": 7})
    assert result.ok
    assert result.state.status is ResponseStatus.SCREENED_OUT
    assert result.state.page is None and result.state.answers == {}
    # Nothing of the screened-out response is kept but its status.
    with engine.connect() as conn:
        kept = conn.execute(sa.select(answers).where(answers.c.response_id == late.id)).all()
        status = conn.execute(
            sa.select(responses.c.status).where(responses.c.id == late.id)
        ).scalar_one()
    assert kept == [] and status == "screened_out"
    [quota] = list_quotas(engine, "screen", NOW)
    assert (quota.completes, quota.running, quota.full) == (2, 0, True)


def test_other_answers_continue_when_one_group_is_full(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "screen", "gemeentelijk", 0, variable="org_type", value=2)
    assert _answer_org(service, 2) is ResponseStatus.SCREENED_OUT
    state = service.start("screen")
    assert service.submit_page(state.id, "p1", {"org_type": 3}).state.page is not None
    _finish(service, state.id)
    # An answer quota does not close the study at the door: its group is not known yet.
    assert has_room(engine, "screen", None, NOW)


def test_respondents_past_the_page_finish_and_hold_their_place(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "screen", "gemeentelijk", 2, variable="org_type", value=2)
    first, second = service.start("screen"), service.start("screen")
    for state in (first, second):
        assert service.submit_page(state.id, "p1", {"org_type": 2}).state.page is not None
    # Two running respondents hold both places: the third is screened out.
    assert _answer_org(service, 2) is ResponseStatus.SCREENED_OUT
    # Even a quota lowered to zero later does not stop those who passed the page, also when
    # they go back and submit that page again.
    set_quota(engine, "screen", "gemeentelijk", 0, variable="org_type", value=2)
    service.back(first.id)
    assert service.submit_page(first.id, "p1", {"org_type": 2}).state.page is not None
    _finish(service, first.id)
    _finish(service, second.id)


def test_an_abandoned_response_gives_its_place_back_after_the_hold_time(engine: Engine) -> None:
    set_quota(engine, "screen", "gemeentelijk", 1, variable="org_type", value=2, hold_minutes=30)
    early = ResponseService(engine, clock=lambda: NOW)
    assert _answer_org(early, 2) is ResponseStatus.ACTIVE
    assert _answer_org(early, 2) is ResponseStatus.SCREENED_OUT
    later = ResponseService(engine, clock=lambda: NOW + timedelta(minutes=31))
    assert _answer_org(later, 2) is ResponseStatus.ACTIVE


def test_test_responses_pass_answer_quotas(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "screen", "gemeentelijk", 0, variable="org_type", value=2)
    state = service.start("screen", test=True)
    assert service.submit_page(state.id, "p1", {"org_type": 2}).state.page is not None


def test_concurrent_submits_never_exceed_the_answer_quota(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "screen", "gemeentelijk", 3, variable="org_type", value=2)
    threads_n = 10
    started = [service.start("screen").id for _ in range(threads_n)]
    barrier = threading.Barrier(threads_n)
    outcomes: list[ResponseStatus] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def submit(response_id: str) -> None:
        barrier.wait()
        try:
            result = service.submit_page(response_id, "p1", {"org_type": 2})
        except BaseException as exc:  # any failure must fail the test, not vanish
            with lock:
                failures.append(exc)
        else:
            with lock:
                outcomes.append(result.state.status)

    threads = [threading.Thread(target=submit, args=(rid,)) for rid in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert outcomes.count(ResponseStatus.ACTIVE) == 3
    assert outcomes.count(ResponseStatus.SCREENED_OUT) == threads_n - 3
    for response_id in started:
        if service.state(response_id).status is ResponseStatus.ACTIVE:
            _finish(service, response_id)
    [quota] = list_quotas(engine, "screen", NOW)
    assert (quota.completes, quota.running) == (3, 0)


@pytest.mark.parametrize(
    ("variable", "value", "sources", "message"),
    [
        ("bestaat_niet", "2", None, "the study has no question 'bestaat_niet'"),
        ("org_type", "9", None, "'9' is not a code of 'org_type' (its codes: 1, 2, 3, 4)"),
        ("org_type", "twee", None, "'twee' is not a code of 'org_type'"),
        ("jaren", "2", None, "'jaren' is of type integer; a quota needs a single-choice"),
        ("org_type", None, None, "give both a variable and a value, or neither"),
        ("org_type", "2", ["gemeente-x"], "on source tags or on an answer, not both"),
    ],
)
def test_bad_answer_quota_definitions_are_clear_errors(
    engine: Engine, variable: str, value: str | None, sources: list[str] | None, message: str
) -> None:
    with pytest.raises(QuotaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        set_quota(engine, "screen", "groep", 5, variable=variable, value=value, sources=sources)
    assert list_quotas(engine, "screen", NOW) == []
