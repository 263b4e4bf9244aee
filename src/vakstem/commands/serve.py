"""`vakstem serve` (the web app under uvicorn) and `vakstem demo` (load and open the shipped
studies, print their links, serve them).

`prepare_demo` is the seam other parts extend: it returns the lines the demo prints, so adding
simulated responses or a console login is a change there, not in the command.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.engine import Engine

import vakstem
from vakstem.commands.users import prepare_demo_researcher
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.problems import StudyFileError
from vakstem.instrument.schema import text_in
from vakstem.settings import Settings
from vakstem.store import DatabaseError, open_database
from vakstem.store.studies import StudyStatus, get_study, load_study, set_status

# uvicorn, the web app and the simulator are imported when a command needs them: every
# `vakstem` command imports this module.

STUDIES_DIR = Path(vakstem.__file__).parent / "studies"
FACTORY = "vakstem.web.app:create_app_from_env"
#: Environment variable of `Settings.run_key`.
RUN_KEY_ENV = "VAKSTEM_RUN_KEY"
#: uvicorn's event loop and HTTP parser, named so a missing one fails at start instead of
#: falling back unnoticed. asyncio's own loop leaves Nagle's algorithm on for connections
#: accepted from the socket uvicorn binds for several workers (created with protocol 0, which
#: asyncio does not recognise as TCP), so a response written in two parts waited for the
#: client's delayed ACK: 40 ms for about one request in forty. uvloop sets TCP_NODELAY on every
#: connection (tests/web/test_server_sockets.py); httptools parses requests in C.
SERVER_LOOP = "asyncio" if sys.platform == "win32" else "uvloop"
SERVER_HTTP = "httptools"


def shipped_studies() -> list[Path]:
    """The study files shipped with Vakstem (`studies/*/study.yaml`), in name order."""
    return sorted(STUDIES_DIR.glob("*/study.yaml"))


def prepare_demo(
    engine: Engine, settings: Settings, *, base_url: str = "http://127.0.0.1:8000"
) -> list[str]:
    """Load every shipped study, open it for responses, and return the lines to print.

    Safe to run again on the same database: an unchanged study keeps its version, an open
    study stays open. A study file with problems is reported and skipped, not fatal.
    """
    lines: list[str] = []
    for path in shipped_studies():
        try:
            study = load_study_file(path)
        except StudyFileError as exc:
            lines.append(f"Skipped {path.parent.name}: {len(exc.problems)} problem(s) in {path}")
            lines.extend(f"  {problem}" for problem in exc.problems[:5])
            continue
        load_study(engine, study, path.read_text(encoding="utf-8"))
        status = get_study(engine, study.id).status
        if status in {StudyStatus.DRAFT, StudyStatus.CLOSED}:
            set_status(engine, study.id, StudyStatus.OPEN)
        elif status is StudyStatus.ARCHIVED:
            lines.append(f"Skipped {study.id}: it is archived in this database")
            continue
        title = text_in(study.title, settings.default_language, study.default_language)
        lines.append(f"{title}: {base_url}/s/{study.id}")
    from vakstem.simulate import simulate_demo

    lines.extend(simulate_demo(engine, settings.data_dir, n=settings.demo_responses))
    lines.extend(prepare_demo_researcher(engine, base_url=base_url))
    return lines


def _open(console: Console, settings: Settings) -> Engine:
    try:
        return open_database(
            settings.resolved_database_url(), connections=settings.database_connections
        )
    except DatabaseError as exc:
        console.print(f"[red]Cannot open the database:[/red] {exc}")
        raise typer.Exit(1) from None


#: uvicorn's access log stays off: each line holds the client's address and the request path,
#: and a respondent's path holds the resume code (the key to the answers). It also costs CPU.
ACCESS_LOG = False


def _forwarded_allow_ips(settings: Settings) -> str | None:
    """Behind a TLS-terminating proxy, trust its X-Forwarded-* headers so that links shown to
    respondents (the resume link) carry https and the public host; otherwise uvicorn's default
    (only a proxy on 127.0.0.1)."""
    return "*" if settings.behind_tls else None


def _workers_skip_the_command_line() -> None:
    """uvicorn starts workers with multiprocessing's spawn, which re-imports the parent's main
    module in each child: for the `vakstem` script that is the whole command line with pandas,
    scipy and matplotlib, seconds of CPU per worker before it can answer (on a busy machine
    longer than the supervisor's health check). A worker needs only the app factory, so the
    script is not handed on."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None:
        main.__dict__.pop("__file__", None)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: all)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Serve the respondent pages and API (database from VAKSTEM_DATABASE_URL)."""
    import uvicorn

    from vakstem.web.app import serving_app
    from vakstem.web.rate_table import TABLE_ENV, create_shared_table

    console = Console()
    settings = Settings()
    if workers > 1:
        # Each worker process builds its own app (and engine) from the environment.
        _open(console, settings).dispose()  # migrate once, before the workers start
        # One rate-limit table for all workers (they inherit the environment), so a client gets
        # each limit once, not once per worker.
        table = create_shared_table()
        if table is not None:
            os.environ[TABLE_ENV] = table
        if not settings.secret_key:
            # Without it every worker would draw its own form-token key, and a page shown by
            # one worker would come back "expired" from another.
            os.environ[RUN_KEY_ENV] = secrets.token_hex(32)
        _workers_skip_the_command_line()
        # A worker must answer the supervisor's health check while it imports the app; on a
        # busy machine that takes longer than uvicorn's 5 s default and workers get killed.
        uvicorn.run(
            FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_worker_healthcheck=60,
            forwarded_allow_ips=_forwarded_allow_ips(settings),
            access_log=ACCESS_LOG,
            loop=SERVER_LOOP,
            http=SERVER_HTTP,
        )
        return
    uvicorn.run(
        serving_app(settings, _open(console, settings)),
        host=host,
        port=port,
        forwarded_allow_ips=_forwarded_allow_ips(settings),
        access_log=ACCESS_LOG,
        loop=SERVER_LOOP,
        http=SERVER_HTTP,
    )


def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
) -> None:
    """Load and open the shipped studies, print their links, and serve them."""
    import uvicorn

    from vakstem.web.app import serving_app

    console = Console()
    settings = Settings()
    engine = _open(console, settings)
    shown_host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    # Never print a database password.
    console.print(f"Database: {engine.url.render_as_string(hide_password=True)}")
    for line in prepare_demo(engine, settings, base_url=f"http://{shown_host}:{port}"):
        console.print(line, highlight=False, soft_wrap=True)
    console.print("Stop with Ctrl+C.")
    uvicorn.run(
        serving_app(settings, engine),
        host=host,
        port=port,
        access_log=ACCESS_LOG,
        loop=SERVER_LOOP,
        http=SERVER_HTTP,
    )
