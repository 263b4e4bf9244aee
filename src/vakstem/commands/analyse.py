"""`vakstem analyse STUDY --out report.html [--json results.json] [--data export.csv]`: the
study's declared analysis plan run end to end into one self-contained HTML report and a JSON
of every number in it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from vakstem.analysis.plan_steps import DEFAULT_SEED, STEPS
from vakstem.export.codebook import CodebookError, find_study_file
from vakstem.export.missing import ExportError
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.service.types import StudyNotFound
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.studies import get_study

if TYPE_CHECKING:
    from vakstem.analysis.plan import AnalysisData

# The plan (pandas, statsmodels, the SEM engine) and the report (matplotlib) are imported when
# the command runs: every `vakstem` command imports this module, and they took two seconds of
# its start-up.

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

STEP_TITLES = {
    "quality": "1 data quality",
    "scores": "2 scale scores",
    "reliability": "3 reliability",
    "measurement": "4 measurement models",
    "structural": "5 structural model (bootstrap)",
    "multilevel": "6 multilevel",
    "invariance": "7 invariance",
    "open_answers": "8 open answers and distributions",
}


class AnalyseError(Exception):
    """A problem the user can fix before any step runs."""


def _study_from_file(reference: str) -> Study:
    try:
        path = find_study_file(reference)
    except CodebookError as exc:
        raise AnalyseError(str(exc)) from None
    try:
        return load_study_file(path)
    except Exception as exc:
        raise AnalyseError(f"cannot load study {reference!r}: {exc}") from None


def _load(study: str, data: Path | None, database_url: str | None) -> tuple[Study, AnalysisData]:
    from vakstem.analysis.plan import data_from_csv, data_from_store

    if data is not None:
        model = _study_from_file(study)
        return model, data_from_csv(model, str(data))
    try:
        engine = open_database(database_url or Settings().resolved_database_url())
    except DatabaseError as exc:
        raise AnalyseError(str(exc)) from None
    try:
        try:
            stored = get_study(engine, study)
        except StudyNotFound:
            raise AnalyseError(
                f"no study {study!r} in this database; load it with `vakstem study load`, or "
                "analyse an export with --data FILE.csv"
            ) from None
        try:
            return stored.study, data_from_store(engine, stored.study)
        except ExportError as exc:
            raise AnalyseError(str(exc)) from None
    finally:
        engine.dispose()


def _save(study: str, document: dict[str, Any], database_url: str | None) -> None:
    # Only runs on the store's own data are saved: the findings on the public summary must
    # describe the study's responses, not some csv file.
    from vakstem.store.analysis_runs import AnalysisRunError, save_run

    try:
        engine = open_database(database_url or Settings().resolved_database_url())
    except DatabaseError as exc:
        err.print(f"[red]error:[/red] the results were not stored: {exc}")
        raise typer.Exit(1) from None
    try:
        run_id = save_run(engine, study, document)
    except (AnalysisRunError, StudyNotFound) as exc:
        err.print(f"[red]error:[/red] the results were not stored: {exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    out.print(f"stored as analysis run {run_id}")


def analyse(
    study: str = typer.Argument(
        ..., help="Study id in the database, or (with --data) a study file or shipped study id."
    ),
    report: Path = typer.Option(..., "--out", "-o", help="HTML report to write.", dir_okay=False),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write every number of the report as JSON.", dir_okay=False
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Analyse this csv export (`vakstem export --format csv --all --open-text`) "
        "instead of the database.",
        dir_okay=False,
    ),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of the bootstrap."),
    bootstrap: int | None = typer.Option(
        None, "--bootstrap", min=0, help="Bootstrap draws (default: the plan's number)."
    ),
    include_test: bool = typer.Option(
        False, "--include-test", help="Keep test responses (the plan excludes them)."
    ),
    processes: int = typer.Option(
        0,
        "--processes",
        min=0,
        help="Processes for the bootstrap draws (0: one per core, at most 4); the numbers do "
        "not depend on it.",
    ),
    steps: str | None = typer.Option(
        None, "--steps", help=f"Comma-separated steps to run (default all: {', '.join(STEPS)})."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database (default: VAKSTEM_DATABASE_URL or the data folder)."
    ),
    no_save: bool = typer.Option(
        False,
        "--no-save",
        help="Do not store the results in the database (stored runs feed the public summary).",
    ),
) -> None:
    """Run the study's declared analysis plan and write the report (and JSON)."""
    from vakstem.analysis.plan import PlanError, PlanOptions, run_plan
    from vakstem.analysis.report import render_report
    from vakstem.analysis.sem import default_processes

    for target in (report, json_out):
        if target is not None and not target.parent.resolve().is_dir():
            err.print(f"[red]error:[/red] cannot write {target}: its folder does not exist")
            raise typer.Exit(2)
    chosen = tuple(s.strip() for s in steps.split(",") if s.strip()) if steps else None
    options = PlanOptions(
        seed=seed,
        bootstrap=bootstrap,
        include_test=include_test,
        steps=chosen,
        processes=processes or default_processes(),
    )
    try:
        model, table = _load(study, data, database_url)
    except (AnalyseError, PlanError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    tasks: dict[str, TaskID] = {}
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as bar:
            for step in STEPS:
                tasks[step] = bar.add_task(STEP_TITLES[step], total=1, start=False)
            previous: list[str] = []

            def on_step(step: str, number: int, total: int) -> None:
                if previous:
                    bar.update(tasks[previous[-1]], completed=1)
                bar.start_task(tasks[step])
                previous.append(step)

            draws_task: list[TaskID] = []

            def on_draw(done: int, total: int) -> None:
                # Bootstrap draws are the slow part: a bar of their own under step 5.
                if not draws_task:
                    draws_task.append(bar.add_task("  bootstrap draws", total=total))
                bar.update(draws_task[0], completed=done)

            results = run_plan(model, table, options, progress=on_step, draw_progress=on_draw)
            if previous:
                bar.update(tasks[previous[-1]], completed=1)
    except PlanError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    document = results.to_dict()
    try:
        report.write_text(render_report(document), encoding="utf-8")
        if json_out is not None:
            json_out.write_text(results.to_json(), encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write the report: {exc.strerror or exc}")
        raise typer.Exit(1) from None
    for step, result in results.steps.items():
        if result.status != "ok":
            err.print(f"[yellow]{STEP_TITLES[step]}: {result.status}[/yellow] – {result.message}")
    out.print(f"report: {report}" + (f"  json: {json_out}" if json_out else ""))
    if data is None and not no_save:
        _save(study, document, database_url)
    out.print(f"data sha256: {results.reproducibility['data_sha256']}")
