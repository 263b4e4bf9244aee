"""`vakstem simulate STUDY --n N --seed S [--organisations K]`: fill the database with simulated
respondents drawn from the study's population model, submitted page by page through the
respondent service, and write the true parameter values as JSON beside them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import Engine

from vakstem.instrument.loader import load_study_file
from vakstem.instrument.problems import StudyFileError
from vakstem.service.types import StudyNotFound
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.studies import StudyStatus, get_study, load_study, set_status

if TYPE_CHECKING:
    from vakstem.simulate import SimulationResult

# The simulator (with pandas) is imported when the command runs: every `vakstem` command
# imports this module.

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    return typer.Exit(1)


def _ensure_study(engine: Engine, study_id: str) -> None:
    """A shipped study that is not in the database yet is loaded and opened (and said so)."""
    from vakstem.simulate import SimulationError, shipped_study_file

    try:
        get_study(engine, study_id)
        return
    except StudyNotFound:
        pass
    path = shipped_study_file(study_id)
    if path is None:
        raise SimulationError(f"unknown study {study_id!r}: not in the database, not shipped")
    try:
        study = load_study_file(path)
    except StudyFileError as exc:
        raise SimulationError(f"the shipped study {study_id!r} does not load: {exc}") from exc
    load_study(engine, study, path.read_text(encoding="utf-8"))
    set_status(engine, study_id, StudyStatus.OPEN)
    out.print(f"loaded and opened the shipped study [bold]{escape(study_id)}[/bold]")


def report(result: SimulationResult) -> list[str]:
    """Lines summarising a simulation: counts per status and kind, and the write rate."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.kinds.items()))
    return [
        f"{result.n} simulated responses for {result.study_id} from {result.organisations} "
        f"organisations (seed {result.seed}): {statuses}; of which test {result.tests}",
        f"drawn as: {kinds}",
        f"{result.submissions} pages submitted through the respondent service in "
        f"{result.seconds:.1f} s ({result.rate:.1f} responses/s)",
    ]


def simulate_command(
    study: str = typer.Argument(..., help="Id of the study (a shipped one is loaded if needed)."),
    n: int = typer.Option(..., "--n", "-n", help="Number of respondents to simulate."),
    seed: int = typer.Option(..., "--seed", "-s", help="Random seed: same seed, same answers."),
    organisations: int | None = typer.Option(
        None,
        "--organisations",
        "-k",
        help="Municipalities to spread respondents over (default: the population model's).",
        show_default=False,
    ),
    truth: Path | None = typer.Option(
        None,
        "--truth",
        help="Where to write the true parameter values as JSON "
        "(default: simulated-STUDY-truth.json in the data folder).",
        dir_okay=False,
    ),
    start: datetime | None = typer.Option(
        None,
        "--start",
        formats=["%Y-%m-%d"],
        help="First day of fieldwork (default: four weeks before today).",
        show_default=False,
    ),
    bulk: bool = typer.Option(
        False,
        "--bulk",
        help="Share one transaction per batch of respondents (still validated per page).",
    ),
    batch_size: int = typer.Option(500, "--batch-size", help="Respondents per batch in --bulk."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database (default: VAKSTEM_DATABASE_URL or the data folder)."
    ),
) -> None:
    """Simulate respondents of a study through the respondent service, with realistic mess."""
    from vakstem.simulate import SimulationError, simulate

    if n <= 0:
        raise _fail(f"--n must be at least 1, not {n}")
    if organisations is not None and organisations <= 0:
        raise _fail(f"--organisations must be at least 1, not {organisations}")
    if batch_size <= 0:
        raise _fail(f"--batch-size must be at least 1, not {batch_size}")
    settings = Settings()
    try:
        engine = open_database(database_url or settings.resolved_database_url())
    except DatabaseError as exc:
        raise _fail(str(exc)) from None
    try:
        _ensure_study(engine, study)
        with Progress(
            TextColumn(f"[bold]simulate {escape(study)}[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("simulate", total=n)
            result = simulate(
                engine,
                study,
                n=n,
                seed=seed,
                organisations=organisations,
                start=start.replace(tzinfo=UTC) if start is not None else None,
                bulk=bulk,
                batch_size=batch_size,
                progress=lambda done, _total: bar.update(task, completed=done),
            )
    except SimulationError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    target = truth or settings.data_dir / f"simulated-{study}-truth.json"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(result.truth_json() + "\n", encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write the true values to {target}: {exc}") from None
    for line in report(result):
        out.print(escape(line), highlight=False)
    out.print(f"true values: {escape(str(target))}", highlight=False)
