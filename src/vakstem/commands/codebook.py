"""`vakstem codebook STUDY --format md|html [--language nl|en] [--out FILE]`: a study's codebook,
readable on its own by a researcher who never saw the study file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from vakstem.export.codebook import (
    CodebookError,
    build_codebook,
    codebook_formats,
    find_study_file,
    render,
)
from vakstem.export.missing import ExportError
from vakstem.instrument.validate import check_file

err = Console(stderr=True, soft_wrap=True)


def codebook(
    study: str = typer.Argument(
        ..., help="Id of a shipped study (e.g. klantmanagers) or a path to a study file."
    ),
    fmt: str = typer.Option("md", "--format", "-f", help="md (Markdown) or html."),
    language: str | None = typer.Option(
        None, "--language", "-l", help="Language of the texts (default: the study's first)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="File to write; without it the codebook goes to stdout."
    ),
) -> None:
    """Write the codebook of a study: every variable with its label, codes and condition."""
    try:
        if fmt not in codebook_formats():
            raise CodebookError(f"unknown format {fmt!r}; choose md or html")
        path = find_study_file(study)
        loaded, problems = check_file(path)
        if loaded is None or problems:
            err.print(f"[red]The study file has {len(problems)} problem(s):[/red]")
            for problem in problems:
                err.print(f"  {problem}", markup=False, highlight=False)
            raise typer.Exit(1)
        text = render(build_codebook(loaded, language), fmt)
    except (CodebookError, ExportError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {out}: {exc.strerror or exc}", highlight=False)
        raise typer.Exit(1) from None
    err.print(f"Wrote the codebook of {loaded.id} ({len(text):,} characters) to {out}")
