"""`vakstem export STUDY --format csv|xlsx|sav|dta|parquet --out FILE`: a study's responses as a
file a researcher opens in SPSS, Stata, R or Excel, with a manifest beside it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vakstem.export.formats import FORMATS, get_writer
from vakstem.export.missing import ExportError
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _format_for(fmt: str | None, target: Path | None) -> str:
    if fmt:
        return fmt.lower()
    if target is not None:
        suffix = target.suffix.lower().lstrip(".")
        if suffix in FORMATS:
            return suffix
    raise ExportError(
        f"say which format with --format ({', '.join(FORMATS)}), or give --out a file name "
        "ending in one of them"
    )


def export(
    study: str = typer.Argument(..., help="Id of the study to export."),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help=f"File format: {', '.join(FORMATS)}.", show_default=False
    ),
    target: Path | None = typer.Option(
        None, "--out", "-o", help="File to write (default: STUDY.<format> here).", dir_okay=False
    ),
    completed_only: bool = typer.Option(
        True, "--completed-only/--all", help="Only completed responses, or every response."
    ),
    include_test: bool = typer.Option(False, "--include-test", help="Include test responses."),
    include_excluded: bool = typer.Option(
        False,
        "--include-excluded",
        help="Keep responses a researcher excluded in the console (left out by default), "
        "with columns `excluded` and `exclusion_reason`.",
    ),
    with_scores: bool = typer.Option(
        False, "--with-scores", help="Add the scale scores of the analysis plan as columns."
    ),
    open_text: bool = typer.Option(
        False,
        "--open-text",
        help="Include open answers (left out by default: they may identify people).",
    ),
    raw_text: bool = typer.Option(
        False,
        "--raw-text",
        help="csv: write text as typed. By default a text starting with = + - @ (or a tab or "
        "carriage return) gets a ' in front so a spreadsheet does not run it as a formula.",
    ),
    language: str | None = typer.Option(
        None, "--language", "-l", help="Language of labels (default: the study's first)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database (default: VAKSTEM_DATABASE_URL or the data folder)."
    ),
) -> None:
    """Export a study's responses with labels, missing-value codes and a manifest."""
    # Imported here: the table brings pandas, which every other command would pay for.
    from vakstem.export.api import export_to_file
    from vakstem.export.table import ExportOptions

    try:
        name = _format_for(fmt, target)
        writer = get_writer(name)
        path = target if target is not None else Path(f"{study}{writer.suffix}")
        url = database_url or Settings().resolved_database_url()
        engine = open_database(url)
    except (ExportError, DatabaseError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    options = ExportOptions(
        completed_only=completed_only,
        include_test=include_test,
        include_excluded=include_excluded,
        with_scores=with_scores,
        open_text=open_text,
        language=language,
        raw_text=raw_text,
    )
    try:
        with Progress(
            TextColumn(f"[bold]{study}[/bold] → {path.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("export", total=None)
            result = export_to_file(
                engine,
                study,
                name,
                path,
                options,
                force=force,
                on_total=lambda n: bar.update(task, total=n),
                on_rows=lambda n: bar.advance(task, n),
            )
    except ExportError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    out.print(
        f"{result.rows} responses × {result.columns} columns → {result.path}\n"
        f"manifest: {result.manifest}  sha256: {result.sha256}"
    )
    for companion in result.companions:
        out.print(f"codebook: {companion}")
