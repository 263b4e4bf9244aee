"""ASGI middleware in front of every route: security headers, the request body limit, and a
strict UTF-8 check of form and JSON bodies.

A body over the limit is refused from its Content-Length, or as soon as the streamed bytes pass
the limit, so it is never read whole. A body within the limit is buffered (at most the limit)
and checked before the route sees it, so routes can trust that their text is valid UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: dict[str, str] = {
    # No inline scripts or styles anywhere, so no 'unsafe-inline'; no framing (clickjacking).
    "content-security-policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    # Resume codes are in respondent URLs: never leak them to another site.
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}

#: Builds the friendly error response for a request: (scope, status code, message key).
ErrorResponder = Callable[[Scope, int, str], Response]

#: Scope key holding the body limit that applied to a request, for the error message.
BODY_LIMIT_KEY = "vakstem.body_limit"

#: A larger limit for the routes that take file uploads: (path pattern, file limit in bytes).
RouteLimit = tuple[re.Pattern[str], int]

#: Room on top of a route's file limit for the multipart envelope and the form's other fields,
#: so a file of exactly the stated size is accepted.
UPLOAD_ENVELOPE_BYTES = 64 * 1024


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


class _TooLarge(Exception):
    pass


class GuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        on_error: ErrorResponder,
        behind_tls: bool = False,
        route_limits: Sequence[RouteLimit] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.route_limits = tuple(route_limits)
        self.on_error = on_error
        self.headers = dict(SECURITY_HEADERS)
        if behind_tls:
            # Only when served over HTTPS: browsers then refuse plain HTTP for a year.
            self.headers["strict-transport-security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        is_static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in self.headers
                ]
                headers += [(k.encode(), v.encode()) for k, v in self.headers.items()]
                if is_static:
                    # Static URLs carry a content hash (`?v=`), so they may be cached for a year.
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
                message = {**message, "headers": headers}
            await send(message)

        if scope.get("method") not in {"POST", "PUT", "PATCH", "DELETE"}:
            await self.app(scope, receive, send_with_headers)
            return

        stated, limit = self._limit_for(str(scope.get("path", "")))
        scope[BODY_LIMIT_KEY] = stated
        request_headers = Headers(scope=scope)
        length = request_headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._fail(scope, receive, send_with_headers, 413, "too_large")
            return

        try:
            body, more = await self._read(receive, limit)
        except _TooLarge:
            await self._fail(scope, receive, send_with_headers, 413, "too_large")
            return
        if more is not None:
            # The client went away mid-request; nothing to answer.
            return

        content_type = request_headers.get("content-type", "").split(";")[0].strip().lower()
        if not _valid_text(body, content_type):
            await self._fail(scope, receive, send_with_headers, 400, "bad_encoding")
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)

    def _limit_for(self, path: str) -> tuple[int, int]:
        """The limit to state in an error, and the one enforced on the raw body."""
        for pattern, limit in self.route_limits:
            if pattern.fullmatch(path):
                return limit, limit + UPLOAD_ENVELOPE_BYTES
        return self.max_body_bytes, self.max_body_bytes

    async def _read(self, receive: Receive, limit: int) -> tuple[bytes, Message | None]:
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", message
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    async def _fail(
        self, scope: Scope, receive: Receive, send: Send, status: int, key: str
    ) -> None:
        response = self.on_error(scope, status, key)
        # The client may still be sending; tell it we will not read the rest.
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def _valid_text(body: bytes, content_type: str) -> bool:
    """Whether a form or JSON body is valid UTF-8 (also inside %-escapes of a form)."""
    if not body:
        return True
    if content_type == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
            parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            return False
        return True
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
