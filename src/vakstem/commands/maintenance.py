"""`vakstem backup`, `vakstem restore` and `vakstem purge`: looking after a deployment's data.

`register(app)` adds them to the `vakstem` command (each is named in `cli.COMMANDS`). Errors
are one line on stderr with exit code 1; a PostgreSQL backup without pg_dump installed exits 2
with the command to run.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from vakstem.service.retention import RetentionError, purge
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.backup import BackupError, NeedsTool, backup, restore

err = Console(stderr=True)
out = Console()


def backup_command(
    out_file: Path = typer.Option(..., "--out", help="The backup file to write (must be new)."),
) -> None:
    """Copy the database to a file while it serves (SQLite), or run pg_dump (PostgreSQL)."""
    url = Settings().resolved_database_url()
    try:
        backup(url, out_file)
    except NeedsTool as exc:
        err.print(f"[yellow]{exc}[/yellow]", highlight=False)
        raise typer.Exit(2) from None
    except BackupError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"backup written to {out_file}", highlight=False)


def restore_command(
    backup_file: Path = typer.Argument(..., help="A file made by vakstem backup."),
    force: bool = typer.Option(False, "--force", help="Overwrite a database that holds data."),
) -> None:
    """Replace the database with a backup, then bring it to the newest schema."""
    url = Settings().resolved_database_url()
    try:
        restore(url, backup_file, force=force)
    except NeedsTool as exc:
        err.print(f"[yellow]{exc}[/yellow]", highlight=False)
        raise typer.Exit(2) from None
    except BackupError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"restored from {backup_file}", highlight=False)


def purge_command(
    test: bool = typer.Option(False, "--test", help="Delete test responses."),
    unfinished_days: int | None = typer.Option(
        None, "--unfinished-days", min=0, help="Delete unfinished responses idle this many days."
    ),
    contacts: bool = typer.Option(
        False,
        "--contacts",
        help="Delete invitation contact data of studies closed longer than "
        "VAKSTEM_CONTACT_RETENTION_DAYS.",
    ),
    study: str | None = typer.Option(None, "--study", help="Only this study's responses."),
) -> None:
    """Delete data past its retention: test responses, stale unfinished ones, contact data."""
    if not (test or unfinished_days is not None or contacts):
        err.print("error: say what to purge: --test, --unfinished-days N and/or --contacts")
        raise typer.Exit(1)
    settings = Settings()
    try:
        engine = open_database(settings.resolved_database_url())
    except DatabaseError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    try:
        result = purge(
            engine,
            study_id=study,
            test=test,
            unfinished_days=unfinished_days,
            contact_days=settings.contact_retention_days if contacts else None,
        )
    except RetentionError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for line in result.lines():
        out.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    app.command("purge")(purge_command)
