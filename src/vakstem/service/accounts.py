"""Researcher accounts: passwords (argon2id), console sessions, lock-out, password reset links,
TOTP two-factor authentication, personal API tokens, institutions and roles per study.

Everything here works on an engine passed in and writes its audit entries in the same
transaction. Raw secrets (session tokens, reset tokens, API tokens) are returned to the caller
once and only their SHA-256 hashes are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection, Engine

from vakstem.service import audit
from vakstem.service.audit import Actor
from vakstem.service.types import DomainError
from vakstem.settings import Settings
from vakstem.store.accounts import (
    api_tokens,
    console_sessions,
    institutions,
    memberships,
    password_resets,
    users,
)

MIN_PASSWORD_LENGTH = 10
#: argon2 hashes whatever it is given; a cap stops a megabyte "password" costing CPU time.
MAX_PASSWORD_LENGTH = 1024
API_TOKEN_PREFIX = "vks_"
TOTP_ISSUER = "Vakstem"


class Role(StrEnum):
    """Roles per study, from most to least powerful."""

    OWNER = "owner"
    RESEARCHER = "researcher"
    #: Analyst-viewer: aggregates and reports only; no row-level data, no open answers.
    VIEWER = "viewer"

    def at_least(self, other: Role) -> bool:
        return _RANK[self] >= _RANK[other]


_RANK = {Role.VIEWER: 1, Role.RESEARCHER: 2, Role.OWNER: 3}


class AccountError(DomainError):
    """A refused account operation; `code` is a catalogue key, `detail` an English text."""

    status = 400


class LoginFailed(AccountError):
    """Wrong email or password (never says which)."""

    code = "login_failed"
    status = 401


class AccountLocked(AccountError):
    code = "account_locked"
    status = 401


class TotpRequired(AccountError):
    """The password was right; the account also needs its authenticator code."""

    code = "totp_required"
    status = 401


class BadPassword(AccountError):
    code = "bad_password"


class UnknownUser(AccountError):
    code = "unknown_user"
    status = 404


class DuplicateUser(AccountError):
    code = "duplicate_user"
    status = 409


class BadToken(AccountError):
    """An unknown, used or expired reset link, or a wrong TOTP code during set-up."""

    code = "bad_token"


class LastOwner(AccountError):
    code = "last_owner"
    status = 409


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    is_admin: bool
    institution_id: int | None
    totp_enabled: bool

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.email)


@dataclass(frozen=True)
class SessionInfo:
    user: User
    token_hash: str
    created_at: datetime


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Member:
    user: User
    role: Role
    added_at: datetime


@dataclass(frozen=True)
class Policy:
    """The deployment's account rules (from `Settings`)."""

    session_idle: timedelta = timedelta(minutes=60)
    session_max: timedelta = timedelta(hours=12)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    reset_valid: timedelta = timedelta(hours=24)
    require_totp_for_owners: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            session_max=timedelta(hours=settings.session_max_hours),
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
            reset_valid=timedelta(hours=settings.password_reset_hours),
            require_totp_for_owners=settings.require_totp_for_owners,
        )


