"""Friendly errors: every failure a respondent or API client can cause becomes a short Dutch or
English page (HTML) or `{"detail": ...}` (API, under `/api/`), never a stack trace.

Domain errors of the service carry their own status; unknown routes, oversized or badly encoded
bodies and unexpected exceptions are mapped here. The 500 handler logs the exception.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import Scope

from vakstem.service.types import DomainError
from vakstem.web.context import WebContext
from vakstem.web.guard import BODY_LIMIT_KEY, add_security_headers
from vakstem.web.i18n import DOMAIN_MESSAGES, N_

log = logging.getLogger("vakstem.web")

#: Messages of request-level problems (not the domain's), by key.
REQUEST_MESSAGES: dict[str, str] = {
    "too_large": N_("What you sent is too large to be accepted (the limit is %(kb)s KB)."),
    "bad_encoding": N_(
        "What you sent contains characters that are not valid UTF-8 text, so it was not accepted."
    ),
    "form_type": N_("This form was sent in a format we do not accept."),
    "not_found": N_("This page does not exist. Please check the link."),
    "method_not_allowed": N_("This address cannot be used in this way."),
    "bad_request": N_("This request is not valid."),
    "server_error": N_(
        "Something went wrong on our side. Your earlier answers are safe; please try again later."
    ),
}

HEADINGS: dict[int, str] = {
    400: N_("This did not work"),
    403: N_("This did not work"),
    404: N_("Not found"),
    405: N_("This did not work"),
    409: N_("This is no longer possible"),
    413: N_("Too much at once"),
    415: N_("This did not work"),
    422: N_("This did not work"),
    500: N_("Sorry, something went wrong"),
}


class WebError(Exception):
    """A request-level problem with a message key from `REQUEST_MESSAGES`."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def _language(scope: Scope, web: WebContext) -> str:
    """The interface language of an error page: `?lang=` when given, else the default."""
    query = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        if part.startswith("lang="):
            return web.catalogues.language(part[5:])
    return web.catalogues.default


def error_response(web: WebContext, scope: Scope, status: int, message: str) -> Response:
    """The error as JSON (API) or as a friendly page; `message` is an untranslated message id."""
    language = _language(scope, web)
    limit = scope.get(BODY_LIMIT_KEY, web.settings.max_body_bytes)
    params: dict[str, Any] = {"kb": int(limit) // 1024}
    text = web.catalogues.gettext(language, message)
    if "%(" in text:
        text = text % params
    if _is_api(str(scope.get("path", ""))):
        return JSONResponse({"detail": text}, status_code=status)
    t = web.catalogues.translator(language)
    return web.message_page(
        language=language,
        heading=t(HEADINGS.get(status, HEADINGS[400])),
        paragraphs=[text],
        status_code=status,
    )


def request_error_response(web: WebContext, scope: Scope, status: int, key: str) -> Response:
    return error_response(
        web, scope, status, REQUEST_MESSAGES.get(key, REQUEST_MESSAGES["bad_request"])
    )


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()

    def walk(routes: Iterable[Any]) -> None:
        for route in routes:
            match, _child = route.matches(request.scope)
            if match is Match.NONE:
                continue
            methods.update(getattr(route, "methods", None) or ())
            # Included routers (FastAPI wraps them) hold their own routes.
            inner = getattr(route, "routes", None)
            if inner is None:
                inner = getattr(getattr(route, "original_router", None), "routes", None)
            if inner:
                walk(inner)

    walk(request.app.router.routes)
    return sorted(methods)


def install_error_handlers(app: FastAPI, web: WebContext) -> None:
    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        message = DOMAIN_MESSAGES.get(exc.code, DOMAIN_MESSAGES["error"])
        return error_response(web, request.scope, exc.status, message)

    async def web_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WebError)
        return request_error_response(web, request.scope, exc.status, exc.key)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        key = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "bad_request"
        )
        response = request_error_response(web, request.scope, exc.status_code, key)
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            # Several routers may serve one path (respondent and console API): list them all.
            response.headers["allow"] = ", ".join(_allowed_methods(request))
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not _is_api(request.url.path):
            return request_error_response(web, request.scope, 400, "bad_request")
        errors: dict[str, list[dict[str, str]]] = {}
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem.get("loc", ())) or "body"
            errors.setdefault(where, []).append(
                {
                    "code": str(problem.get("type", "invalid")),
                    "message": str(problem.get("msg", "")),
                }
            )
        # `detail` keeps FastAPI's documented shape (a list of {loc, msg, type}), which the
        # OpenAPI document promises for every 422; `errors` is our per-field form of the same.
        detail = jsonable_encoder(exc.errors(), exclude={"ctx", "input", "url"})
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("Unhandled error on %s %s", request.method, request.url.path)
        response = request_error_response(web, request.scope, 500, "server_error")
        # This response is sent by Starlette's outermost error middleware, outside our guard.
        return add_security_headers(response)

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(WebError, web_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
