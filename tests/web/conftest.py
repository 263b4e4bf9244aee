"""Fixtures of the web tests: the example study loaded and open in a fresh database (SQLite and
PostgreSQL), and the app over it in a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

import vakstem
from vakstem.instrument.loader import load_study_file
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.web.app import create_app

EXAMPLE = Path(vakstem.__file__).parent / "studies" / "voorbeeld" / "study.yaml"


def load_example(engine: Engine) -> None:
    load_study(engine, load_study_file(EXAMPLE), EXAMPLE.read_text(encoding="utf-8"))
    set_status(engine, "voorbeeld", "open")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    load_example(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="test-secret")


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    # Server errors become 500 pages here, as for a real client (the handler is under test too).
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield client
