"""`vakstem study ...`: commands on study files. `validate` and `schema` live here; other areas
add their commands (load, list, open, close) to `study_app` from their own modules."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from vakstem.instrument.json_schema import study_json_schema
from vakstem.instrument.problems import Problem
from vakstem.instrument.validate import check_file

study_app = typer.Typer(
    name="study",
    help="Check, load and manage study files.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_problem(console: Console, problem: Problem) -> None:
    where = problem.file
    if problem.line is not None:
        where += f":{problem.line}"
        if problem.column is not None:
            where += f":{problem.column}"
    location = problem.location()
    prefix = f"[bold]{escape(where)}[/bold]"
    if location:
        prefix += f" [cyan]{escape(location)}[/cyan]"
    console.print(f"{prefix}: [red]{escape(problem.message)}[/red]", highlight=False)


@study_app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="The study file (YAML) to check."),
) -> None:
    """Check a study file and print every problem with its line; exit 1 if there are any."""
    console = Console(soft_wrap=True)
    study, problems = check_file(file)
    for problem in problems:
        _print_problem(console, problem)
    if problems or study is None:
        count = len(problems)
        console.print(
            f"[bold red]{count} problem{'s' if count != 1 else ''}[/bold red] in "
            f"{escape(str(file))}",
            highlight=False,
        )
        raise typer.Exit(1)
    items = len(study.items())
    console.print(
        f"[bold green]OK[/bold green]: {len(study.pages)} pages, {items} items, "
        f"{len(study.variables())} variables",
        highlight=False,
    )


@study_app.command("schema")
def schema(
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the schema to this file instead of printing it."
    ),
) -> None:
    """Print the JSON Schema of the study-file format (for editors and other tools)."""
    text = json.dumps(study_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"cannot write {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}")
