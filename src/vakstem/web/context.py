"""What every web route needs, built once per app by `create_app` and passed in (no globals):
settings, the database engine, the respondent service, the interface catalogues, the template
environment, and the CSRF key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse

from vakstem.instrument.schema import Study
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseState
from vakstem.settings import Settings
from vakstem.web.database_calls import DatabaseCalls, default_mode
from vakstem.web.i18n import Catalogues
from vakstem.web.jinja import make_environment, render_template
from vakstem.web.privacy_routes import privacy_path

#: Interface languages and how each names itself in the switch.
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    service: ResponseService
    catalogues: Catalogues = field(default_factory=Catalogues)
    csrf_key: bytes = b""
    #: Extra HTML on the closing page of a completed response (the personal mirror), called in
    #: a worker thread with the state, the page language and the site's base URL; installed by
    #: `vakstem.web.feedback_routes`.
    closing_section: Callable[[ResponseState, str, str], Markup] | None = None
    #: Short database work when a completed response's closing page is shown (the invitation
    #: marked completed, installed by `vakstem.web.reach_routes`), each called with the state
    #: through `db.in_pool`: in the pool, under the cap on connections in use.
    completion_hooks: list[Callable[[ResponseState], object]] = field(default_factory=list)
    #: Work done once in a background thread when the server starts (`create_app`'s
    #: lifespan), such as the mirror's first scoring of every completed response; each stops
    #: early once the event is set (the server is shutting down).
    warmups: list[Callable[[threading.Event], None]] = field(default_factory=list)
    env: Environment = field(init=False)
    #: Calls the respondent pages' short database work, inline or in the thread pool.
    db: DatabaseCalls = field(init=False)

    def __post_init__(self) -> None:
        if not self.csrf_key:
            # Without a configured key a per-process one still protects forms; pages open at a
            # restart are shown again with a message, nothing is lost.
            secret = self.settings.secret_key or self.settings.run_key
            self.csrf_key = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        self.env = make_environment()
        self.db = DatabaseCalls(
            self.settings.database_calls or default_mode(self.engine), self.engine
        )

    def csrf_token(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self.csrf_key, message, hashlib.sha256).hexdigest()

    def csrf_ok(self, token: str | None, *parts: str) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(*parts))

    def study_language(self, requested: str | None, study: Study) -> str:
        """The page language: the one asked for when the study and the interface both have it,
        else the study's default, else the interface's."""
        languages = self.catalogues.languages
        if requested and requested in study.languages and requested in languages:
            return requested
        if study.default_language in languages:
            return study.default_language
        return self.catalogues.default

    def language_switch(
        self, request: Request, current: str, languages: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        """Links to the same page in each language the study offers (and the interface has)."""
        options = []
        for code in languages:
            if code not in LANGUAGE_NAMES:
                continue
            params = dict(request.query_params)
            params["lang"] = code
            query = urlencode({k: v for k, v in params.items() if k in {"lang", "bron"}})
            options.append(
                {
                    "code": code,
                    "label": LANGUAGE_NAMES[code],
                    "current": code == current,
                    "url": f"{request.url.path}?{query}",
                }
            )
        return options if len(options) > 1 else []

    def render(
        self,
        name: str,
        *,
        language: str,
        status_code: int = 200,
        study: Study | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page in `language`; with the `study` it belongs to, the footer links to the study's
        privacy statement."""
        if study is not None:
            context.setdefault(
                "privacy_url", privacy_path(study, self.catalogues.language(language))
            )
        html = render_template(self.env, self.catalogues, name, language=language, **context)
        return HTMLResponse(html, status_code=status_code)

    def message_page(
        self,
        *,
        language: str,
        heading: str,
        paragraphs: list[str] | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        context.setdefault("page_title", heading)
        context.setdefault("body_text", "")
        context.setdefault("link_url", "")
        context.setdefault("link_label", "")
        return self.render(
            "message.html",
            language=language,
            status_code=status_code,
            heading=heading,
            paragraphs=paragraphs or [],
            **context,
        )
