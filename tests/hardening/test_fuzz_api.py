"""Schemathesis over `/openapi.json` (respondent and researcher APIs), in process, with valid
credentials: a resume code for the respondent endpoints and a researcher API token for the
console API. No generated request may get a 5xx or a response that breaks the documented
schema. `VAKSTEM_FUZZ_EXAMPLES` raises the number of examples per operation for a longer run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from tests.console.helpers import World, build_world

from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.web.app import create_app

EXAMPLES = int(os.environ.get("VAKSTEM_FUZZ_EXAMPLES", "15"))


@dataclass(frozen=True)
class Fuzzed:
    app: FastAPI
    world: World
    token: str


# Schemathesis reads the operations at import time, before any fixture: that app's database is
# never opened (the routes alone make /openapi.json). Requests go to `fuzzed`, the app of this
# module's backend, so the fuzzing runs on SQLite and on PostgreSQL.
_NOWHERE = sa.create_engine("postgresql+psycopg://schema-only.invalid/none")
_SCHEMA_APP = create_app(Settings(data_dir=Path("schema-only"), secret_key="fuzz-secret"), _NOWHERE)
schema = schemathesis.openapi.from_asgi("/openapi.json", _SCHEMA_APP)


@pytest.fixture(scope="module")
def fuzzed(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    engine = open_database(module_database_url)
    world = build_world(engine)
    token = world.accounts.create_api_token(world.users["owner"], "fuzz")
    data = tmp_path_factory.mktemp("fuzz")
    yield Fuzzed(
        create_app(Settings(data_dir=data, secret_key="fuzz-secret"), engine), world, token
    )
    engine.dispose()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_fails_and_keeps_to_its_schema(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    path = case.operation.path
    params = case.path_parameters or {}
    # Aim at data that exists, so requests get past the 404 to the real work.
    if "study_id" in params:
        params["study_id"] = "alpha"
    if path.startswith("/api/v1/responses/"):
        params["response_id"] = fuzzed.world.active
        auth = f"Bearer {fuzzed.world.resume_code}"
    else:
        auth = f"Bearer {fuzzed.token}"
    case.call_and_validate(
        app=fuzzed.app,
        headers={"Authorization": auth},
        checks=[not_a_server_error, response_schema_conformance],
    )
