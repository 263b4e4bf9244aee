"""Every test that touches a database runs on SQLite and on PostgreSQL (issue 9, item 7).

Tests get their databases from the fixtures in tests/conftest.py (`database_url`, `databases`,
`module_database_url`), which run each test once per backend. This meta-test fails when a test
file opens SQLite some other way, unless the file is on the allow-list below with its reason:
a test about an SQLite-only feature, or a deliberate choice of one backend. An entry whose file
no longer opens SQLite fails too, so the list cannot go stale.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: What opening SQLite looks like in a test file, and how the message names it.
SQLITE_OPENERS = {
    "an SQLite URL": re.compile(r"sqlite(?:\+\w+)?:///"),
    # Without a URL `vakstem` falls back to the SQLite file in its data folder.
    "the default database (the SQLite file in the data folder)": re.compile(
        r"""pop\(\s*["']VAKSTEM_DATABASE_URL["']"""
    ),
    "SQLite chosen by name": re.compile(
        r"""(?:database_on\(\s*|DATABASE_BACKEND["']?\s*[,=]\s*)["']sqlite["']"""
    ),
}

#: Files (relative to tests/) allowed to open SQLite themselves, and why.
ALLOWED = {
    "conftest.py": "defines the SQLite side of the database fixtures",
    "store/test_store_schema.py": (
        "WAL journal, synchronous=FULL, foreign-key and busy-timeout pragmas and the database "
        "file's folders are SQLite features; the schema tests beside it run on both backends"
    ),
    "hardening/test_backup.py": (
        "restore checks the SQLite file header and names it; a PostgreSQL backup is pg_dump's "
        "custom format, refused by pg_restore (the round trip itself runs on both backends)"
    ),
    "web/test_write_batches.py": (
        "write batches share SQLite's one write lock and transaction; PostgreSQL locks rows and "
        "never batches (that refusal is tested there on both backends)"
    ),
    "browser/conftest.py": (
        "browser modules run on one backend each to keep the suite affordable; modules that "
        "do not ask for PostgreSQL (console, live conditions) get SQLite"
    ),
}


def sqlite_openers(text: str) -> list[str]:
    """The kinds of SQLite opening found in a test file's text, with their line numbers."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in SQLITE_OPENERS.items():
            if pattern.search(line):
                found.append(f"line {number}: {kind}")
    return found


def test_the_scanner_finds_each_way_of_opening_sqlite_and_nothing_else() -> None:
    assert sqlite_openers("url = f\"sqlite:///{tmp_path / 'v.db'}\"") == ["line 1: an SQLite URL"]
    assert sqlite_openers("x = 1\nengine = create_engine('sqlite+pysqlite:///:memory:')") == [
        "line 2: an SQLite URL"
    ]
    assert sqlite_openers('env.pop("VAKSTEM_DATABASE_URL", None)') == [
        "line 1: the default database (the SQLite file in the data folder)"
    ]
    assert sqlite_openers('open_database(database_on("sqlite"))') == [
        "line 1: SQLite chosen by name"
    ]
    assert sqlite_openers('DATABASE_BACKEND = "sqlite"') == ["line 1: SQLite chosen by name"]
    # Using the fixtures, naming PostgreSQL, or saying "SQLite" in prose is fine.
    fine = '''"""Runs on SQLite and PostgreSQL."""
def test_x(database_url: str, databases: Databases) -> None:
    engine = open_database(databases.new("second"))
    url = database_on("postgresql")
DATABASE_BACKEND = "postgresql"
env = {"VAKSTEM_DATABASE_URL": database_url}
'''
    assert sqlite_openers(fine) == []


def test_no_test_file_opens_sqlite_outside_the_fixtures_and_the_allow_list() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        name = path.relative_to(TESTS).as_posix()
        if path == Path(__file__).resolve() or name in ALLOWED:
            continue
        found = sqlite_openers(path.read_text(encoding="utf-8"))
        offenders.extend(f"tests/{name} {where}" for where in found)
    assert not offenders, (
        "Use the `database_url`, `databases` or `module_database_url` fixture (tests/conftest.py)"
        " so the test runs on SQLite and PostgreSQL; a test of an SQLite-only feature goes on "
        "the allow-list in tests/test_backends.py with its reason:\n" + "\n".join(offenders)
    )


def test_every_allowed_file_exists_and_still_opens_sqlite() -> None:
    stale = [
        name
        for name in ALLOWED
        if not (TESTS / name).is_file()
        or not sqlite_openers((TESTS / name).read_text(encoding="utf-8"))
    ]
    assert not stale, f"remove these from ALLOWED in tests/test_backends.py: {stale}"