def hash_secret(raw: str) -> str:
    """SHA-256 of a random token: tokens carry 256 bits, so no slow hash is needed."""
    return hashlib.sha256(raw.encode()).hexdigest()


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or " " in email or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}", email=email)
    return email


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadPassword(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            min=MIN_PASSWORD_LENGTH,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadPassword(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no id for a new row")
    return int(key[0])


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        is_admin=bool(row.is_admin),
        institution_id=row.institution_id,
        totp_enabled=bool(row.totp_enabled),
    )


def password_hasher() -> PasswordHasher:
    """argon2id (the library's default type) with its recommended parameters: RFC 9106's
    second recommendation, 64 MiB, three passes, four lanes."""
    return PasswordHasher()


class Accounts:
    """Account operations on one database."""

    def __init__(self, engine: Engine, policy: Policy | None = None) -> None:
        self.engine = engine
        self.policy = policy or Policy()
        self.hasher = password_hasher()
        # Verified against when the email is unknown, so a wrong email costs as long as a
        # wrong password and response times do not reveal which accounts exist.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # -- users -----------------------------------------------------------------------------

    def create_user(
        self,
        email: str,
        name: str,
        password: str,
        *,
        is_admin: bool = False,
        institution: str | None = None,
        actor: Actor | None = None,
    ) -> User:
        email = normalise_email(email)
        name = name.strip()
        if not name:
            raise AccountError("a name is needed")
        check_password_rules(password)
        now = _now()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
                raise DuplicateUser(f"an account for {email} already exists", email=email)
            institution_id = self._institution_id(conn, institution) if institution else None
            inserted = conn.execute(
                users.insert().values(
                    email=email,
                    name=name,
                    password_hash=self.hasher.hash(password),
                    is_admin=is_admin,
                    institution_id=institution_id,
                    created_at=now,
                    password_changed_at=now,
                )
            )
            user_id = _new_id(inserted)
            audit.record(
                conn,
                actor or Actor.system(),
                audit.USER_CREATED,
                details={"email": email, "admin": is_admin},
            )
            return _user(conn.execute(sa.select(users).where(users.c.id == user_id)).one())

    def find(self, email: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(users).where(users.c.email == email.strip().lower())
            ).first()
        return _user(row) if row else None

    def get(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def set_password(self, email: str, password: str, *, actor: Actor | None = None) -> None:
        """Set a password without the old one (the `vakstem user passwd` command); this also
        lifts a lock-out and ends the account's sessions."""
        check_password_rules(password)
        user = self.find(email)
        if user is None:
            raise UnknownUser(f"no account for {email}", email=email)
        with self.engine.begin() as conn:
            self._store_password(conn, user.id, password)
            audit.record(conn, actor or Actor.system(), audit.PASSWORD_CHANGED)

    def change_password(self, user: User, old: str, new: str) -> None:
        with self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(users.c.password_hash).where(users.c.id == user.id)
            ).scalar_one()
        if not self._verify(stored, old):
            raise LoginFailed("the current password is wrong")
        check_password_rules(new)
        with self.engine.begin() as conn:
            self._store_password(conn, user.id, new)
            audit.record(conn, user.actor, audit.PASSWORD_CHANGED)

    def _store_password(self, conn: Connection, user_id: int, password: str) -> None:
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(
                password_hash=self.hasher.hash(password),
                password_changed_at=_now(),
                failed_logins=0,
                locked_until=None,
            )
        )
        # A new password ends every session: whoever knew the old one is logged out.
        conn.execute(console_sessions.delete().where(console_sessions.c.user_id == user_id))

    def check_password(self, user: User, password: str) -> bool:
        """Whether `password` is the account's password (no audit entry, no failure count)."""
        with self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(users.c.password_hash).where(users.c.id == user.id)
            ).scalar_one()
        return self._verify(stored, password)

    def _verify(self, stored: str, password: str) -> bool:
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # -- login -----------------------------------------------------------------------------

    def authenticate(
        self,
        email: str,
        password: str,
        totp_code: str | None = None,
        *,
        now: datetime | None = None,
    ) -> User:
        """The account for these credentials, or LoginFailed / AccountLocked / TotpRequired.

        Failed attempts (wrong password or wrong code) count per account; after
        `max_failures` in a row the account is locked for `lockout`, even for the right password.
        """
        now = now or _now()
        key = email.strip().lower()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.email == key)).first()
        if row is None:
            self._verify(self._dummy_hash, password)
            with self.engine.begin() as conn:
                audit.record(conn, Actor(None, key[:254]), audit.LOGIN_FAILED, at=now)
            raise LoginFailed("wrong email or password")
        if row.locked_until is not None and row.locked_until > now:
            raise AccountLocked(
                "too many failed logins; try again later", until=row.locked_until.isoformat()
            )
        ok = self._verify(row.password_hash, password)
        if ok and row.totp_enabled:
            if not totp_code:
                # Not a failure: the form asks for the code next.
                raise TotpRequired("enter the code from your authenticator app")
            ok = self._totp_ok(row.totp_secret, totp_code, now)
        with self.engine.begin() as conn:
            if ok:
                conn.execute(
                    users.update()
                    .where(users.c.id == row.id)
                    .values(failed_logins=0, locked_until=None)
                )
                if self.hasher.check_needs_rehash(row.password_hash):
                    conn.execute(
                        users.update()
                        .where(users.c.id == row.id)
                        .values(password_hash=self.hasher.hash(password))
                    )
                audit.record(conn, Actor(row.id, row.email), audit.LOGIN, at=now)
                return _user(row)
            failures = row.failed_logins + 1
            values: dict[str, Any] = {"failed_logins": failures}
            if failures >= self.policy.max_failures:
                values = {"failed_logins": 0, "locked_until": now + self.policy.lockout}
            conn.execute(users.update().where(users.c.id == row.id).values(**values))
            audit.record(
                conn,
                Actor(row.id, row.email),
                audit.LOGIN_FAILED,
                at=now,
                details={"locked": "locked_until" in values},
            )
        if "locked_until" in values:
            raise AccountLocked("too many failed logins; try again later")
        raise LoginFailed("wrong email or password")

    # -- sessions --------------------------------------------------------------------------

    def start_session(self, user: User, *, now: datetime | None = None) -> str:
        """A new session; returns the raw token for the cookie."""
        now = now or _now()
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                console_sessions.insert().values(
                    token_hash=hash_secret(token), user_id=user.id, created_at=now, last_seen_at=now
                )
            )
        return token

    def session(self, token: str | None, *, now: datetime | None = None) -> SessionInfo | None:
        """The live session for a cookie token (touching its last-seen time), or None when
        unknown or expired (expired sessions are removed)."""
        if not token or len(token) > 200:
            return None
        now = now or _now()
        digest = hash_secret(token)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(
                    users,
                    console_sessions.c.created_at.label("session_created_at"),
                    console_sessions.c.last_seen_at,
                )
                .select_from(console_sessions.join(users, users.c.id == console_sessions.c.user_id))
                .where(console_sessions.c.token_hash == digest)
            ).first()
            if row is None:
                return None
            if (
                now - row.last_seen_at > self.policy.session_idle
                or now - row.session_created_at > self.policy.session_max
            ):
                conn.execute(
                    console_sessions.delete().where(console_sessions.c.token_hash == digest)
                )
                return None
            # Write the last-seen time at most once a minute: every page view would
            # otherwise be a write.
            if now - row.last_seen_at > timedelta(minutes=1):
                conn.execute(
                    console_sessions.update()
                    .where(console_sessions.c.token_hash == digest)
                    .values(last_seen_at=now)
                )
            return SessionInfo(
                user=_user(row), token_hash=digest, created_at=row.session_created_at
            )

    def end_session(self, token: str | None, *, actor: Actor | None = None) -> None:
        if not token:
            return
        with self.engine.begin() as conn:
            conn.execute(
                console_sessions.delete().where(console_sessions.c.token_hash == hash_secret(token))
            )
            if actor is not None:
                audit.record(conn, actor, audit.LOGOUT)

    # -- password reset --------------------------------------------------------------------

    def create_reset(self, user: User, *, actor: Actor, now: datetime | None = None) -> str:
        """A one-time reset token for `user` (to put in a link and pass on)."""
        now = now or _now()
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                password_resets.insert().values(
                    token_hash=hash_secret(token),
                    user_id=user.id,
                    created_at=now,
                    expires_at=now + self.policy.reset_valid,
                )
            )
            audit.record(conn, actor, audit.PASSWORD_RESET_CREATED, details={"for": user.email})
        return token

    def recent_reset(self, user: User, within: timedelta, *, now: datetime | None = None) -> bool:
        """Whether a reset link was made for `user` in the last `within` (so a "forgot my
        password" form cannot be used to flood someone's mailbox)."""
        since = (now or _now()) - within
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(password_resets.c.token_hash).where(
                    password_resets.c.user_id == user.id, password_resets.c.created_at > since
                )
            ).first()
        return found is not None

    def reset_user(self, token: str, *, now: datetime | None = None) -> User:
        """The account a still-valid reset token belongs to (for showing the form)."""
        now = now or _now()
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(password_resets.c.expires_at, password_resets.c.used_at, users)
                .join(users, users.c.id == password_resets.c.user_id)
                .where(password_resets.c.token_hash == hash_secret(token))
            ).first()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise BadToken("this reset link is unknown, used or expired")
        return _user(row)

    def use_reset(self, token: str, new_password: str, *, now: datetime | None = None) -> User:
        now = now or _now()
        user = self.reset_user(token, now=now)
        check_password_rules(new_password)
        with self.engine.begin() as conn:
            used = conn.execute(
                password_resets.update()
                .where(
                    password_resets.c.token_hash == hash_secret(token),
                    password_resets.c.used_at.is_(None),
                )
                .values(used_at=now)
            ).rowcount
            if used != 1:
                raise BadToken("this reset link is unknown, used or expired")
            self._store_password(conn, user.id, new_password)
            audit.record(conn, user.actor, audit.PASSWORD_RESET_USED)
        return user

    # -- TOTP ------------------------------------------------------------------------------

    def begin_totp(self, user: User) -> str:
        """A new secret stored as pending (not yet required at login); returns the otpauth URI."""
        secret = pyotp.random_base32()
        with self.engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == user.id, users.c.totp_enabled.is_(False))
                .values(totp_secret=secret)
            )
        return self.totp_uri(user)

    def totp_uri(self, user: User) -> str:
        with self.engine.connect() as conn:
            secret = conn.execute(
                sa.select(users.c.totp_secret).where(users.c.id == user.id)
            ).scalar_one()
        if not secret:
            raise BadToken("two-factor set-up was not started")
        return str(pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER))

    def confirm_totp(self, user: User, code: str, *, now: datetime | None = None) -> None:
        """Turn two-factor on once the user proves their app shows the right code."""
        with self.engine.connect() as conn:
            secret = conn.execute(
                sa.select(users.c.totp_secret).where(users.c.id == user.id)
            ).scalar_one()
        if not secret or not self._totp_ok(secret, code, now or _now()):
            raise BadToken("the code does not match; check the time on your phone and retry")
        with self.engine.begin() as conn:
            conn.execute(users.update().where(users.c.id == user.id).values(totp_enabled=True))
            audit.record(conn, user.actor, audit.TOTP_ENABLED)

    def disable_totp(self, user: User, password: str) -> None:
        with self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(users.c.password_hash).where(users.c.id == user.id)
            ).scalar_one()
        if not self._verify(stored, password):
            raise LoginFailed("the password is wrong")
        with self.engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == user.id)
                .values(totp_enabled=False, totp_secret=None)
            )
            audit.record(conn, user.actor, audit.TOTP_DISABLED)

    @staticmethod
    def _totp_ok(secret: str | None, code: str, now: datetime) -> bool:
        code = code.strip().replace(" ", "")
        if not secret or not code.isdigit() or len(code) != 6:
            return False
        # One step either side allows for a phone clock that is a little off.
        return bool(pyotp.TOTP(secret).verify(code, for_time=now, valid_window=1))

    def needs_totp_setup(self, user: User) -> bool:
        """True when the deployment requires two-factor for this user and it is not set up."""
        if not self.policy.require_totp_for_owners or user.totp_enabled:
            return False
        if user.is_admin:
            return True
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(memberships.c.study_id).where(
                        memberships.c.user_id == user.id, memberships.c.role == Role.OWNER.value
                    )
                ).first()
                is not None
            )

    # -- API tokens ------------------------------------------------------------------------

    def create_api_token(self, user: User, name: str) -> str:
        name = name.strip()[:100]
        if not name:
            raise AccountError("give the token a name, for example the script that uses it")
        raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                api_tokens.insert().values(
                    user_id=user.id,
                    name=name,
                    token_hash=hash_secret(raw),
                    prefix=raw[:12],
                    created_at=_now(),
                )
            )
            audit.record(conn, user.actor, audit.API_TOKEN_CREATED, details={"name": name})
        return raw

    def api_tokens(self, user: User) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_tokens)
                .where(api_tokens.c.user_id == user.id)
                .order_by(api_tokens.c.id.desc())
            )
            return [
                ApiToken(
                    id=r.id,
                    name=r.name,
                    prefix=r.prefix,
                    created_at=r.created_at,
                    last_used_at=r.last_used_at,
                    revoked_at=r.revoked_at,
                )
                for r in rows
            ]

    def revoke_api_token(self, user: User, token_id: int) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                api_tokens.update()
                .where(
                    api_tokens.c.id == token_id,
                    api_tokens.c.user_id == user.id,
                    api_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=_now())
            ).rowcount
            if done != 1:
                raise BadToken("no such active token")
            audit.record(conn, user.actor, audit.API_TOKEN_REVOKED, details={"token_id": token_id})

    def api_user(self, raw: str | None, *, now: datetime | None = None) -> User | None:
        """The account of a live (not revoked) API token, or None."""
        if not raw or not raw.startswith(API_TOKEN_PREFIX) or len(raw) > 200:
            return None
        now = now or _now()
        digest = hash_secret(raw)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(
                    users,
                    api_tokens.c.id.label("token_id"),
                    api_tokens.c.last_used_at.label("token_used_at"),
                )
                .select_from(api_tokens.join(users, users.c.id == api_tokens.c.user_id))
                .where(api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None))
            ).first()
            if row is None:
                return None
            if row.token_used_at is None or now - row.token_used_at > timedelta(minutes=1):
                conn.execute(
                    api_tokens.update()
                    .where(api_tokens.c.id == row.token_id)
                    .values(last_used_at=now)
                )
            return _user(row)

    # -- institutions ----------------------------------------------------------------------

    def _institution_id(self, conn: Connection, name: str) -> int:
        name = name.strip()
        found = conn.execute(
            sa.select(institutions.c.id).where(institutions.c.name == name)
        ).scalar_one_or_none()
        if found is not None:
            return int(found)
        return _new_id(conn.execute(institutions.insert().values(name=name, created_at=_now())))

    def institution_names(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            return {r.id: r.name for r in conn.execute(sa.select(institutions))}

    # -- memberships -----------------------------------------------------------------------

    def role(self, user: User, study_id: str) -> Role | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(memberships.c.role).where(
                    memberships.c.user_id == user.id, memberships.c.study_id == study_id
                )
            ).scalar_one_or_none()
        return Role(value) if value else None

    def studies_of(self, user: User) -> dict[str, Role]:
        with self.engine.connect() as conn:
            return {
                r.study_id: Role(r.role)
                for r in conn.execute(
                    sa.select(memberships.c.study_id, memberships.c.role)
                    .where(memberships.c.user_id == user.id)
                    .order_by(memberships.c.study_id)
                )
            }

    def members(self, study_id: str) -> list[Member]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(users, memberships.c.role, memberships.c.added_at)
                .join(memberships, memberships.c.user_id == users.c.id)
                .where(memberships.c.study_id == study_id)
                .order_by(users.c.email)
            )
            return [Member(_user(r), Role(r.role), r.added_at) for r in rows]

    def set_member(self, study_id: str, email: str, role: Role, *, actor: Actor) -> Member:
        """Add the account with this email to the study, or change its role."""
        user = self.find(email)
        if user is None:
            raise UnknownUser(
                f"no account for {email.strip()}; create it first (vakstem user add)",
                email=email.strip(),
            )
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(memberships.c.role).where(
                    memberships.c.study_id == study_id, memberships.c.user_id == user.id
                )
            ).scalar_one_or_none()
            if current is None:
                conn.execute(
                    memberships.insert().values(
                        study_id=study_id, user_id=user.id, role=role.value, added_at=_now()
                    )
                )
                audit.record(
                    conn,
                    actor,
                    audit.MEMBER_ADDED,
                    study_id=study_id,
                    details={"email": user.email, "role": role.value},
                )
            elif current != role.value:
                self._keep_an_owner(conn, study_id, user.id, current)
                conn.execute(
                    memberships.update()
                    .where(memberships.c.study_id == study_id, memberships.c.user_id == user.id)
                    .values(role=role.value)
                )
                audit.record(
                    conn,
                    actor,
                    audit.ROLE_CHANGED,
                    study_id=study_id,
                    details={"email": user.email, "from": current, "to": role.value},
                )
        return Member(user, role, _now())

    def remove_member(self, study_id: str, user_id: int, *, actor: Actor) -> None:
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(memberships.c.role, users.c.email)
                .join(users, users.c.id == memberships.c.user_id)
                .where(memberships.c.study_id == study_id, memberships.c.user_id == user_id)
            ).first()
            if current is None:
                raise UnknownUser("this account is not a member of the study")
            self._keep_an_owner(conn, study_id, user_id, current.role)
            conn.execute(
                memberships.delete().where(
                    memberships.c.study_id == study_id, memberships.c.user_id == user_id
                )
            )
            audit.record(
                conn,
                actor,
                audit.MEMBER_REMOVED,
                study_id=study_id,
                details={"email": current.email, "role": current.role},
            )

    @staticmethod
    def _keep_an_owner(conn: Connection, study_id: str, user_id: int, current: str) -> None:
        if current != Role.OWNER.value:
            return
        others = conn.execute(
            sa.select(sa.func.count())
            .select_from(memberships)
            .where(
                memberships.c.study_id == study_id,
                memberships.c.role == Role.OWNER.value,
                memberships.c.user_id != user_id,
            )
        ).scalar_one()
        if not others:
            raise LastOwner("a study needs at least one owner; make someone else owner first")


def csrf_token(secret: bytes, binding: str) -> str:
    """A CSRF token bound to a session (its token hash) or to the anonymous CSRF cookie."""
    return hmac.new(secret, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, binding: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(secret, binding), given or "")
