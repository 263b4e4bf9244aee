"""Fixtures of the service tests: a migrated database per backend, the example study loaded and
open, and a service with a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import Engine

import vakstem
from vakstem.instrument.schema import Study
from vakstem.service.responses import ResponseService
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status

EXAMPLE = Path(vakstem.__file__).parent / "studies" / "voorbeeld" / "study.yaml"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def example() -> Study:
    # Parsed here rather than through the loader, so these tests exercise the service alone.
    return Study.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))


@pytest.fixture
def service(engine: Engine, example: Study) -> ResponseService:
    """The example study loaded and open, and a service whose clock stands still."""
    load_study(engine, example, EXAMPLE.read_text(encoding="utf-8"))
    set_status(engine, example.id, "open")
    return ResponseService(engine, clock=lambda: NOW)


def open_study(engine: Engine, study: Study) -> ResponseService:
    """Load and open a factory-built study; a service over it."""
    load_study(engine, study, study.model_dump_json())
    set_status(engine, study.id, "open")
    return ResponseService(engine, clock=lambda: NOW)
