"""Quotas and closing: a full quota refuses new respondents (friendly error), those already
started may finish, groups are sets of source tags, and concurrent starts never get more places
than the quota has, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.invitations.factories import load_open, opened

from vakstem.service import links
from vakstem.service.quotas import QuotaError, QuotaFull, has_room, list_quotas, set_quota
from vakstem.service.responses import ResponseService
from vakstem.service.types import StudyClosed

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with opened(database_url) as engine:
        load_open(engine)
        yield engine


def _complete(service: ResponseService, response_id: str) -> None:
    result = service.submit_page(response_id, "p1", {"tevreden": 1})
    assert result.ok and result.state.completed


def test_full_quota_refuses_newcomers_but_started_respondents_finish(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "bereik", "totaal", 2)
    first = service.start("bereik")
    second = service.start("bereik")
    with pytest.raises(QuotaFull) as refused:
        service.start("bereik")
    # The respondent pages treat it as a closed study: the friendly closing page.
    assert isinstance(refused.value, StudyClosed)
    _complete(service, first.id)
    _complete(service, second.id)
    [quota] = list_quotas(engine, "bereik", NOW)
    assert (quota.completes, quota.running, quota.full) == (2, 0, True)
    assert not has_room(engine, "bereik", None, NOW)


def test_group_quota_closes_only_its_own_sources(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "bereik", "gemeenten", 1, sources=["gemeente-x"])
    _complete(service, service.start("bereik", source="gemeente-x").id)
    with pytest.raises(QuotaFull):
        service.start("bereik", source="gemeente-x")
    other = service.start("bereik", source="nieuwsbrief-nov")
    assert other.status.value == "active"
    assert has_room(engine, "bereik", "nieuwsbrief-nov", NOW)
    assert not has_room(engine, "bereik", "gemeente-x", NOW)


def test_abandoned_response_gives_its_place_back_after_the_hold_time(engine: Engine) -> None:
    clock = {"now": NOW}
    service = ResponseService(engine, clock=lambda: clock["now"])
    set_quota(engine, "bereik", "totaal", 1, hold_minutes=30)
    abandoned = service.start("bereik")
    with pytest.raises(QuotaFull):
        service.start("bereik")
    clock["now"] = NOW + timedelta(minutes=31)
    newcomer = service.start("bereik")
    _complete(service, newcomer.id)
    # The one who left may still come back and finish: started respondents are never stopped.
    _complete(service, abandoned.id)


def test_test_responses_pass_quotas_and_are_not_counted(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "bereik", "totaal", 0)
    with pytest.raises(QuotaFull):
        service.start("bereik")
    _complete(service, service.start("bereik", test=True).id)
    assert list_quotas(engine, "bereik", NOW)[0].completes == 0


def test_concurrent_starts_get_no_more_places_than_the_quota(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    set_quota(engine, "bereik", "totaal", 3)
    threads_n = 10
    barrier = threading.Barrier(threads_n)
    admitted: list[str] = []
    refused: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def arrive() -> None:
        barrier.wait()
        try:
            state = service.start("bereik", source="gemeente-x")
        except QuotaFull:
            with lock:
                refused.append("x")
        except BaseException as exc:  # any other failure must fail the test, not vanish
            with lock:
                failures.append(exc)
        else:
            with lock:
                admitted.append(state.id)

    threads = [threading.Thread(target=arrive) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(admitted) == 3 and len(refused) == threads_n - 3
    for response_id in admitted:
        _complete(service, response_id)
    [quota] = list_quotas(engine, "bereik", NOW)
    assert quota.completes == 3


def test_database_tags_are_kept_and_unknown_tags_dropped(engine: Engine) -> None:
    service = ResponseService(engine, clock=lambda: NOW)
    links.add_tag(engine, "bereik", "flyer-congres")
    kept = service.start("bereik", source="flyer-congres")
    dropped = service.start("bereik", source="verzonnen")
    counts = {c.source: c.starts for c in links.source_counts(engine, "bereik")}
    assert counts["flyer-congres"] == 1 and counts[""] == 1
    assert kept.id != dropped.id


@pytest.mark.parametrize(
    ("name", "maximum", "sources", "message"),
    [
        ("Totaal!", 5, None, "quota name 'Totaal!'"),
        ("totaal", -1, None, "cannot be negative"),
        ("totaal", 5, ["bestaat-niet"], "unknown source tag(s) bestaat-niet"),
        ("totaal", 5, [], "at least one source tag"),
    ],
)
def test_bad_quota_definitions_are_clear_errors(
    engine: Engine, name: str, maximum: int, sources: list[str] | None, message: str
) -> None:
    with pytest.raises(QuotaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        set_quota(engine, "bereik", name, maximum, sources=sources)
