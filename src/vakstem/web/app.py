"""The FastAPI application of the respondent side: `create_app(settings, engine)`.

Everything is passed in: no module-level settings, engines or services. `vakstem serve` with
several workers builds the app through `create_app_from_env` (a factory uvicorn imports).
"""

from __future__ import annotations

import gc
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.web import (
    api,
    console,
    feedback_routes,
    privacy_routes,
    reach_routes,
    respondent,
    withdraw_routes,
)
from vakstem.web.console.reach import MAX_CSV_BYTES
from vakstem.web.context import WebContext
from vakstem.web.errors import install_error_handlers, request_error_response
from vakstem.web.guard import GuardMiddleware, RouteLimit
from vakstem.web.head import HeadAsGetMiddleware
from vakstem.web.i18n import Catalogues
from vakstem.web.jinja import STATIC_DIR
from vakstem.web.security import RateLimiter, RateLimitMiddleware
from vakstem.web.static_files import CompressedStaticFiles


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The web app for one deployment; opens (and migrates) the database when no engine is given."""
    if engine is None:
        engine = open_database(
            settings.resolved_database_url(), connections=settings.database_connections
        )
    web = WebContext(
        settings=settings,
        engine=engine,
        service=ResponseService(engine),
        catalogues=Catalogues(default=settings.default_language),
    )
    app = FastAPI(
        lifespan=_warm_up_lifespan(web),
        title="Vakstem respondent API",
        version="1",
        description="Fill in a Vakstem questionnaire: start a response, fetch and submit pages, "
        "resume with the code. Authenticate with `Authorization: Bearer <resume_code>`.",
        # The interactive docs load scripts from a CDN, which our CSP (rightly) forbids.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        # FastAPI records request spans, metrics and logs by itself once a deployment sets an
        # OpenTelemetry provider, with each URL: a respondent's URL holds the resume code that
        # opens their answers. Off, whatever the environment (tests/web/test_no_telemetry.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.web = web
    app.include_router(respondent.build_router(web))
    app.include_router(api.build_router(web))
    feedback_routes.install(app, web)
    app.include_router(console.build_router(web))
    reach_routes.install(app, web)
    withdraw_routes.install(app, web)
    privacy_routes.install(app, web)
    app.mount("/static", CompressedStaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(RateLimitMiddleware, limiter=RateLimiter(shared=settings.rate_limit_table))
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        on_error=lambda scope, status, key: request_error_response(web, scope, status, key),
        behind_tls=settings.behind_tls,
        route_limits=upload_limits(settings),
    )
    install_error_handlers(app, web)
    return app


#: Seconds a stopping server waits for the start-up work to notice it should stop.
WARM_UP_JOIN_S = 5.0

_log = logging.getLogger(__name__)


def _run_warmups(warmups: list[Callable[[threading.Event], None]], stop: threading.Event) -> None:
    for warmup in warmups:
        if stop.is_set():
            return
        try:
            warmup(stop)
        except Exception:  # start-up work only saves time later; never fatal
            _log.warning("start-up work %r failed", warmup, exc_info=True)


def _warm_up_lifespan(web: WebContext) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start `web.warmups` in a background thread when the server starts (so requests are
    served meanwhile), and let it stop, or wait briefly for it, when the server stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = threading.Thread(
            target=_run_warmups, args=(web.warmups, stop), name="vakstem-warm-up", daemon=True
        )
        app.state.warm_up = thread
        thread.start()
        try:
            yield
        finally:
            stop.set()
            await anyio.to_thread.run_sync(thread.join, WARM_UP_JOIN_S)

    return lifespan


def upload_limits(settings: Settings) -> tuple[RouteLimit, ...]:
    """The routes that take a file get the file's own limit instead of the 64 KB form limit."""
    return (
        (re.compile(r"/console/studies/[^/]+/versions"), settings.max_upload_bytes),
        (re.compile(r"/console/studies/[^/]+/reach/invitations"), MAX_CSV_BYTES),
    )


def serving_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The app as a server process runs it: `create_app`, after which everything made so far
    (modules, templates, the app) is moved out of the garbage collector's sight.

    Without this each full collection walked every object of the process: pauses of about
    100 ms a few times a minute under load, stalling every request of that worker (and every
    writer, when the paused one held the write lock); frozen, the longest was 6 ms. Not done
    in `create_app` itself, which tests call many times in one process."""
    app = create_app(settings, engine)
    gc.collect()
    gc.freeze()
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several workers): settings from `VAKSTEM_*` variables."""
    return serving_app(Settings())
