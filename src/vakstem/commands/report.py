"""`vakstem report`: results back to organisations and the public.

vakstem report benchmarks STUDY --out DIR [--pdf]   one report per qualifying organisation
vakstem report summary STUDY --on|--off             switch the public summary page
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import Engine

from vakstem.service.types import StudyNotFound
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database

app = typer.Typer(help="Feedback reports: organisation benchmarks and the public summary.")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

_DB_HELP = "Database (default: VAKSTEM_DATABASE_URL or the data folder)."


def _engine(database_url: str | None) -> Engine:
    try:
        return open_database(database_url or Settings().resolved_database_url())
    except DatabaseError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command("benchmarks")
def benchmarks(
    study: str = typer.Argument(..., help="Id of the study."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write the reports into."),
    pdf: bool = typer.Option(False, "--pdf", help="Also print each report to PDF (Chromium)."),
    language: str = typer.Option("nl", "--language", "-l", help="Report language: nl or en."),
    chromium: str | None = typer.Option(
        None, "--chromium", help="Chromium to print PDFs with (default: /usr/bin/chromium)."
    ),
    database_url: str | None = typer.Option(None, "--database-url", help=_DB_HELP),
) -> None:
    """Write <code>.html (and <code>.pdf) for each organisation with at least k responses.

    Organisations with fewer get no report and are named nowhere."""
    # Imported here: the feedback data bring pandas, which every other command would pay for.
    from vakstem.feedback.benchmarks import BenchmarkError, build_benchmarks, write_benchmarks
    from vakstem.feedback.data import load_feedback_data

    if language not in ("nl", "en"):
        err.print(f"[red]error:[/red] unknown language {language!r}; choose nl or en")
        raise typer.Exit(2)
    engine = _engine(database_url)
    try:
        data = load_feedback_data(engine, study)
        total = len(build_benchmarks(data))
        with Progress(
            TextColumn(f"[bold]{study}[/bold] benchmark reports"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("reports", total=total)
            written = write_benchmarks(
                engine,
                study,
                out_dir,
                pdf=pdf,
                language=language,
                chromium=chromium,
                data=data,
                on_report=lambda _code: bar.advance(task),
            )
    except StudyNotFound:
        err.print(f"[red]error:[/red] no study {study!r} in this database")
        raise typer.Exit(1) from None
    except BenchmarkError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if not written:
        out.print(
            f"No organisation of {study} has at least {data.k} completed responses "
            "(with enough others to compare with): no reports written."
        )
        return
    for report in written:
        files = f"{report.html}" + (f", {report.pdf}" if report.pdf else "")
        out.print(f"{report.code}: {files}")
    out.print(f"{len(written)} report(s) in {out_dir}")


@app.command("summary")
def summary(
    study: str = typer.Argument(..., help="Id of the study."),
    on: bool | None = typer.Option(
        None, "--on/--off", help="Show or hide the public summary at /s/STUDY/resultaten."
    ),
    database_url: str | None = typer.Option(None, "--database-url", help=_DB_HELP),
) -> None:
    """Switch the public summary page of a study on or off."""
    from vakstem.feedback.store import set_public_summary

    if on is None:
        err.print("[red]error:[/red] say --on or --off")
        raise typer.Exit(2)
    engine = _engine(database_url)
    try:
        set_public_summary(engine, study, on)
    except StudyNotFound:
        err.print(f"[red]error:[/red] no study {study!r} in this database")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    state = "on" if on else "off"
    out.print(f"public summary of {study} is {state}: /s/{study}/resultaten")
