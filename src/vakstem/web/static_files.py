"""Static files (the one CSS file and the small scripts), gzip-compressed for clients that accept
it. They are compressed once per file version and kept in memory: a phone on a weak connection
then loads about a third of the bytes. Pages themselves are not compressed: they carry the CSRF
token and the resume code next to text the respondent typed, the pattern BREACH exploits;
these files carry no secrets.
"""

from __future__ import annotations

import gzip
import os

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: Below this size compression gains less than the header costs.
MIN_COMPRESS_BYTES = 512


class CompressedStaticFiles(StaticFiles):
    """`StaticFiles` that answers `Accept-Encoding: gzip` with a compressed body."""

    def __init__(self, *, directory: str | os.PathLike[str]) -> None:
        super().__init__(directory=directory)
        self._compressed: dict[tuple[str, float], bytes] = {}

    def _gzip(self, path: str) -> bytes:
        key = (path, os.stat(path).st_mtime)
        body = self._compressed.get(key)
        if body is None:
            with open(path, "rb") as handle:
                # mtime=0 keeps the bytes identical from run to run.
                body = gzip.compress(handle.read(), compresslevel=9, mtime=0)
            self._compressed[key] = body
        return body

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if (
            scope.get("method") != "GET"
            or response.status_code != 200
            or not isinstance(response, FileResponse)
        ):
            return response
        response.headers["vary"] = "Accept-Encoding"
        accepted = Headers(scope=scope).get("accept-encoding", "")
        if "gzip" not in accepted.lower() or os.stat(response.path).st_size < MIN_COMPRESS_BYTES:
            return response
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in {"content-length", "etag", "last-modified"}
        }
        headers["content-encoding"] = "gzip"
        return Response(self._gzip(str(response.path)), headers=headers)
