"""Deployment settings, read from `VAKSTEM_*` environment variables and passed in explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of one Vakstem deployment. Build one and pass it down; never a global."""

    model_config = SettingsConfigDict(env_prefix="VAKSTEM_", extra="ignore")

    #: SQLAlchemy URL; SQLite file under `data_dir` by default, or `postgresql+psycopg://...`.
    database_url: str | None = None
    data_dir: Path = Path("data")
    #: Key for signing cookies and CSRF tokens. A random one is made per process if unset,
    #: which logs everyone out on restart: set it in production.
    secret_key: str | None = None
    #: Behind a TLS-terminating proxy: Secure cookies, trust X-Forwarded-Proto.
    behind_tls: bool = False
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    default_language: str = "nl"
    #: How respondent pages call the database: `inline` on the event loop (the default on
    #: SQLite) or in the `threads` pool (the default on PostgreSQL); see
    #: `vakstem.web.database_calls` for why and for the figures.
    database_calls: Literal["inline", "threads"] | None = None
    #: PostgreSQL connections each server process keeps open, which is also the most database
    #: calls of respondent pages it runs at once (`threads`). Two measured best with the
    #: database on the same two-core machine (`docs/performance.md`, twelfth session); raise
    #: it when the database runs on another host, where each call waits longer on the network.
    database_connections: int = Field(default=2, ge=1, le=50)
    #: Researcher console: a session ends after this much inactivity, and at the latest after
    #: `session_max_hours`; an account locks for `login_lockout_minutes` after
    #: `login_max_failures` failed logins in a row.
    session_idle_minutes: int = Field(default=60, gt=0)
    session_max_hours: int = Field(default=12, gt=0)
    login_max_failures: int = Field(default=5, gt=0)
    login_lockout_minutes: int = Field(default=15, gt=0)
    password_reset_hours: int = Field(default=24, gt=0)
    #: Owners (and administrators) must set up two-factor authentication (TOTP) before use.
    require_totp_for_owners: bool = False
    #: Largest questionnaire file accepted by the console's upload, in bytes.
    max_upload_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    #: Outgoing email (invitations and reminders). No host: sending is refused with a message.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = False
    #: Throttle of outgoing email, messages per second (many providers limit the rate).
    smtp_rate: float = Field(default=5.0, gt=0)
    #: Public address of the site, for links in emails and QR codes (`https://survey.example`).
    public_url: str = "http://localhost:8000"
    #: Personal invitation links stop working this many days after import.
    invitation_valid_days: int = Field(default=90, gt=0)
    #: Email addresses are deleted this many days after a study closes (and by purge-contacts).
    contact_retention_days: int = Field(default=30, ge=0)
    #: An unfinished response holds its quota place for this long after its last activity.
    quota_hold_minutes: int = Field(default=120, gt=0)
    #: Set by `vakstem serve --workers N` for its workers, never by hand: the in-memory table in
    #: which they count rate limits together (`web/rate_table.py`).
    rate_limit_table: str | None = None
    #: Set by `vakstem serve --workers N` when `secret_key` is not, never by hand: one random
    #: key for this run's form tokens, shared by its workers (a per-process key would refuse a
    #: page shown by one worker and sent to another).
    run_key: str | None = None
    #: Simulated responses `vakstem demo` gives the klantmanager study (0: none). Tests and a
    #: quick look ask for fewer; the demo's figures are written for the default.
    demo_responses: int = Field(default=500, ge=0, le=100_000)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vakstem.db').as_posix()}"
