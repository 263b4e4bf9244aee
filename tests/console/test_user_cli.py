"""`vakstem user add|passwd|member|list` on a real database: the first account of a deployment."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vakstem.cli import app
from vakstem.instrument.schema import Study
from vakstem.service.accounts import Accounts, LoginFailed, Role
from vakstem.store import open_database
from vakstem.store.studies import load_study

runner = CliRunner()


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VAKSTEM_DATABASE_URL", database_url)
    return database_url


def test_user_add_with_password_on_stdin_creates_a_working_login(db: str) -> None:
    result = runner.invoke(
        app,
        ["user", "add", "Ann@Example.org", "--name", "Ann", "--admin", "--password-stdin"],
        input="long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "ann@example.org" in result.output
    engine = open_database(db)
    try:
        user = Accounts(engine).authenticate("ann@example.org", "long enough password")
        assert user.is_admin and user.name == "Ann"
    finally:
        engine.dispose()


def test_user_add_prompts_twice_for_the_password(db: str) -> None:
    result = runner.invoke(
        app, ["user", "add", "bob@example.org", "--name", "Bob"], input="a good password\n" * 2
    )
    assert result.exit_code == 0, result.output
    engine = open_database(db)
    try:
        assert not Accounts(engine).authenticate("bob@example.org", "a good password").is_admin
    finally:
        engine.dispose()


def test_user_passwd_changes_the_password(db: str) -> None:
    runner.invoke(
        app,
        ["user", "add", "ann@example.org", "--name", "Ann", "--password-stdin"],
        input="first password\n",
    )
    result = runner.invoke(
        app, ["user", "passwd", "ann@example.org", "--password-stdin"], input="second password\n"
    )
    assert result.exit_code == 0, result.output
    engine = open_database(db)
    try:
        accounts = Accounts(engine)
        accounts.authenticate("ann@example.org", "second password")
        with pytest.raises(LoginFailed):
            accounts.authenticate("ann@example.org", "first password")
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["user", "add", "ann@example.org", "--name", "Ann", "--password-stdin"],
            "short\n",
            "at least 10",
        ),
        (
            ["user", "add", "not-an-email", "--name", "Ann", "--password-stdin"],
            "long enough pw\n",
            "not an email",
        ),
        (
            ["user", "passwd", "nobody@example.org", "--password-stdin"],
            "long enough pw\n",
            "no account",
        ),
        (
            ["user", "add", "ann@example.org", "--name", "Ann", "--password-stdin"],
            "",
            "no password",
        ),
        (["user", "member", "nostudy", "ann@example.org"], "", "no study"),
    ],
)
def test_bad_user_commands_fail_with_a_clear_message(
    db: str, args: list[str], stdin: str, message: str
) -> None:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_user_member_makes_the_first_owner_of_a_study(db: str) -> None:
    engine = open_database(db)
    try:
        study = Study.model_validate({"id": "demo", "title": "Demo", "pages": [{"id": "p1"}]})
        load_study(engine, study, "id: demo\n")
        runner.invoke(
            app,
            ["user", "add", "ann@example.org", "--name", "Ann", "--password-stdin"],
            input="long enough pw\n",
        )
        result = runner.invoke(app, ["user", "member", "demo", "ann@example.org"])
        assert result.exit_code == 0, result.output
        accounts = Accounts(engine)
        user = accounts.find("ann@example.org")
        assert user is not None and accounts.role(user, "demo") is Role.OWNER
        listing = runner.invoke(app, ["user", "list"])
        assert "demo (owner)" in listing.output
    finally:
        engine.dispose()


def test_demo_researcher_owns_every_study_with_the_same_login_on_every_run(db: str) -> None:
    from vakstem.commands.users import DEMO_EMAIL, prepare_demo_researcher

    engine = open_database(db)
    try:
        study = Study.model_validate({"id": "demo", "title": "Demo", "pages": [{"id": "p1"}]})
        load_study(engine, study, "id: demo\n")
        first = prepare_demo_researcher(engine, base_url="http://127.0.0.1:8000")
        assert first[0] == "Researcher console: http://127.0.0.1:8000/console/login"
        password = first[1].split("password ", 1)[1]
        accounts = Accounts(engine)
        user = accounts.authenticate(DEMO_EMAIL, password)
        assert accounts.role(user, "demo") is Role.OWNER
        assert prepare_demo_researcher(engine, base_url="http://127.0.0.1:8000") == first
        # A password the user changed is not printed (it is not known).
        accounts.set_password(DEMO_EMAIL, "my own demo password")
        again = prepare_demo_researcher(engine, base_url="http://127.0.0.1:8000")
        assert "changed" in again[1] and password not in again[1]
    finally:
        engine.dispose()
