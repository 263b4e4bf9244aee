"""A small study for the reach tests: one consent-free page with one required question, so a
response completes with a single submit, in Dutch and English, with two file-defined sources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from tests.service.factories import PRIVACY

from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.schema import Choice, Item, ItemType, Page, Study
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status

SOURCES = ("nieuwsbrief-nov", "gemeente-x")


def reach_study(study_id: str = "bereik") -> Study:
    return Study(
        id=study_id,
        title={"nl": "Bereiksonderzoek", "en": "Reach study"},
        languages=("nl", "en"),
        sources=SOURCES,
        privacy=PRIVACY,
        choice_lists={"janee": (Choice(code=1, label="Ja"), Choice(code=0, label="Nee"))},
        pages=(
            Page(
                id="p1",
                items=(
                    Item(id="tevreden", type=ItemType.SINGLE, text="Tevreden?", choices="janee"),
                ),
            ),
        ),
    )


def load_open(engine: Engine, study: Study | None = None) -> Study:
    study = study or reach_study()
    load_study(engine, study, dump_study_yaml(study))
    set_status(engine, study.id, "open")
    return study


@contextmanager
def opened(url: str) -> Iterator[Engine]:
    engine = open_database(url)
    try:
        yield engine
    finally:
        engine.dispose()
