"""The `vakstem` command. Each area's commands live in `vakstem.commands.<area>`; this module only
names them, with the line `vakstem --help` shows for each. A command's module is imported when
that command runs (or its own help is asked for), so `vakstem --help` imports none of them and a
command only its own: importing every module took a second, SQLAlchemy and the account, study
and invitation services included, before any command could start.

Adding a command is one entry in `COMMANDS`; tests/test_cli_startup.py checks that the entries
give the same commands, help and order as registering every module would.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

#: Adds one command (or several, of which the caller keeps the one it asked for) to a Typer app.
Register = Callable[[typer.Typer, str], None]


def _command(module: str, function: str) -> Register:
    def register(app: typer.Typer, name: str) -> None:
        app.command(name)(getattr(import_module(module), function))

    return register


def _group(module: str, attribute: str, *extending: str) -> Register:
    """A group of commands; `extending` modules add commands to it when imported."""

    def register(app: typer.Typer, name: str) -> None:
        group = getattr(import_module(module), attribute)
        for other in extending:
            import_module(other)
        app.add_typer(group, name=name)

    return register


def _registered_by(module: str) -> Register:
    """One of the commands a module's `register(app)` adds."""

    def register(app: typer.Typer, name: str) -> None:
        import_module(module).register(app)

    return register


_INVITE = _registered_by("vakstem.commands.invite")
_MAINTENANCE = _registered_by("vakstem.commands.maintenance")

#: Every command in the order `vakstem --help` lists them: how to add it, and its line there
#: (the first paragraph of its help).
COMMANDS: dict[str, tuple[Register, str]] = {
    "export": (
        _command("vakstem.commands.export", "export"),
        "Export a study's responses with labels, missing-value codes and a manifest.",
    ),
    "codebook": (
        _command("vakstem.commands.codebook", "codebook"),
        "Write the codebook of a study: every variable with its label, codes and condition.",
    ),
    "fit": (
        _command("vakstem.commands.fit", "fit"),
        "Fit a lavaan-syntax model (CFA/SEM) and print a summary laid out like lavaan's.",
    ),
    "serve": (
        _command("vakstem.commands.serve", "serve"),
        "Serve the respondent pages and API (database from VAKSTEM_DATABASE_URL).",
    ),
    "demo": (
        _command("vakstem.commands.serve", "demo"),
        "Load and open the shipped studies, print their links, and serve them.",
    ),
    "simulate": (
        _command("vakstem.commands.simulate", "simulate_command"),
        "Simulate respondents of a study through the respondent service, with realistic mess.",
    ),
    "analyse": (
        _command("vakstem.commands.analyse", "analyse"),
        "Run the study's declared analysis plan and write the report (and JSON).",
    ),
    "invite": (
        _INVITE,
        "Import invitees from a CSV (all rows or none) and send the invitations not sent yet.\n"
        "Without --csv: send what is still due (after an interrupted batch).",
    ),
    "remind": (
        _INVITE,
        "Send reminder N to invitees who have had the invitation (and reminders before N), and\n"
        "have not completed, declined or bounced. Nobody gets the same reminder twice.",
    ),
    "bounce": (_INVITE, "Record a bounce reported later: no more messages to this address."),
    "purge-contacts": (
        _INVITE,
        "Delete the email addresses and organisations of a study's invitees (links stop working).",
    ),
    "links": (
        _INVITE,
        "Print each source's link with its opens, starts and completes; write QR codes.",
    ),
    "quota": (_INVITE, "List a study's quotas, or add, change or remove one."),
    "backup": (
        _MAINTENANCE,
        "Copy the database to a file while it serves (SQLite), or run pg_dump (PostgreSQL).",
    ),
    "restore": (
        _MAINTENANCE,
        "Replace the database with a backup, then bring it to the newest schema.",
    ),
    "purge": (
        _MAINTENANCE,
        "Delete data past its retention: test responses, stale unfinished ones, contact data.",
    ),
    "user": (_group("vakstem.commands.users", "app"), "Researcher accounts of the console."),
    "study": (
        _group(
            "vakstem.commands.study",
            "study_app",
            "vakstem.commands.study_store",  # load, list, open, close
            "vakstem.commands.xlsform",  # import, export-xlsform
        ),
        "Check, load and manage study files.",
    ),
    "report": (
        _group("vakstem.commands.report", "app"),
        "Feedback reports: organisation benchmarks and the public summary.",
    ),
}

HELP = "Vakstem: survey research among professionals."


# Typer's own copy of click (typer._click) has no public names for its types: its commands,
# contexts and help formatters are typed `Any` here.


def load_command(name: str) -> Any:
    """The click command `name` as Typer makes it, its module imported now."""
    register, _line = COMMANDS[name]
    app = typer.Typer(add_completion=False)
    register(app, name)
    group = typer.main.get_group(app)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """The top-level group: lists `COMMANDS` from their lines, loads one when it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, Any] = {}
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            # Only its line is shown: no need to import the command.
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])
        found = self._loaded.get(cmd_name)
        if found is None:
            found = self._loaded[cmd_name] = load_command(cmd_name)
        return found

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="vakstem",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    cls=LazyGroup,
)


@app.callback()
def _main() -> None:
    # A callback makes Typer build a group, whose commands `LazyGroup` supplies.
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
