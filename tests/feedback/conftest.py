"""Fixtures of the feedback tests: the klantmanager study loaded and open on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from vakstem.instrument.loader import load_study_file
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The klantmanager study loaded and open, with no responses yet."""
    engine = open_database(database_url)
    load_study(engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, "klantmanagers", "open")
    yield engine
    engine.dispose()
