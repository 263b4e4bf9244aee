"""Fixtures of the simulator tests: the shipped klantmanager study and its population model,
and a database (SQLite and PostgreSQL) with the study loaded and open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.simulate import Population, load_population
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import POPULATION_FILE, STUDY_FILE


@pytest.fixture(scope="session")
def study() -> Study:
    return load_study_file(STUDY_FILE)


@pytest.fixture(scope="session")
def population() -> Population:
    return load_population(POPULATION_FILE)


def open_klantmanagers(url: str) -> Engine:
    engine = open_database(url)
    study = load_study_file(STUDY_FILE)
    load_study(engine, study, STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, study.id, "open")
    return engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A fresh database with the klantmanager study loaded and open."""
    engine = open_klantmanagers(database_url)
    yield engine
    engine.dispose()
