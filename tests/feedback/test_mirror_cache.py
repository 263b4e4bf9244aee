"""The mirror's everyone-figures during fieldwork: reused for up to a minute while responses are
only added (so not every closing page scores every response again), but never past a
withdrawal, and never when the figures were below the threshold (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from tests.feedback.factories import complete

from vakstem.feedback.mirror import MirrorService
from vakstem.instrument.loader import load_study_file
from vakstem.service.responses import ResponseService
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE

STUDY = "klantmanagers"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    load_study(engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, STUDY, "open")
    yield engine
    engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _completes(service: ResponseService, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """`n` completed responses: (id, resume code) of each."""
    done = [complete(service, rng, organisatie=363) for _ in range(n)]
    return [(state.id, code) for state, code in done]


def test_figures_shown_are_reused_for_a_minute_while_responses_are_only_added(
    engine: Engine,
) -> None:
    service, rng, clock = ResponseService(engine), random.Random(3), Clock()
    _completes(service, 30, rng)
    mirrors = MirrorService(engine, clock=clock)
    first = mirrors.aggregates(STUDY)
    assert first.available and first.n.true_size == 30

    _completes(service, 1, rng)
    clock.now += 59
    assert mirrors.aggregates(STUDY) is first
    clock.now += 2
    assert mirrors.aggregates(STUDY).n.true_size == 31


def test_a_withdrawal_counts_at_once_even_within_the_minute(engine: Engine) -> None:
    service, rng, clock = ResponseService(engine), random.Random(4), Clock()
    done = _completes(service, 31, rng)
    mirrors = MirrorService(engine, clock=clock)
    assert mirrors.aggregates(STUDY).n.true_size == 31

    # One withdrawn and one added: as many as before, but not the same responses.
    service.withdraw(done[0][1])
    _completes(service, 1, rng)
    replaced = mirrors.aggregates(STUDY)
    assert replaced.n.true_size == 31 and done[0][0] not in replaced.n.basis
    service.withdraw(done[1][1])
    after = mirrors.aggregates(STUDY)
    assert after.n.true_size == 30 and done[1][0] not in after.n.basis


def test_below_the_threshold_every_completion_counts_at_once(engine: Engine) -> None:
    service, rng, clock = ResponseService(engine), random.Random(5), Clock()
    _completes(service, 29, rng)
    mirrors = MirrorService(engine, clock=clock)
    assert not mirrors.aggregates(STUDY).available

    _completes(service, 1, rng)
    assert mirrors.aggregates(STUDY).available
