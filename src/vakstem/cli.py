"""The `vakstem` command. Each area's commands live in `vakstem.commands.<area>`; this module
only registers them, so adding a command group is one new module and one line here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vakstem",
    help="Vakstem: survey research among professionals.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(__import__("vakstem.commands.users").commands.users.app, name="user")
app.command("export")(__import__("vakstem.commands.export").commands.export.export)
app.command("codebook")(__import__("vakstem.commands.codebook").commands.codebook.codebook)
app.add_typer(__import__("vakstem.commands.study").commands.study.study_app, name="study")
app.add_typer(__import__("vakstem.commands.report").commands.report.app, name="report")
app.command("fit")(__import__("vakstem.commands.fit").commands.fit.fit)
__import__("vakstem.commands.study_store")  # adds study load/list/open/close to study_app
__import__("vakstem.commands.xlsform")  # adds study import/export-xlsform to study_app
app.command("serve")(__import__("vakstem.commands.serve").commands.serve.serve)
app.command("demo")(__import__("vakstem.commands.serve").commands.serve.demo)
app.command("simulate")(__import__("vakstem.commands.simulate").commands.simulate.simulate_command)
app.command("analyse")(__import__("vakstem.commands.analyse").commands.analyse.analyse)
__import__("vakstem.commands.invite").commands.invite.register(app)  # invite, remind, links…
__import__("vakstem.commands.maintenance").commands.maintenance.register(app)  # backup, restore…


def main() -> None:
    app()


if __name__ == "__main__":
    main()
