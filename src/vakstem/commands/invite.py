"""`vakstem invite|remind|bounce|purge-contacts|links|quota`: reaching respondents from the
command line — personal invitations and reminders by email, anonymous links with QR codes per
source, quotas. `register(app)` adds them to the `vakstem` command (each is named in
`cli.COMMANDS`).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import Engine

from vakstem.service import invitations as inv
from vakstem.service import links, quotas
from vakstem.service.invitations import CsvRejected, Kind, SendReport
from vakstem.service.mailer import MailServerError
from vakstem.service.types import DomainError
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.studies import get_study


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    return typer.Exit(1)


def _engine(console: Console, settings: Settings) -> Engine:
    try:
        return open_database(settings.resolved_database_url())
    except DatabaseError as exc:
        raise _fail(console, str(exc)) from None


def _send(
    console: Console, settings: Settings, engine: Engine, study: str, kind: Kind, round_: int
) -> None:
    label = "invitations" if kind is Kind.INVITATION else f"reminder {round_}"
    with Progress(
        TextColumn(f"sending {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = inv.send(engine, settings, study, kind, round_=round_, progress=progress)
        except MailServerError as exc:
            raise _fail(console, str(exc)) from None
    _print_report(console, report, label)


def _print_report(console: Console, report: SendReport, label: str) -> None:
    if report.due == 0:
        console.print(f"no {label} due: everyone has had it, or is not to be sent one")
        return
    console.print(f"{label}: sent {report.sent} of {report.due}", highlight=False)
    for email, reason in report.refused:
        console.print(
            f"[yellow]refused[/yellow] {escape(email)}: {escape(reason)}", highlight=False
        )
    if report.stopped:
        raise _fail(console, report.stopped)


def invite(
    study: str = typer.Argument(..., help="The study id."),
    csv_file: Path | None = typer.Option(
        None, "--csv", help="CSV with column email, optional organisatie and language (UTF-8)."
    ),
    send: bool = typer.Option(True, "--send/--no-send", help="Send the invitations now."),
) -> None:
    """Import invitees from a CSV (all rows or none) and send the invitations not sent yet.
    Without --csv: send what is still due (after an interrupted batch)."""
    console = Console(soft_wrap=True)
    settings = Settings()
    engine = _engine(console, settings)
    try:
        if csv_file is not None:
            try:
                data = csv_file.read_bytes()
            except OSError as exc:
                raise _fail(console, f"cannot read {csv_file}: {exc.strerror}") from None
            try:
                count = inv.import_csv(engine, settings, study, data)
            except CsvRejected as exc:
                for row in exc.rows:
                    console.print(f"[red]{escape(str(row))}[/red]", highlight=False)
                raise _fail(console, f"{csv_file}: {exc.detail}") from None
            console.print(f"imported {count} invitee(s) into {escape(study)}", highlight=False)
        if send:
            _send(console, settings, engine, study, Kind.INVITATION, 1)
    except DomainError as exc:
        raise _fail(console, exc.detail) from None
    finally:
        engine.dispose()


def remind(
    study: str = typer.Argument(..., help="The study id."),
    round_: int = typer.Option(1, "--round", min=1, help="Which reminder: 1 for the first."),
) -> None:
    """Send reminder N to invitees who have had the invitation (and reminders before N), and
    have not completed, declined or bounced. Nobody gets the same reminder twice."""
    console = Console(soft_wrap=True)
    settings = Settings()
    engine = _engine(console, settings)
    try:
        _send(console, settings, engine, study, Kind.REMINDER, round_)
    except DomainError as exc:
        raise _fail(console, exc.detail) from None
    finally:
        engine.dispose()


def bounce(
    study: str = typer.Argument(..., help="The study id."),
    email: str = typer.Argument(..., help="The address that bounced."),
    reason: str = typer.Option("bounced", help="What the mail provider said."),
) -> None:
    """Record a bounce reported later: no more messages to this address."""
    console = Console(soft_wrap=True)
    engine = _engine(console, Settings())
    try:
        if not inv.record_bounce(engine, study, email, reason):
            raise _fail(console, f"{email} is not an invitee of {study}")
    finally:
        engine.dispose()
    console.print(f"recorded the bounce of {escape(email)}", highlight=False)


def purge_contacts(
    study: str | None = typer.Argument(None, help="The study id."),
    expired: bool = typer.Option(
        False, "--expired", help="Instead: every study closed longer than the retention time."
    ),
) -> None:
    """Delete the email addresses and organisations of a study's invitees (links stop working)."""
    console = Console(soft_wrap=True)
    settings = Settings()
    if (study is None) == (not expired):
        raise _fail(console, "name a study, or use --expired (not both)")
    engine = _engine(console, settings)
    try:
        if expired:
            done = inv.purge_expired(engine, settings.contact_retention_days)
            console.print(f"purged the contacts of: {', '.join(done) or 'no study'}")
            return
        assert study is not None
        count = inv.purge_contacts(engine, study)
    except DomainError as exc:
        raise _fail(console, exc.detail) from None
    finally:
        engine.dispose()
    console.print(f"deleted the contact data of {count} invitee(s) of {escape(study)}")


