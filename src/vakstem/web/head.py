"""HEAD on the respondent pages: answered like GET, without a body.

Link checkers and mail scanners send HEAD to the links in invitations; FastAPI routes declared
with GET answer it with 405. Respondent GET routes never create anything (a response starts on
the welcome form's POST), so running them for a HEAD is safe.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths of the respondent pages (the console and the APIs keep their own method rules).
RESPONDENT_PREFIX = "/s/"


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "HEAD"
            or not str(scope.get("path", "")).startswith(RESPONDENT_PREFIX)
        ):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                # Headers (Content-Length included) stay those of the GET, as HTTP asks.
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
