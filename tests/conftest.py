"""Shared test fixtures: real databases (SQLite and PostgreSQL) and the browser.

PostgreSQL and Chromium tests run for real in CI (CI=true), where a missing service is a
failure; on a developer's machine without them they skip with a message saying what to install.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ADMIN_URL = os.environ.get(
    "VAKSTEM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CHROMIUM = os.environ.get("VAKSTEM_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session", autouse=True)
def _quick_password_hashes() -> Iterator[None]:
    """argon2id with its smallest parameters for the accounts made and checked in this test
    process (as Django's test settings do): the recommended 64 MiB and three passes took a
    fifth of a second per password, several times in every console test. Servers started as
    subprocesses keep the real parameters, and tests/console/test_accounts.py checks them."""
    from argon2 import PasswordHasher

    from vakstem.service import accounts

    real = accounts.password_hasher
    accounts.password_hasher = lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        yield
    finally:
        accounts.password_hasher = real


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} (required in CI)")
    pytest.skip(what)


def _postgres_available() -> str | None:
    try:
        import psycopg

        dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: not usable here
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    problem = _postgres_available()
    if problem:
        _missing(
            "PostgreSQL is not reachable on 127.0.0.1:5432 "
            f"(install and start postgresql, trust auth, database 'test'): {problem}"
        )
    return PG_ADMIN_URL


def _create_pg_database(admin_url: str, template: str | None = None) -> tuple[str, str]:
    import psycopg

    name = f"vakstem_t_{uuid.uuid4().hex[:12]}"
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    copy_of = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy_of}')
    base = admin_url.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def _drop_pg_database(admin_url: str, name: str) -> None:
    import psycopg

    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: The two storage backends every test that touches a database runs on.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class SchemaTemplates:
    """One database per backend brought to the newest schema once per test process, which
    each test's database is copied from: migrating a new PostgreSQL database took most of a
    second, for each of several hundred tests."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: Path | None = None
        self._postgres: tuple[str, str] | None = None

    def sqlite(self) -> Path:
        if self._sqlite is None:
            from vakstem.store import open_database

            path = self._folder / "template.db"
            open_database(f"sqlite:///{path}").dispose()
            # Closing the last connection checkpoints the write-ahead log into the file.
            if Path(f"{path}-wal").exists():
                raise RuntimeError("the SQLite template kept its write-ahead log")
            self._sqlite = path
        return self._sqlite

    def postgres(self, admin_url: str) -> str:
        if self._postgres is None:
            from vakstem.store import open_database

            name, url = _create_pg_database(admin_url)
            self._postgres = (admin_url, name)
            # Disposed, so that no connection keeps PostgreSQL from copying it.
            open_database(url).dispose()
        return self._postgres[1]

    def drop(self) -> None:
        if self._postgres is not None:
            _drop_pg_database(*self._postgres)
            self._postgres = None


@pytest.fixture(scope="session")
def schema_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaTemplates]:
    templates = SchemaTemplates(tmp_path_factory.mktemp("templates"))
    try:
        yield templates
    finally:
        templates.drop()


class Databases:
    """Fresh databases of one backend, as many as a test needs (e.g. two runs with the same
    seed): SQLite files in a temporary folder, or PostgreSQL databases dropped at the end.
    Each is at the newest schema with no data (a copy of `SchemaTemplates`'), or empty when
    asked (`empty=True`), for the tests of migrations themselves."""

    def __init__(self, backend: str, folder: Path, request: pytest.FixtureRequest) -> None:
        self.backend = backend
        self._folder = folder
        self._request = request
        self._created: list[tuple[str, str]] = []

    def new(self, name: str = "vakstem", *, empty: bool = False) -> str:
        """The URL of a new database; `name` only tells SQLite files apart."""
        templates: SchemaTemplates = self._request.getfixturevalue("schema_templates")
        if self.backend == "sqlite":
            path = self._folder / f"{name}.db"
            if path.exists():
                raise ValueError(f"database {name!r} exists already in this test")
            if not empty:
                shutil.copyfile(templates.sqlite(), path)
            return f"sqlite:///{path}"
        admin = self._request.getfixturevalue("postgres_admin_url")
        template = None if empty else templates.postgres(admin)
        created, url = _create_pg_database(admin, template)
        self._created.append((admin, created))
        return url

    def drop_all(self) -> None:
        while self._created:
            _drop_pg_database(*self._created.pop())


@pytest.fixture(params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """Makes new databases of this test's backend (runs once on SQLite, once on PostgreSQL)."""
    made = Databases(request.param, tmp_path, request)
    try:
        yield made
    finally:
        made.drop_all()


@pytest.fixture
def database_url(databases: Databases) -> str:
    """A fresh database at the newest schema, without data: every storage test runs once on
    SQLite and once on PostgreSQL."""
    return databases.new()


@pytest.fixture
def empty_database_url(databases: Databases) -> str:
    """A fresh database without any table, for the tests of migrating one."""
    return databases.new(empty=True)


@pytest.fixture(scope="module", params=BACKENDS)
def module_databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """As `databases`, shared by a module's tests: expensive data (a simulated study) is made
    once per backend, and the module's tests run on each."""
    made = Databases(request.param, tmp_path_factory.mktemp("db"), request)
    try:
        yield made
    finally:
        made.drop_all()


@pytest.fixture(scope="module")
def module_database_url(module_databases: Databases) -> str:
    """One new database per module and backend (see `module_databases`)."""
    return module_databases.new()


@pytest.fixture(scope="session")
def database_on(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """`database_on("postgresql")`: a new database on the named backend, for the few
    fixtures that pick one backend on purpose (see tests/browser/conftest.py)."""
    made: dict[str, Databases] = {}
    folder = tmp_path_factory.mktemp("chosen")
    numbers = itertools.count()

    def new(backend: str) -> str:
        if backend not in {"sqlite", "postgresql"}:
            raise ValueError(f"unknown backend {backend!r}: sqlite or postgresql")
        databases = made.setdefault(backend, Databases(backend, folder, request))
        return databases.new(f"db{next(numbers)}")

    try:
        yield new
    finally:
        for databases in made.values():
            databases.drop_all()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"Chromium not found at {CHROMIUM} (install it: apt-get install -y chromium)")
    return CHROMIUM
