"""The study repository: versions are content-addressed and immutable, status moves by the
fieldwork rules, listings count real responses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.service.factories import PRIVACY

from vakstem.instrument.schema import Item, ItemType, Page, Study
from vakstem.service.types import StudyNotFound
from vakstem.store import open_database
from vakstem.store.studies import (
    StudyStatus,
    StudyStatusError,
    VersionNotFound,
    get_source,
    get_study,
    get_version,
    list_studies,
    load_study,
    set_status,
)
from vakstem.store.tables import instrument_versions


def small_study(question: str = "Hoe oud bent u?", version: str = "1") -> Study:
    return Study(
        id="klein",
        version=version,
        title="Klein onderzoek",
        privacy=PRIVACY,
        pages=(
            Page(
                id="p1",
                items=(Item(id="leeftijd", type=ItemType.INTEGER, text=question, min=16),),
            ),
        ),
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def _version_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(instrument_versions)).scalar_one()
        )


def test_loading_the_same_content_twice_keeps_one_version(engine: Engine) -> None:
    first, created = load_study(engine, small_study(), "bron v1")
    again, created_again = load_study(engine, small_study(), "bron v1, other comments")
    assert created and not created_again
    assert first == again
    assert _version_rows(engine) == 1


def test_changed_content_makes_a_new_current_version(engine: Engine) -> None:
    old, _ = load_study(engine, small_study(), "v1")
    new, created = load_study(engine, small_study("Wat is uw leeftijd?"), "v2")
    assert created and new != old
    stored = get_study(engine, "klein")
    assert stored.version_hash == new
    assert stored.study.pages[0].items[0].text == "Wat is uw leeftijd?"
    # The old version is still there, unchanged.
    assert get_version(engine, "klein", old).pages[0].items[0].text == "Hoe oud bent u?"
    assert get_source(engine, "klein", old) == "v1"
    assert _version_rows(engine) == 2


def test_reloading_an_earlier_version_makes_it_current_without_a_new_row(engine: Engine) -> None:
    old, _ = load_study(engine, small_study(), "v1")
    load_study(engine, small_study("Anders"), "v2")
    back, created = load_study(engine, small_study(), "v1 again")
    assert back == old and not created
    assert get_study(engine, "klein").version_hash == old
    assert get_source(engine, "klein", old) == "v1"


def test_new_study_starts_as_draft_with_its_model(engine: Engine) -> None:
    digest, _ = load_study(engine, small_study(version="2026-1"), "src")
    stored = get_study(engine, "klein")
    assert stored.status is StudyStatus.DRAFT
    assert stored.study == small_study(version="2026-1")
    assert stored.version_label == "2026-1"
    assert stored.version_hash == digest and len(digest) == 64
    assert stored.created_at.tzinfo is not None


def test_unknown_study_and_version_are_clear_errors(engine: Engine) -> None:
    with pytest.raises(StudyNotFound):
        get_study(engine, "bestaat_niet")
    load_study(engine, small_study(), "src")
    with pytest.raises(VersionNotFound, match="no version"):
        get_version(engine, "klein", "0" * 64)


def test_status_follows_fieldwork_rules(engine: Engine) -> None:
    load_study(engine, small_study(), "src")
    assert set_status(engine, "klein", "open") is StudyStatus.OPEN
    assert set_status(engine, "klein", StudyStatus.CLOSED) is StudyStatus.CLOSED
    assert set_status(engine, "klein", "open") is StudyStatus.OPEN  # reopen
    set_status(engine, "klein", "closed")
    assert set_status(engine, "klein", "archived") is StudyStatus.ARCHIVED
    assert get_study(engine, "klein").status is StudyStatus.ARCHIVED


@pytest.mark.parametrize(
    ("path", "target", "message"),
    [
        ((), "closed", "cannot go from draft to closed"),
        ((), "archived", "cannot go from draft to archived"),
        (("open",), "draft", "cannot go from open to draft"),
        (("open",), "open", "already open"),
        (("open", "closed", "archived"), "open", "archived is final"),
        ((), "gesloten", "unknown status 'gesloten'"),
    ],
)
def test_disallowed_status_change_is_a_clear_error(
    engine: Engine, path: tuple[str, ...], target: str, message: str
) -> None:
    load_study(engine, small_study(), "src")
    for step in path:
        set_status(engine, "klein", step)
    with pytest.raises(StudyStatusError, match=message):
        set_status(engine, "klein", target)


def test_status_of_unknown_study_is_not_found(engine: Engine) -> None:
    with pytest.raises(StudyNotFound):
        set_status(engine, "niets", "open")


def test_list_studies_shows_status_and_version(engine: Engine) -> None:
    digest, _ = load_study(engine, small_study(), "src")
    other = small_study().model_copy(update={"id": "ander"})
    load_study(engine, other, "src")
    set_status(engine, "ander", "open")
    listing = list_studies(engine)
    assert [s.study_id for s in listing] == ["ander", "klein"]
    assert listing[0].status is StudyStatus.OPEN
    assert listing[1].version_hash == digest and listing[1].version_label == "1"
    assert listing[1].responses == 0 and listing[1].completes == 0
