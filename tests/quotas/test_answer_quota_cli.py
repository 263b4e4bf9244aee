"""`vakstem quota STUDY NAME MAX --variable V --value CODE`: sets and lists a quota on an answer,
and refuses a bad definition with a clear message (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.invitations.factories import load_open, opened
from tests.quotas.test_answer_quotas import screening_study
from typer.testing import CliRunner

from vakstem.cli import app

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Iterator[Run]:
    with opened(database_url) as engine:
        load_open(engine, screening_study())
    env = {
        "VAKSTEM_DATABASE_URL": database_url,
        "VAKSTEM_SECRET_KEY": "cli-test-secret",
        "VAKSTEM_DATA_DIR": str(tmp_path),
        "COLUMNS": "250",
    }

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.output

    yield invoke


def test_quota_command_sets_and_lists_an_answer_quota(run: Run) -> None:
    code, out = run(
        "quota", "screen", "gemeentelijk", "150", "--variable", "org_type", "--value", "2"
    )
    assert code == 0, out
    assert "gemeentelijk" in out and "org_type = 2" in out and "150" in out and "open" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--variable", "sector", "--value", "2"), "the study has no question 'sector'"),
        (("--variable", "org_type", "--value", "7"), "'7' is not a code of 'org_type'"),
        (("--variable", "org_type"), "give both a variable and a value"),
    ],
)
def test_quota_command_refuses_a_bad_answer_quota(
    run: Run, args: tuple[str, ...], message: str
) -> None:
    code, out = run("quota", "screen", "groep", "10", *args)
    assert code == 1 and message in out and "Traceback" not in out
