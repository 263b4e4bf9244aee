"""Deployment settings, read from `VAKSTEM_*` environment variables and passed in explicitly."""

from __future__ import annotations

from pathlib import Path

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

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vakstem.db').as_posix()}"
