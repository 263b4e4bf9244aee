"""`vakstem` starts without importing what only some commands need: every command, `--help`
included, paid three to four seconds for the analysis plan, the SEM engine, the web server,
pandas and the simulator before they were imported where they are used (and a fifth of a
second each for Alembic and openpyxl, until the ninth session). Since the tenth, a command's
module is imported only when it runs: `vakstem --help` imports none, and SQLAlchemy only with a
command that needs it. The lazy command line must say and do what registering every module
would."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

import vakstem.commands
from vakstem import cli
from vakstem.analysis.plan import STEPS, PlanOptions
from vakstem.commands import analyse

HEAVY = (
    "scipy.stats",
    "statsmodels",
    "matplotlib",
    "uvicorn",
    "fastapi",
    "vakstem.analysis.plan",
    "vakstem.analysis.sem.api",
    "vakstem.analysis.report",
    "vakstem.web.app",
    "vakstem.export.api",
    "pandas",
    "vakstem.simulate",
    "vakstem.feedback.data",
    # Migrations (a database at the newest revision opens without them) and workbooks.
    "alembic",
    "openpyxl",
    # Only the commands that run (tenth session): the store, the accounts, the expressions.
    "sqlalchemy",
    "vakstem.commands.users",
    "vakstem.service.accounts",
    "lark",
)


def test_the_command_line_imports_no_analysis_or_web_server() -> None:
    code = (
        "import json, sys; import vakstem.cli; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_analyse_command_repeats_the_plans_defaults() -> None:
    assert PlanOptions().seed == analyse.DEFAULT_SEED
    assert analyse.STEPS == STEPS
    assert tuple(analyse.STEP_TITLES) == STEPS


def _eager() -> typer.Typer:
    """The command line as it was before it was lazy: every module imported and registered."""
    app = typer.Typer(name="vakstem", help=cli.HELP, no_args_is_help=True, add_completion=False)
    app.callback()(lambda: None)
    for register, _line in cli.COMMANDS.values():
        for name in cli.COMMANDS:
            if cli.COMMANDS[name][0] is register:
                register(app, name)
                break
    return app


def _help(app: typer.Typer, *args: str) -> str:
    done = CliRunner().invoke(app, [*args, "--help"], terminal_width=100)
    assert done.exit_code == 0, done.output
    return done.output


def test_the_lazy_command_line_lists_what_every_module_registers() -> None:
    eager = typer.main.get_group(_eager())
    names = eager.list_commands(typer.Context(eager))
    # Every command the modules register is named, in the same order, with its own line.
    assert names == list(cli.COMMANDS)
    assert _help(cli.app) == _help(_eager())


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_lazy_command_is_the_registered_one(name: str) -> None:
    assert _help(cli.app, name) == _help(_eager(), name)
    loaded = cli.load_command(name)
    assert loaded.name == name
    # The first paragraph of its help is the line `vakstem --help` shows.
    assert (loaded.help or "").split("\n\n")[0].strip() == cli.COMMANDS[name][1]


_RUN = """
import sys
from vakstem import cli
sys.argv = ["vakstem", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print("MODULES", " ".join(m for m in sys.modules if m.startswith("vakstem.commands.")))
"""


def test_a_command_imports_its_own_module_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, "codebook", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = done.stdout.rsplit("MODULES", 1)[1].split()
    assert modules == ["vakstem.commands.codebook"]
    assert "Write the codebook of a study" in done.stdout


def test_an_unknown_command_is_named_in_the_error() -> None:
    done = CliRunner().invoke(cli.app, ["exprot"])
    assert done.exit_code == 2
    assert "No such command 'exprot'" in done.output


_ALL = """
import sys
from vakstem import cli
for name in cli.COMMANDS:
    cli.load_command(name)
print(" ".join(sorted(m for m in sys.modules if m.startswith("vakstem.commands."))))
"""


def test_every_command_module_is_on_the_command_line() -> None:
    # A new module under vakstem/commands/ that no entry of `COMMANDS` loads would never run.
    modules = sorted(
        f"vakstem.commands.{m.name}" for m in pkgutil.iter_modules(vakstem.commands.__path__)
    )
    done = subprocess.run([sys.executable, "-c", _ALL], capture_output=True, text=True, check=True)
    assert done.stdout.split() == modules
