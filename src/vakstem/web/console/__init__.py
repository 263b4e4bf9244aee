"""The researcher console (`/console`, HTML) and the researcher JSON API (`/api/v1`, tagged
`researcher`): `build_router(web)` returns both, for `create_app` to include with one line."""

from __future__ import annotations

from fastapi import APIRouter

from vakstem.web.console import analyses, api, pages
from vakstem.web.console.auth import ConsoleAuth
from vakstem.web.context import WebContext


def build_router(web: WebContext) -> APIRouter:
    auth = ConsoleAuth(web)
    router = APIRouter()
    router.include_router(pages.build_router(web, auth))
    router.include_router(api.build_router(auth))
    router.include_router(analyses.build_router(web, auth))
    router.include_router(
        __import__("vakstem.web.console.reach").web.console.reach.build_router(web, auth)
    )
    return router
