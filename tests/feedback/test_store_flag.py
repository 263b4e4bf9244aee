"""The public-summary switch is stored per study, off by default, on both databases."""

from __future__ import annotations

import pytest

from vakstem.feedback.store import public_summary_enabled, set_public_summary
from vakstem.instrument.schema import Item, ItemType, Page, Study
from vakstem.service.types import StudyNotFound
from vakstem.store import open_database
from vakstem.store.studies import load_study


def _study() -> Study:
    return Study(
        id="klein",
        title="Klein",
        pages=(Page(id="p", items=(Item(id="q", type=ItemType.TEXT),)),),
    )


def test_public_summary_is_off_until_switched_on_and_can_be_switched_off(
    database_url: str,
) -> None:
    engine = open_database(database_url)
    try:
        load_study(engine, _study(), "id: klein")
        assert not public_summary_enabled(engine, "klein")
        set_public_summary(engine, "klein", True)
        assert public_summary_enabled(engine, "klein")
        set_public_summary(engine, "klein", False)
        assert not public_summary_enabled(engine, "klein")
    finally:
        engine.dispose()


def test_switching_an_unknown_study_names_it(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        with pytest.raises(StudyNotFound, match="nergens"):
            set_public_summary(engine, "nergens", True)
    finally:
        engine.dispose()
