"""`vakstem study import FORM.xlsx` and `vakstem study export-xlsform STUDY`: bringing a
questionnaire from XLSForm (ODK, KoboToolbox) and writing one out for review in a spreadsheet.

Importing this module adds both commands to `study_app` (`vakstem.commands.study`). The import
prints its report (unsupported features item by item, ignored columns, codes given to
non-numeric choice names) on stderr, so that the study YAML on stdout can be piped.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vakstem.commands.study import study_app
from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.loader import check_text, read_study_file
from vakstem.instrument.problems import Problem
from vakstem.instrument.schema import Study
from vakstem.instrument.xlsform import ImportReport, read_xlsform, write_xlsform
from vakstem.instrument.xlsform.unsupported import Finding
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.studies import StudyStatusError, load_study

#: Hash characters shown (as `vakstem study load` does).
SHORT_HASH = 12


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    return typer.Exit(1)


def _findings(console: Console, title: str, findings: list[Finding], style: str) -> None:
    if not findings:
        return
    table = Table(title=title, title_justify="left", title_style=style, show_lines=False)
    table.add_column("where")
    table.add_column("name")
    table.add_column("what")
    for finding in findings:
        table.add_row(finding.where(), finding.name, finding.what)
    console.print(table)


def _print_report(console: Console, report: ImportReport) -> None:
    verb = "left out" if report.skipped else "not supported"
    _findings(console, f"Unsupported features ({verb})", report.unsupported, "bold red")
    _findings(console, "Ignored", report.ignored, "yellow")
    _findings(console, "Check these mapping decisions", report.notes, "cyan")
    if report.code_mappings:
        table = Table(title="Codes given to choice names", title_justify="left")
        table.add_column("list")
        table.add_column("XLSForm name -> code")
        for mapping in report.code_mappings:
            table.add_row(
                mapping.list_name, ", ".join(f"{name} -> {code}" for name, code in mapping.codes)
            )
        console.print(table)
    if report.renamed:
        table = Table(title="Renamed to valid Vakstem names", title_justify="left")
        table.add_column("XLSForm name")
        table.add_column("Vakstem id")
        for old, new in report.renamed.items():
            table.add_row(old, new)
        console.print(table)


def _print_problems(console: Console, problems: list[Problem]) -> None:
    for problem in problems:
        location = problem.location()
        prefix = f"[bold]{escape(problem.file)}[/bold]"
        if location:
            prefix += f" [cyan]{escape(location)}[/cyan]"
        console.print(f"{prefix}: [red]{escape(problem.message)}[/red]", highlight=False)


def _store(console: Console, study: Study, text: str) -> None:
    try:
        engine = open_database(Settings().resolved_database_url())
    except DatabaseError as exc:
        raise _fail(console, str(exc)) from None
    try:
        digest, created = load_study(engine, study, text)
    except StudyStatusError as exc:
        raise _fail(console, f"{study.id} was not stored: {exc}") from None
    finally:
        engine.dispose()
    what = "new version" if created else "unchanged, already stored"
    console.print(
        f"stored [bold]{escape(study.id)}[/bold] version {escape(study.version)} "
        f"[cyan]{digest[:SHORT_HASH]}[/cyan] ({what})",
        highlight=False,
    )


def _writable(console: Console, out: Path, force: bool) -> None:
    if out.is_dir():
        raise _fail(console, f"{out} is a directory; give a file name")
    if out.exists() and not force:
        raise _fail(console, f"{out} exists; use --force to overwrite it")
    if not out.parent.exists():
        raise _fail(console, f"the folder {out.parent} does not exist")


@study_app.command("import")
def import_command(
    form: Path = typer.Argument(..., help="The XLSForm workbook (.xlsx) to import."),
    skip_unsupported: bool = typer.Option(
        False,
        "--skip-unsupported",
        help="Leave out what Vakstem does not support (listed in the report) instead of "
        "refusing the form.",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the study file (YAML) here instead of to stdout."
    ),
    load: bool = typer.Option(
        False, "--load", help="Store the imported study in the database as its current version."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite the --out file if it exists."),
) -> None:
    """Import an XLSForm (ODK, KoboToolbox) as a Vakstem study; exit 1 on any problem."""
    console = Console(stderr=True, soft_wrap=True)
    if out is not None:
        _writable(console, out, force)
    result = read_xlsform(form, skip_unsupported=skip_unsupported)
    _print_report(console, result.report)
    if result.problems or result.study is None:
        _print_problems(console, result.problems)
        count = len(result.problems)
        raise _fail(console, f"{form} was not imported ({count} problem{'s' * (count != 1)})")
    if result.refused:
        count = len(result.report.unsupported)
        raise _fail(
            console,
            f"{form} was not imported: {count} unsupported feature{'s' * (count != 1)} (listed "
            "above); change the form, or rerun with --skip-unsupported to leave them out",
        )
    study = result.study
    text = dump_study_yaml(study)
    # The generated YAML goes through the same loader as a hand-written study file.
    checked, problems = check_text(text, f"{study.id}.yaml")
    if problems or checked != study:
        _print_problems(console, problems)
        raise _fail(console, "the generated study file does not load back to the same study")
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(console, f"cannot write {out}: {exc.strerror or exc}") from None
        console.print(f"wrote {escape(str(out))}", highlight=False)
    elif not load:
        typer.echo(text, nl=False)
    if load:
        _store(console, study, text)
    console.print(
        f"[bold green]imported[/bold green] {escape(study.id)}: {len(study.pages)} pages, "
        f"{len(study.items())} items, {len(study.variables())} variables",
        highlight=False,
    )


def _shipped(study_id: str) -> Path | None:
    folder = resources.files("vakstem.studies")
    candidate = folder / study_id / "study.yaml"
    if "/" in study_id or not candidate.is_file():
        return None
    return Path(str(candidate))


def _shipped_ids() -> list[str]:
    folder = resources.files("vakstem.studies")
    return sorted(p.name for p in folder.iterdir() if (p / "study.yaml").is_file())


@study_app.command("export-xlsform")
def export_xlsform(
    study: str = typer.Argument(..., help="A study file (YAML) or the id of a shipped study."),
    out: Path = typer.Option(..., "--out", "-o", help="The workbook (.xlsx) to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite the file if it exists."),
) -> None:
    """Write a study as an XLSForm workbook (survey, choices, settings sheets)."""
    console = Console(stderr=True, soft_wrap=True)
    _writable(console, out, force)
    path = Path(study)
    if not path.is_file():
        shipped = _shipped(study)
        if shipped is None:
            raise _fail(
                console,
                f"{study!r} is neither a study file nor a shipped study (shipped: "
                f"{', '.join(_shipped_ids())})",
            )
        path = shipped
    text, problems = read_study_file(path)
    model = None
    if text is not None:
        model, problems = check_text(text, str(path))
    if model is None or problems:
        _print_problems(console, problems)
        raise _fail(console, f"{path} has problems; fix them before exporting")
    try:
        write_xlsform(model, out)
    except OSError as exc:
        raise _fail(console, f"cannot write {out}: {exc.strerror or exc}") from None
    console.print(
        f"wrote {escape(str(out))}: {len(model.pages)} pages, {len(model.items())} items, "
        f"{len(model.choice_lists)} choice lists",
        highlight=False,
    )
