"""`vakstem fit MODEL --data FILE.csv ...`: fit any lavaan-syntax model to any CSV file, print a
lavaan-style summary and optionally write every number as JSON with lavaan's names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    import pandas as pd

# pandas and the SEM engine (with scipy) are imported when the command runs: every `vakstem`
# command imports this module, and they took a second of its start-up.

err = Console(stderr=True, soft_wrap=True)


def _read_model(model: str) -> str:
    """A model argument is a file when such a file exists, else the syntax itself."""
    if "\n" not in model and len(model) < 4096 and Path(model).is_file():
        return Path(model).read_text(encoding="utf-8")
    if "~" not in model and ":=" not in model:
        err.print(
            f"[red]error:[/red] {model!r} is neither an existing model file nor lavaan syntax "
            "(no =~, ~ or ~~ in it)",
            highlight=False,
        )
        raise typer.Exit(2)
    return model


def _read_data(data: Path) -> pd.DataFrame:
    import pandas as pd

    if not data.is_file():
        err.print(f"[red]error:[/red] data file {data} does not exist", highlight=False)
        raise typer.Exit(2)
    try:
        return pd.read_csv(data)
    except pd.errors.EmptyDataError:
        err.print(f"[red]error:[/red] the data file {data} is empty", highlight=False)
        raise typer.Exit(1) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err.print(f"[red]error:[/red] cannot read {data} as CSV: {first}", highlight=False)
        raise typer.Exit(1) from None


def fit(
    model: str = typer.Argument(..., help="lavaan model syntax, or a file that holds it."),
    data: Path = typer.Option(..., "--data", "-d", help="CSV file with one column per variable."),
    estimator: str = typer.Option("ML", "--estimator", "-e", help="ML or MLR."),
    missing: str = typer.Option("listwise", "--missing", help="listwise or ml (FIML)."),
    group: str | None = typer.Option(None, "--group", "-g", help="Column defining groups."),
    group_equal: str = typer.Option(
        "", "--group-equal", help="Comma-separated: loadings,intercepts (also regressions, ...)."
    ),
    group_partial: str = typer.Option(
        "", "--group-partial", help="Comma-separated exemptions, e.g. 'visual=~x2,x3~1'."
    ),
    std_lv: bool = typer.Option(False, "--std-lv", help="Latent variances 1, all loadings free."),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Column nesting the rows (e.g. organisation): cluster-robust SEs and test (MLR).",
    ),
    bootstrap: int = typer.Option(0, "--bootstrap", help="Bootstrap draws for := parameters."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for the bootstrap."),
    json_out: Path | None = typer.Option(None, "--json", help="Write all results as JSON here."),
) -> None:
    """Fit a lavaan-syntax model (CFA/SEM) and print a summary laid out like lavaan's."""
    from vakstem.analysis.sem.api import fit as fit_model
    from vakstem.analysis.sem.errors import ModelSyntaxError, SemError

    if estimator.upper() not in ("ML", "MLR"):
        err.print(f"[red]error:[/red] --estimator must be ML or MLR, not {estimator!r}")
        raise typer.Exit(2)
    if missing not in ("listwise", "ml"):
        err.print(f"[red]error:[/red] --missing must be listwise or ml, not {missing!r}")
        raise typer.Exit(2)
    if bootstrap < 0:
        err.print("[red]error:[/red] --bootstrap must be zero or more draws")
        raise typer.Exit(2)
    if cluster is not None and estimator.upper() != "MLR":
        err.print(
            "[red]error:[/red] --cluster gives cluster-robust standard errors and test, which "
            "are MLR's: add --estimator MLR"
        )
        raise typer.Exit(2)
    text = _read_model(model)
    frame = _read_data(data)
    equal = [part.strip() for part in group_equal.split(",") if part.strip()]
    partial = [part.strip() for part in group_partial.split(",") if part.strip()]
    try:
        if bootstrap > 0:
            with Progress(
                TextColumn("bootstrap"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task("bootstrap", total=bootstrap)
                result = fit_model(
                    text,
                    frame,
                    estimator=estimator,
                    missing=missing,
                    group=group,
                    group_equal=equal,
                    group_partial=partial,
                    std_lv=std_lv,
                    cluster=cluster,
                    bootstrap=bootstrap,
                    seed=seed,
                    progress=lambda: progress.advance(task),
                )
        else:
            result = fit_model(
                text,
                frame,
                estimator=estimator,
                missing=missing,
                group=group,
                group_equal=equal,
                group_partial=partial,
                std_lv=std_lv,
                cluster=cluster,
            )
    except ModelSyntaxError as exc:
        err.print("[red]model syntax error:[/red]", end=" ")
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    except SemError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(result.summary(), nl=False)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if json_out is not None:
        try:
            json_out.write_text(result.to_json(), encoding="utf-8")
        except OSError as exc:
            err.print(
                f"[red]error:[/red] cannot write {json_out}: {exc.strerror or exc}",
                highlight=False,
            )
            raise typer.Exit(1) from None
        err.print(f"Wrote the results to {json_out}")
