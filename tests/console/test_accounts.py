"""Accounts on real databases (SQLite and PostgreSQL): passwords, lock-out, sessions that
expire, one-time reset links, TOTP, API tokens, memberships and the append-only audit trail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from vakstem.instrument.schema import Study
from vakstem.service import audit
from vakstem.service.accounts import (
    AccountError,
    AccountLocked,
    Accounts,
    BadPassword,
    BadToken,
    DuplicateUser,
    LastOwner,
    LoginFailed,
    Policy,
    Role,
    TotpRequired,
    UnknownUser,
)
from vakstem.store import open_database
from vakstem.store.accounts import audit_log, users
from vakstem.store.engine import _alembic_config
from vakstem.store.studies import load_study

PASSWORD = "correct horse battery"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def accounts(engine: Engine) -> Accounts:
    return Accounts(engine, Policy(max_failures=3, lockout=timedelta(minutes=10)))


def _study(engine: Engine, study_id: str = "demo") -> str:
    study = Study.model_validate(
        {"id": study_id, "title": "Demo", "pages": [{"id": "p1", "items": []}]}
    )
    load_study(engine, study, "id: demo\n")
    return study_id


def _actions(engine: Engine) -> list[str]:
    return [e.action for e in reversed(audit.entries(engine))]


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; fix a down_revision"


def test_password_is_stored_as_argon2id_not_plain(accounts: Accounts, engine: Engine) -> None:
    accounts.create_user("Ann@Example.org", "Ann", PASSWORD)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.email, users.c.password_hash)).one()
    assert stored.email == "ann@example.org"
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


_REAL_HASH = """
from vakstem.service.accounts import password_hasher
print(password_hasher().hash("x").split("$")[3])
"""


def test_passwords_outside_the_tests_are_hashed_with_the_recommended_parameters() -> None:
    # The tests hash with argon2's smallest parameters (tests/conftest.py); a process of its
    # own, as a server or a command is, uses RFC 9106's: 64 MiB, three passes, four lanes.
    done = subprocess.run(
        [sys.executable, "-c", _REAL_HASH], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "m=65536,t=3,p=4"


def test_login_with_right_password_and_any_email_case(accounts: Accounts, engine: Engine) -> None:
    created = accounts.create_user("ann@example.org", "Ann", PASSWORD)
    assert accounts.authenticate("ANN@example.org ", PASSWORD) == created
    assert _actions(engine) == ["user_created", "login"]


def test_wrong_password_and_unknown_email_fail_alike(accounts: Accounts, engine: Engine) -> None:
    accounts.create_user("ann@example.org", "Ann", PASSWORD)
    with pytest.raises(LoginFailed) as wrong:
        accounts.authenticate("ann@example.org", "not the password")
    with pytest.raises(LoginFailed) as unknown:
        accounts.authenticate("bob@example.org", PASSWORD)
    assert str(wrong.value) == str(unknown.value)
    assert _actions(engine)[-2:] == ["login_failed", "login_failed"]


def test_short_password_duplicate_and_bad_email_are_refused(accounts: Accounts) -> None:
    with pytest.raises(BadPassword, match="at least 10"):
        accounts.create_user("ann@example.org", "Ann", "short")
    with pytest.raises(AccountError, match="not an email"):
        accounts.create_user("not-an-email", "Ann", PASSWORD)
    accounts.create_user("ann@example.org", "Ann", PASSWORD)
    with pytest.raises(DuplicateUser):
        accounts.create_user("ANN@example.org", "Ann again", PASSWORD)


def test_account_locks_after_failures_and_unlocks_after_the_wait(accounts: Accounts) -> None:
    accounts.create_user("ann@example.org", "Ann", PASSWORD)
    t0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    for _ in range(2):
        with pytest.raises(LoginFailed):
            accounts.authenticate("ann@example.org", "wrong password", now=t0)
    with pytest.raises(AccountLocked):
        accounts.authenticate("ann@example.org", "wrong password", now=t0)
    # While locked even the right password is refused ...
    with pytest.raises(AccountLocked):
        accounts.authenticate("ann@example.org", PASSWORD, now=t0 + timedelta(minutes=9))
    # ... and after the lock-out time it works again.
    user = accounts.authenticate("ann@example.org", PASSWORD, now=t0 + timedelta(minutes=11))
    assert user.email == "ann@example.org"


def test_successful_login_resets_the_failure_count(accounts: Accounts) -> None:
    accounts.create_user("ann@example.org", "Ann", PASSWORD)
    for _ in range(2):
        with pytest.raises(LoginFailed):
            accounts.authenticate("ann@example.org", "wrong password")
    accounts.authenticate("ann@example.org", PASSWORD)
    for _ in range(2):
        with pytest.raises(LoginFailed):
            accounts.authenticate("ann@example.org", "wrong password")
    accounts.authenticate("ann@example.org", PASSWORD)


def test_session_expires_after_inactivity_and_absolutely(engine: Engine) -> None:
    accounts = Accounts(
        engine, Policy(session_idle=timedelta(minutes=30), session_max=timedelta(hours=2))
    )
    user = accounts.create_user("ann@example.org", "Ann", PASSWORD)
    t0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    token = accounts.start_session(user, now=t0)
    assert accounts.session(token, now=t0 + timedelta(minutes=20)) is not None
    # Activity keeps it alive past the idle limit counted from the start ...
    assert accounts.session(token, now=t0 + timedelta(minutes=45)) is not None
    assert accounts.session(token, now=t0 + timedelta(minutes=70)) is not None
    # ... but never past the absolute limit.
    assert accounts.session(token, now=t0 + timedelta(hours=2, minutes=1)) is None

    idle = accounts.start_session(user, now=t0)
    assert accounts.session(idle, now=t0 + timedelta(minutes=31)) is None
    # Expired is gone for good, even if asked with an earlier clock.
    assert accounts.session(idle, now=t0) is None
    assert accounts.session("made-up-token") is None


def test_logout_and_password_change_end_sessions(accounts: Accounts) -> None:
    user = accounts.create_user("ann@example.org", "Ann", PASSWORD)
    first = accounts.start_session(user)
    second = accounts.start_session(user)
    accounts.end_session(first, actor=user.actor)
    assert accounts.session(first) is None
    assert accounts.session(second) is not None
    accounts.change_password(user, PASSWORD, "another long password")
    assert accounts.session(second) is None
    with pytest.raises(LoginFailed):
        accounts.change_password(user, PASSWORD, "yet another password")
    accounts.authenticate("ann@example.org", "another long password")


def test_reset_link_works_once_and_expires(accounts: Accounts, engine: Engine) -> None:
    owner = accounts.create_user("owner@example.org", "Owner", PASSWORD)
    ann = accounts.create_user("ann@example.org", "Ann", PASSWORD)
    t0 = datetime.now(UTC)
    token = accounts.create_reset(ann, actor=owner.actor, now=t0)
    assert accounts.reset_user(token) == ann
    accounts.use_reset(token, "a brand new password")
    accounts.authenticate("ann@example.org", "a brand new password")
    with pytest.raises(BadToken):
        accounts.use_reset(token, "and another one please")

    old = accounts.create_reset(ann, actor=owner.actor, now=t0 - timedelta(hours=25))
    with pytest.raises(BadToken):
        accounts.use_reset(old, "an expired link's password")
    assert "password_reset_used" in _actions(engine)


def test_totp_is_needed_once_enabled_and_wrong_codes_count_as_failures(
    accounts: Accounts,
) -> None:
    user = accounts.create_user("ann@example.org", "Ann", PASSWORD)
    uri = accounts.begin_totp(user)
    secret = pyotp.parse_uri(uri).secret
    # Pending set-up does not yet change the login.
    accounts.authenticate("ann@example.org", PASSWORD)
    with pytest.raises(BadToken):
        accounts.confirm_totp(user, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    accounts.confirm_totp(user, pyotp.TOTP(secret).now())

    with pytest.raises(TotpRequired):
        accounts.authenticate("ann@example.org", PASSWORD)
    now = datetime.now(UTC)
    good = pyotp.TOTP(secret).at(now)
    bad = "123456" if good != "123456" else "654321"
    with pytest.raises(LoginFailed):
        accounts.authenticate("ann@example.org", PASSWORD, bad, now=now)
    assert accounts.authenticate("ann@example.org", PASSWORD, good, now=now).totp_enabled
    # A wrong password with a right code is still a wrong password.
    with pytest.raises(LoginFailed):
        accounts.authenticate("ann@example.org", "wrong password", good, now=now)


def test_totp_required_for_owners_when_the_deployment_says_so(engine: Engine) -> None:
    accounts = Accounts(engine, Policy(require_totp_for_owners=True))
    owner = accounts.create_user("owner@example.org", "Owner", PASSWORD)
    viewer = accounts.create_user("viewer@example.org", "Viewer", PASSWORD)
    study = _study(engine)
    accounts.set_member(study, owner.email, Role.OWNER, actor=owner.actor)
    accounts.set_member(study, viewer.email, Role.VIEWER, actor=owner.actor)
    assert accounts.needs_totp_setup(owner)
    assert not accounts.needs_totp_setup(viewer)
    assert not Accounts(engine).needs_totp_setup(owner)


def test_api_token_is_stored_hashed_and_stops_working_when_revoked(
    accounts: Accounts, engine: Engine
) -> None:
    user = accounts.create_user("ann@example.org", "Ann", PASSWORD)
    raw = accounts.create_api_token(user, "my script")
    assert accounts.api_user(raw) == user
    assert accounts.api_user(raw + "x") is None
    with engine.connect() as conn:
        dump = " ".join(
            str(v) for row in conn.exec_driver_sql("SELECT * FROM api_tokens") for v in row
        )
    assert raw not in dump
    (token,) = accounts.api_tokens(user)
    other = accounts.create_user("bob@example.org", "Bob", PASSWORD)
    with pytest.raises(BadToken):
        accounts.revoke_api_token(other, token.id)
    accounts.revoke_api_token(user, token.id)
    assert accounts.api_user(raw) is None
    actions = _actions(engine)
    assert actions[-1] == "api_token_revoked"
    assert actions.count("api_token_revoked") == 1  # the refused revoke left no entry
    assert "api_token_created" in actions


def test_members_by_email_roles_and_the_last_owner(accounts: Accounts, engine: Engine) -> None:
    study = _study(engine)
    owner = accounts.create_user("owner@example.org", "Owner", PASSWORD, institution="UU")
    ann = accounts.create_user("ann@example.org", "Ann", PASSWORD, institution="UU")
    accounts.set_member(study, owner.email, Role.OWNER, actor=owner.actor)
    accounts.set_member(study, "ANN@example.org", Role.VIEWER, actor=owner.actor)
    assert accounts.role(ann, study) is Role.VIEWER
    accounts.set_member(study, ann.email, Role.RESEARCHER, actor=owner.actor)
    assert accounts.studies_of(ann) == {study: Role.RESEARCHER}
    with pytest.raises(UnknownUser, match="no account"):
        accounts.set_member(study, "nobody@example.org", Role.VIEWER, actor=owner.actor)
    with pytest.raises(LastOwner):
        accounts.set_member(study, owner.email, Role.VIEWER, actor=owner.actor)
    with pytest.raises(LastOwner):
        accounts.remove_member(study, owner.id, actor=owner.actor)
    accounts.remove_member(study, ann.id, actor=owner.actor)
    assert accounts.role(ann, study) is None
    assert [e.action for e in reversed(audit.entries(engine, study_id=study))] == [
        "member_added",
        "member_added",
        "role_changed",
        "member_removed",
    ]
    assert list(accounts.institution_names().values()) == ["UU"]


def test_audit_trail_refuses_update_and_delete(accounts: Accounts, engine: Engine) -> None:
    accounts.create_user("ann@example.org", "Ann", PASSWORD)
    with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
        conn.execute(audit_log.update().values(action="nothing happened"))
    with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
        conn.execute(audit_log.delete())
    assert _actions(engine) == ["user_created"]


def test_audit_csv_has_a_header_and_defuses_formulas(accounts: Accounts, engine: Engine) -> None:
    with pytest.raises(LoginFailed):
        accounts.authenticate("=cmd|calc@example.org", PASSWORD)
    text = "".join(audit.to_csv(audit.entries(engine)))
    header, row = text.splitlines()
    assert header == "id,at,actor,user_id,action,study_id,details"
    assert ",'=cmd|calc@example.org," in row


def _stored_bytes(database_url: str, tmp_path: Path) -> bytes:
    """Everything the database holds, as bytes: the SQLite file with its write-ahead log, or a
    plain pg_dump of the PostgreSQL database."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed (apt-get install postgresql-client)")
    dump = tmp_path / "dump.sql"
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["pg_dump", "--format=plain", f"--file={dump}", libpq], check=True)
    return dump.read_bytes()


def test_database_holds_no_raw_session_or_api_token(database_url: str, tmp_path: Path) -> None:
    engine = open_database(database_url)
    accounts = Accounts(engine)
    user = accounts.create_user("ann@example.org", "Ann", PASSWORD)
    token = accounts.start_session(user)
    api_token = accounts.create_api_token(user, "script")
    engine.dispose()
    stored = _stored_bytes(database_url, tmp_path)
    # The dump really holds the account (so a missing token is not a missing table).
    assert b"ann@example.org" in stored
    assert token.encode() not in stored
    assert api_token.encode() not in stored


def test_api_token_and_session_belong_to_their_own_account(accounts: Accounts) -> None:
    # Several accounts and tokens, so that token ids and account ids differ.
    users = [accounts.create_user(f"u{i}@example.org", f"U{i}", PASSWORD) for i in range(3)]
    accounts.create_api_token(users[0], "first")
    accounts.create_api_token(users[0], "second")
    raw = accounts.create_api_token(users[2], "third")
    assert accounts.api_user(raw) == users[2]
    accounts.start_session(users[0])
    session = accounts.session(accounts.start_session(users[1]))
    assert session is not None and session.user == users[1]
