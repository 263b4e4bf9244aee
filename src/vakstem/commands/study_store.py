"""`vakstem study load|list|open|close`: storing study files and managing fieldwork status.

Importing this module adds the commands to `study_app` (`vakstem.commands.study`). The database
comes from the deployment settings (`VAKSTEM_DATABASE_URL`, or a SQLite file under
`VAKSTEM_DATA_DIR`).
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine

from vakstem.commands.study import study_app
from vakstem.instrument.loader import check_text, read_study_file
from vakstem.service.audit import Actor
from vakstem.service.console import ConsoleError, change_status
from vakstem.service.types import StudyNotFound
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.studies import (
    StudyStatus,
    StudyStatusError,
    get_study,
    list_studies,
    load_study,
)

#: Hash characters shown: enough to tell versions apart, short enough to read out.
SHORT_HASH = 12


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    return typer.Exit(1)


def _engine(console: Console) -> Engine:
    try:
        return open_database(Settings().resolved_database_url())
    except DatabaseError as exc:
        raise _fail(console, str(exc)) from None


@study_app.command("load")
def load(file: Path = typer.Argument(..., help="The study file (YAML) to store.")) -> None:
    """Check a study file and store it as its study's current version."""
    console = Console(soft_wrap=True)
    text, problems = read_study_file(file)
    study = None
    if text is not None:
        study, problems = check_text(text, str(file))
    if text is None or study is None or problems:
        for problem in problems:
            console.print(f"[red]{escape(str(problem))}[/red]", highlight=False)
        raise _fail(console, f"{file} was not loaded ({len(problems)} problem(s))")
    engine = _engine(console)
    try:
        digest, created = load_study(engine, study, text)
        status = get_study(engine, study.id).status.value
    except StudyStatusError as exc:
        raise _fail(console, f"{file} was not loaded: {exc}") from None
    finally:
        engine.dispose()
    what = "new version" if created else "unchanged, already stored"
    console.print(
        f"[bold]{escape(study.id)}[/bold] version {escape(study.version)} "
        f"[cyan]{digest[:SHORT_HASH]}[/cyan] ({what}); status {status}",
        highlight=False,
    )


@study_app.command("list")
def list_command() -> None:
    """Every stored study: status, current version and real (non-test) response counts."""
    console = Console(soft_wrap=True)
    engine = _engine(console)
    try:
        listing = list_studies(engine)
    finally:
        engine.dispose()
    if not listing:
        console.print("No studies stored yet: load one with `vakstem study load FILE`.")
        return
    table = Table("study", "status", "version", "hash", "responses", "completes", "refusals")
    for s in listing:
        table.add_row(
            s.study_id,
            s.status.value,
            s.version_label or "",
            (s.version_hash or "")[:SHORT_HASH],
            str(s.responses),
            str(s.completes),
            str(s.refusals),
        )
    console.print(table)


def _cli_actor() -> Actor:
    """The audit actor of a command: the command line and the OS user who ran it (no address)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown user"
    return Actor.system(f"command line ({user})")


def _change(study_id: str, target: StudyStatus) -> None:
    console = Console(soft_wrap=True)
    engine = _engine(console)
    try:
        # Recorded in the audit trail like a status change in the console.
        change_status(engine, study_id, target.value, actor=_cli_actor())
    except StudyNotFound:
        raise _fail(console, f"no study {study_id!r} (see `vakstem study list`)") from None
    except (StudyStatusError, ConsoleError) as exc:
        raise _fail(console, str(exc)) from None
    finally:
        engine.dispose()
    console.print(f"[bold]{escape(study_id)}[/bold] is now {target.value}", highlight=False)


@study_app.command("open")
def open_command(study: str = typer.Argument(..., help="The study id.")) -> None:
    """Open a study for responses (from draft, or reopen a closed one)."""
    _change(study, StudyStatus.OPEN)


@study_app.command("close")
def close_command(study: str = typer.Argument(..., help="The study id.")) -> None:
    """Close a study: no new responses, and no more pages submitted."""
    _change(study, StudyStatus.CLOSED)


@study_app.command("archive")
def archive_command(study: str = typer.Argument(..., help="The study id.")) -> None:
    """Archive a closed study (final: it cannot be reopened)."""
    _change(study, StudyStatus.ARCHIVED)
