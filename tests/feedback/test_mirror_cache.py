"""The mirror's everyone-figures during fieldwork: reused for up to a minute while responses are
only added (so not every closing page scores every response again), but never past a
withdrawal, an exclusion, a deletion or a new study version, and never when the figures were
below the threshold; the cheap change summary and the mirror's own scoring agree with the full
feedback data (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from tests.feedback.factories import complete

from vakstem.feedback.data import completed_ids, completed_state, load_feedback_data
from vakstem.feedback.mirror import MirrorService, build_aggregates
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.service.audit import Actor
from vakstem.service.console import delete_by_resume_code, exclude_response, include_response
from vakstem.service.responses import ResponseService
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE

STUDY = "klantmanagers"


def _with_mirror_min(mirror_min: int) -> Study:
    study = load_study_file(STUDY_FILE)
    settings = study.settings.model_copy(update={"mirror_min": mirror_min})
    return study.model_copy(update={"settings": settings})


@pytest.fixture
def small(database_url: str) -> Iterator[Engine]:
    """The klantmanager study with the mirror shown from 10 completes (k is 10 too)."""
    engine = open_database(database_url)
    load_study(engine, _with_mirror_min(10), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, STUDY, "open")
    yield engine
    engine.dispose()


ADMIN = Actor.system("test")


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


def test_an_exclusion_counts_at_once_even_within_the_minute(small: Engine) -> None:
    service, rng, clock = ResponseService(small), random.Random(6), Clock()
    done = _completes(service, 11, rng)
    mirrors = MirrorService(small, clock=clock)
    assert mirrors.aggregates(STUDY).n.true_size == 11

    exclude_response(small, STUDY, done[0][0], "straightlining", actor=ADMIN)
    _completes(service, 1, rng)
    after = mirrors.aggregates(STUDY)
    assert after.n.true_size == 11 and done[0][0] not in after.n.basis
    for quartiles in after.quartiles.values():
        assert quartiles is None or done[0][0] not in quartiles.basis


def test_excluding_one_while_including_another_is_not_taken_for_an_addition(
    small: Engine,
) -> None:
    service, rng, clock = ResponseService(small), random.Random(7), Clock()
    done = _completes(service, 12, rng)
    exclude_response(small, STUDY, done[0][0], "test run", actor=ADMIN)
    mirrors = MirrorService(small, clock=clock)
    assert done[0][0] not in mirrors.aggregates(STUDY).n.basis

    # As many exclusions and completes as before, but another response is excluded.
    include_response(small, STUDY, done[0][0], actor=ADMIN)
    exclude_response(small, STUDY, done[1][0], "test run", actor=ADMIN)
    after = mirrors.aggregates(STUDY)
    assert done[1][0] not in after.n.basis and done[0][0] in after.n.basis


def test_a_deleted_response_counts_at_once_even_within_the_minute(small: Engine) -> None:
    service, rng, clock = ResponseService(small), random.Random(8), Clock()
    done = _completes(service, 11, rng)
    mirrors = MirrorService(small, clock=clock)
    assert mirrors.aggregates(STUDY).available

    delete_by_resume_code(small, STUDY, done[0][1], actor=ADMIN)
    _completes(service, 1, rng)
    after = mirrors.aggregates(STUDY)
    assert after.n.true_size == 11 and done[0][0] not in after.n.basis


def test_a_new_study_version_is_not_answered_from_the_old_figures(small: Engine) -> None:
    service, rng, clock = ResponseService(small), random.Random(10), Clock()
    _completes(service, 11, rng)
    mirrors = MirrorService(small, clock=clock)
    assert mirrors.aggregates(STUDY).available

    # The researcher raises the threshold: the next closing page shows no figures.
    load_study(small, _with_mirror_min(40), STUDY_FILE.read_text(encoding="utf-8"))
    later = mirrors.aggregates(STUDY)
    assert not later.available and later.threshold == 40


def test_unchanged_figures_are_kept_past_the_minute(small: Engine) -> None:
    service, rng, clock = ResponseService(small), random.Random(11), Clock()
    _completes(service, 10, rng)
    mirrors = MirrorService(small, clock=clock)
    first = mirrors.aggregates(STUDY)
    clock.now += 3600
    assert mirrors.aggregates(STUDY) is first


def test_below_the_threshold_the_count_is_of_every_completed_response(small: Engine) -> None:
    service, rng, clock = ResponseService(small), random.Random(12), Clock()
    done = _completes(service, 9, rng)
    complete(service, rng, test=True, organisatie=363)
    mirrors = MirrorService(small, clock=clock)
    below = mirrors.aggregates(STUDY)
    assert not below.available and below.quartiles == {}
    assert below.n.basis == {rid for rid, _c in done}
    service.withdraw(done[0][1])
    assert mirrors.aggregates(STUDY).n.basis == {rid for rid, _c in done[1:]}


def test_the_change_summary_marks_every_way_out_of_the_set(small: Engine) -> None:
    service, rng = ResponseService(small), random.Random(13)
    done = _completes(service, 6, rng)
    service.start(STUDY, language="nl")
    before = completed_state(small, STUDY)
    assert (before.completed, before.left, before.excluded, before.deleted) == (6, 0, 0, None)

    _completes(service, 1, rng)
    added = completed_state(small, STUDY)
    assert added.only_added_to(before) and not added.same_as(before)
    assert completed_state(small, STUDY).same_as(added)

    service.withdraw(done[0][1])
    withdrawn = completed_state(small, STUDY)
    assert withdrawn.left == 1 and not withdrawn.only_added_to(added)

    exclude_response(small, STUDY, done[1][0], "duplicate", actor=ADMIN)
    excluded = completed_state(small, STUDY)
    assert excluded.excluded == 1 and not excluded.only_added_to(withdrawn)
    include_response(small, STUDY, done[1][0], actor=ADMIN)
    assert not completed_state(small, STUDY).only_added_to(excluded)

    delete_by_resume_code(small, STUDY, done[2][1], actor=ADMIN)
    deleted = completed_state(small, STUDY)
    assert deleted.deleted is not None and not deleted.only_added_to(excluded)
    assert deleted.completed == 5 == len(completed_ids(small, STUDY))
    assert completed_state(small, "no-such-study").version is None


def test_the_mirror_scores_equal_the_feedback_datas_to_the_bit(small: Engine) -> None:
    service, rng = ResponseService(small), random.Random(14)
    done = _completes(service, 14, rng)
    complete(service, rng, test=True, organisatie=363)
    service.withdraw(done[0][1])
    exclude_response(small, STUDY, done[1][0], "duplicate", actor=ADMIN)
    fast = MirrorService(small).aggregates(STUDY)
    full = build_aggregates(load_feedback_data(small, STUDY))
    assert fast.available and fast.n.basis == full.n.basis
    assert fast.quartiles == full.quartiles
    assert any(q is not None for q in fast.quartiles.values())


def test_scores_kept_between_computations_give_the_figures_of_a_fresh_one(small: Engine) -> None:
    """Only responses new to the set are read again; what comes out must be what reading
    everything gives, after completions, a withdrawal, and an exclusion undone."""
    service, rng, clock = ResponseService(small), random.Random(16), Clock()
    done = _completes(service, 12, rng)
    mirrors = MirrorService(small, clock=clock)
    mirrors.aggregates(STUDY)

    _completes(service, 2, rng)
    service.withdraw(done[0][1])
    exclude_response(small, STUDY, done[1][0], "duplicate", actor=ADMIN)
    middle = mirrors.aggregates(STUDY)
    assert done[0][0] not in middle.n.basis and done[1][0] not in middle.n.basis
    assert middle.quartiles == build_aggregates(load_feedback_data(small, STUDY)).quartiles

    include_response(small, STUDY, done[1][0], actor=ADMIN)
    _completes(service, 1, rng)
    clock.now += 61
    kept = mirrors.aggregates(STUDY)
    fresh = MirrorService(small).aggregates(STUDY)
    full = build_aggregates(load_feedback_data(small, STUDY))
    assert kept.n.basis == fresh.n.basis == full.n.basis
    assert done[1][0] in kept.n.basis and kept.n.true_size == 14
    assert kept.quartiles == fresh.quartiles == full.quartiles
