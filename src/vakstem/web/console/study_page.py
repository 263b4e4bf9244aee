"""The HTML response of a console page about one study: the shared layout's context (who is
logged in, the session's CSRF token, the roles the menu checks, the language switch, the
study's title) around the page's own, never cached."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from vakstem.instrument.schema import text_in
from vakstem.service.accounts import Role
from vakstem.web.console.auth import ConsoleAuth, StudyAccess
from vakstem.web.console.i18n import ConsoleCatalogues
from vakstem.web.context import WebContext
from vakstem.web.jinja import render_template


def study_page(
    web: WebContext,
    auth: ConsoleAuth,
    catalogues: ConsoleCatalogues,
    request: Request,
    access: StudyAccess,
    template: str,
    language: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    title = text_in(access.stored.study.title, language)
    html = render_template(
        web.env,
        catalogues,
        template,
        language=language,
        who=access.who,
        user=access.who.user,
        csrf=auth.csrf(access.who),
        access=access,
        Role=Role,
        switch=web.language_switch(request, language, ("nl", "en")),
        study_title=title,
        header_title=f"Vakstem · {title}",
        **{"notice": "", "error": "", "problems": [], **context},
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response
