"""Fixtures of the invitation tests: a migrated database per backend with the reach study open,
a real SMTP server, and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from tests.invitations.factories import load_open, opened
from tests.invitations.smtp import Handler, smtp_server

from vakstem.settings import Settings


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with opened(database_url) as engine:
        load_open(engine)
        yield engine


@pytest.fixture
def smtp() -> Iterator[tuple[Handler, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings(smtp: tuple[Handler, int], tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="test-secret-key-for-invitation-links",
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_from="onderzoek@example.org",
        smtp_rate=1000.0,
        public_url="https://enquete.example.org",
    )


@pytest.fixture
def handler(smtp: tuple[Handler, int]) -> Handler:
    return smtp[0]