def links_command(
    study: str = typer.Argument(..., help="The study id."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the QR codes (SVG and PNG)."),
    add: list[str] = typer.Option([], "--add", help="Define a source tag (repeatable)."),
    remove: list[str] = typer.Option([], "--remove", help="Forget a database tag."),
) -> None:
    """Print each source's link with its opens, starts and completes; write QR codes."""
    console = Console(soft_wrap=True)
    settings = Settings()
    engine = _engine(console, settings)
    try:
        get_study(engine, study)
        for tag in add:
            links.add_tag(engine, study, tag)
        for tag in remove:
            links.remove_tag(engine, study, tag)
        counts = links.source_counts(engine, study)
        if out is not None:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _fail(console, f"cannot create {out}: {exc.strerror}") from None
        table = Table("source", "link", "opens", "starts", "completes")
        for count in counts:
            if count.source == links.INVITATION_SOURCE:
                table.add_row(
                    count.source, "(personal links)", "", str(count.starts), str(count.completes)
                )
                continue
            url = links.link_url(settings.public_url, study, count.source or None)
            table.add_row(
                count.source or "(no tag)",
                url,
                str(count.opens),
                str(count.starts),
                str(count.completes),
            )
            if out is not None:
                name = f"{study}-{count.source or 'link'}"
                (out / f"{name}.svg").write_text(links.qr_svg(url), encoding="utf-8")
                (out / f"{name}.png").write_bytes(links.qr_png(url))
    except DomainError as exc:
        raise _fail(console, exc.detail) from None
    finally:
        engine.dispose()
    console.print(table)
    if out is not None:
        console.print(f"QR codes written to {escape(str(out))}", highlight=False)


def quota_command(
    study: str = typer.Argument(..., help="The study id."),
    name: str | None = typer.Argument(None, help="Quota name (to add or change)."),
    max_completes: int | None = typer.Argument(None, help="Completes at which it closes."),
    source: list[str] = typer.Option([], "--source", help="Source tag of the group (repeatable)."),
    hold: int = typer.Option(
        0, "--hold", help="Minutes an unfinished response keeps its place (default: setting)."
    ),
    remove: bool = typer.Option(False, "--remove", help="Remove the named quota."),
    variable: str | None = typer.Option(
        None, "--variable", help="Quota on an answer: the single-choice question (with --value)."
    ),
    value: str | None = typer.Option(
        None, "--value", help="The answer code of the group (with --variable)."
    ),
) -> None:
    """List a study's quotas, or add, change or remove one."""
    console = Console(soft_wrap=True)
    settings = Settings()
    engine = _engine(console, settings)
    try:
        if name is not None and remove:
            if not quotas.remove_quota(engine, study, name):
                raise _fail(console, f"{study} has no quota {name!r}")
        elif name is not None:
            if max_completes is None:
                raise _fail(console, "give the number of completes after the quota name")
            quotas.set_quota(
                engine,
                study,
                name,
                max_completes,
                sources=source or None,
                hold_minutes=hold or settings.quota_hold_minutes,
                variable=variable,
                value=value,
            )
        get_study(engine, study)
        table = Table("quota", "group", "completes", "running", "max", "status")
        for q in quotas.list_quotas(engine, study):
            if q.variable is not None:
                group = f"{q.variable} = {q.value}"
            else:
                group = ", ".join(q.sources) if q.sources is not None else "(all)"
            table.add_row(
                q.name,
                group,
                str(q.completes),
                str(q.running),
                str(q.max_completes),
                "full" if q.full else "open",
            )
    except DomainError as exc:
        raise _fail(console, exc.detail) from None
    finally:
        engine.dispose()
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("invite")(invite)
    app.command("remind")(remind)
    app.command("bounce")(bounce)
    app.command("purge-contacts")(purge_contacts)
    app.command("links")(links_command)
    app.command("quota")(quota_command)
