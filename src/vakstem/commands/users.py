"""`vakstem user add|passwd|list|member`: researcher accounts from the command line.

Used to create the first account of a deployment (the console has no sign-up page) and to set a
password when nobody can log in any more. Passwords are prompted (hidden, asked twice) or read
from standard input with `--password-stdin`, never taken as an argument, so they do not end up
in the shell history or the process list.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from vakstem.service.accounts import AccountError, Accounts, Policy, Role
from vakstem.service.audit import Actor
from vakstem.service.types import DomainError
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.accounts import users
from vakstem.store.studies import get_study, list_studies

app = typer.Typer(help="Researcher accounts of the console.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


def _accounts() -> Accounts:
    settings = Settings()
    try:
        engine = open_database(settings.resolved_database_url())
    except DatabaseError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return Accounts(engine, Policy.from_settings(settings))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # Only the first line: `echo secret | vakstem user add ...` must not keep the newline.
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            err.print("[red]error:[/red] no password on standard input")
            raise typer.Exit(2)
        return password
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


def _fail(exc: DomainError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.detail}")
    return typer.Exit(1)


DEMO_EMAIL = "demo@vakstem.example"


def _demo_password(engine: Engine, user_id: int) -> str:
    """The demo account's password, derived from when it was made: the same on every run of
    `vakstem demo` on one database (so the printed login stays valid), different per database."""
    with engine.connect() as conn:
        created = conn.execute(
            sa.select(users.c.created_at).where(users.c.id == user_id)
        ).scalar_one()
    digest = hashlib.sha256(f"vakstem-demo|{user_id}|{created.isoformat()}".encode()).digest()
    return base64.urlsafe_b64encode(digest)[:16].decode()


def prepare_demo_researcher(engine: Engine, *, base_url: str) -> list[str]:
    """Make the demo researcher (once) and make it owner of every study in the database;
    returns the lines that tell how to log in (the same on every run)."""
    accounts = Accounts(engine)
    actor = Actor.system("demo")
    user = accounts.find(DEMO_EMAIL)
    if user is None:
        user = accounts.create_user(
            DEMO_EMAIL, "Demo-onderzoeker", secrets.token_urlsafe(24), actor=actor
        )
        accounts.set_password(DEMO_EMAIL, _demo_password(engine, user.id), actor=actor)
    for listing in list_studies(engine):
        if accounts.role(user, listing.study_id) is None:
            accounts.set_member(listing.study_id, DEMO_EMAIL, Role.OWNER, actor=actor)
    password = _demo_password(engine, user.id)
    shown = (
        password
        if accounts.check_password(user, password)
        else f"(changed; set a new one with: vakstem user passwd {DEMO_EMAIL})"
    )
    return [
        f"Researcher console: {base_url}/console/login",
        f"  email {DEMO_EMAIL}  password {shown}",
    ]


@app.command("add")
def add(
    email: str = typer.Argument(..., help="Login email address."),
    name: str = typer.Option(..., "--name", help="Full name shown in the console."),
    admin: bool = typer.Option(False, "--admin", help="Administrator: sees every study."),
    institution: str | None = typer.Option(None, "--institution", help="Institution name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a researcher account."""
    password = _read_password(password_stdin)
    accounts = _accounts()
    try:
        user = accounts.create_user(email, name, password, is_admin=admin, institution=institution)
    except AccountError as exc:
        raise _fail(exc) from None
    finally:
        accounts.engine.dispose()
    role = "administrator" if user.is_admin else "researcher"
    out.print(f"Created {role} account {user.email} ({user.name}).")


@app.command("passwd")
def passwd(
    email: str = typer.Argument(..., help="Login email address."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Set a new password for an account (also lifts a lock-out and ends its sessions)."""
    password = _read_password(password_stdin)
    accounts = _accounts()
    try:
        accounts.set_password(email, password)
    except AccountError as exc:
        raise _fail(exc) from None
    finally:
        accounts.engine.dispose()
    out.print(f"Password of {email.strip().lower()} changed.")


@app.command("member")
def member(
    study: str = typer.Argument(..., help="Study id."),
    email: str = typer.Argument(..., help="Email of an existing account."),
    role: Role = typer.Option(Role.OWNER, "--role", help="owner, researcher or viewer."),
) -> None:
    """Give an account a role on a study (the first owner of a study is set this way)."""
    accounts = _accounts()
    try:
        get_study(accounts.engine, study)
        accounts.set_member(study, email, role, actor=Actor.system())
    except DomainError as exc:
        raise _fail(exc) from None
    finally:
        accounts.engine.dispose()
    out.print(f"{email.strip().lower()} is now {role.value} of {study}.")


@app.command("list")
def list_users() -> None:
    """List the accounts with their studies and roles."""
    accounts = _accounts()
    try:
        table = Table("email", "name", "admin", "2FA", "studies")
        with accounts.engine.connect() as conn:
            rows = conn.execute(users.select().order_by(users.c.email)).all()
        for row in rows:
            user = accounts.get(row.id)
            assert user is not None
            roles = accounts.studies_of(user)
            table.add_row(
                user.email,
                user.name,
                "yes" if user.is_admin else "",
                "yes" if user.totp_enabled else "",
                ", ".join(f"{s} ({r.value})" for s, r in roles.items()),
            )
        out.print(table)
    finally:
        accounts.engine.dispose()
