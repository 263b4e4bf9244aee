"""Fixtures of the console tests: a database (SQLite and PostgreSQL) with two studies, an account
per role and a few real responses (see `helpers.build_world`), and the whole web app over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.web.app import create_app

from .helpers import World, build_world


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="console-test-secret")


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    engine = open_database(database_url)
    yield build_world(engine)
    engine.dispose()


@pytest.fixture
def app(world: World, settings: Settings) -> FastAPI:
    return create_app(settings, world.engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client
