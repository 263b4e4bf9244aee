"""Console pages for reaching respondents (`/console/studies/{id}/reach`): the source tags with
their links, QR codes (SVG and PNG) and opens/starts/completes, the invitation counts and the
CSV import, and the quotas. Sending email is a batch job (`vakstem invite`, `vakstem remind`),
never run on a request. Viewers see the counts; owners change things. The researcher API adds
`GET /api/v1/studies/{id}/reach` (the same counts) and `POST /api/v1/studies/{id}/bounces` (a
bounce reported later by the mail provider).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from vakstem.service import audit, links, quotas
from vakstem.service import invitations as inv
from vakstem.service.accounts import Role
from vakstem.service.types import DomainError
from vakstem.web.console.api import ERRORS, TAG
from vakstem.web.console.auth import ConsoleAuth, StudyAccess, form_str
from vakstem.web.console.i18n import ConsoleCatalogues
from vakstem.web.console.study_page import study_page
from vakstem.web.context import WebContext

#: Largest invitation CSV accepted by the upload, in bytes (about 50,000 addresses).
MAX_CSV_BYTES = 4 * 1024 * 1024


def build_router(web: WebContext, auth: ConsoleAuth) -> APIRouter:
    """The console pages and the researcher API routes of reaching respondents."""
    router = APIRouter()
    router.include_router(_pages(web, auth))
    router.include_router(_api(auth))
    return router


class BounceIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    reason: str = Field(default="bounced", max_length=500)


class SourceOut(BaseModel):
    source: str
    opens: int
    starts: int
    completes: int


class ReachOut(BaseModel):
    sources: list[SourceOut]
    invitations: dict[str, int]


def _api(auth: ConsoleAuth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/studies/{study_id}", tags=[TAG], responses=ERRORS)
    engine = auth.web.engine

    async def access(request: Request, study_id: str, needed: Role) -> StudyAccess:
        who = await run_in_threadpool(auth.api_who, request)
        return await run_in_threadpool(auth.study, who, study_id, needed)

    @router.get(
        "/reach",
        summary="Opens, starts and completes per source, and the invitation counts",
        response_model=ReachOut,
    )
    async def reach(request: Request, study_id: str) -> ReachOut:
        await access(request, study_id, Role.VIEWER)
        counts = await run_in_threadpool(links.source_counts, engine, study_id)
        summary = await run_in_threadpool(inv.summary, engine, study_id)
        return ReachOut(
            sources=[SourceOut(**vars(c)) for c in counts], invitations=dict(vars(summary))
        )

    @router.post(
        "/bounces",
        summary="Record a bounce reported by the mail provider (no more email to the address)",
        status_code=204,
    )
    async def bounce(request: Request, study_id: str, body: BounceIn) -> Response:
        await access(request, study_id, Role.OWNER)
        found = await run_in_threadpool(
            inv.record_bounce, engine, study_id, body.email, body.reason
        )
        if not found:
            raise HTTPException(404, detail="no invitee of this study has that address")
        return Response(status_code=204)

    return router


def _pages(web: WebContext, auth: ConsoleAuth) -> APIRouter:
    router = APIRouter(prefix="/console/studies/{study_id}/reach", include_in_schema=False)
    engine = web.engine
    catalogues = ConsoleCatalogues(web.catalogues)

    async def access_of(request: Request, study_id: str, needed: Role) -> StudyAccess:
        return await auth.page_access(request, study_id, needed)

    def base_url(request: Request) -> str:
        return web.settings.public_url if web.settings.public_url else str(request.base_url)

    async def show(
        request: Request,
        access: StudyAccess,
        *,
        notice: str = "",
        error: str = "",
        problems: list[str] | None = None,
        status_code: int = 200,
    ) -> Response:
        lang = catalogues.language(request.query_params.get("lang") or None)
        study_id = access.study_id
        counts = await run_in_threadpool(links.source_counts, engine, study_id)
        rows = []
        for count in counts:
            personal = count.source == links.INVITATION_SOURCE
            url = "" if personal else links.link_url(base_url(request), study_id, count.source)
            rows.append(
                {
                    "count": count,
                    "url": url,
                    "qr": Markup(links.qr_svg(url)) if url else Markup(""),
                    "file": count.source or "link",
                }
            )
        return study_page(
            web,
            auth,
            catalogues,
            request,
            access,
            "console/reach.html",
            lang,
            status_code=status_code,
            rows=rows,
            file_tags=set(access.stored.study.sources),
            summary=await run_in_threadpool(inv.summary, engine, study_id),
            quotas=await run_in_threadpool(quotas.list_quotas, engine, study_id),
            notice=notice,
            error=error,
            problems=problems or [],
        )

    def back(study_id: str) -> RedirectResponse:
        return RedirectResponse(f"/console/studies/{quote(study_id)}/reach?notice=saved", 303)

    def record(access: StudyAccess, action: str, details: dict[str, Any]) -> None:
        with engine.begin() as conn:
            audit.record(
                conn, access.who.user.actor, action, study_id=access.study_id, details=details
            )

    @router.get("")
    async def page(request: Request, study_id: str, notice: str = "") -> Response:
        access = await access_of(request, study_id, Role.VIEWER)
        return await show(request, access, notice=notice)

    @router.get("/qr/{name}.{kind}")
    async def qr(request: Request, study_id: str, name: str, kind: str) -> Response:
        await access_of(request, study_id, Role.VIEWER)
        if kind not in ("svg", "png"):
            raise HTTPException(404)
        tags = await run_in_threadpool(links.all_tags, engine, study_id)
        if name != "link" and name not in tags:
            raise HTTPException(404)
        url = links.link_url(base_url(request), study_id, None if name == "link" else name)
        disposition = {"content-disposition": f'attachment; filename="{study_id}-{name}.{kind}"'}
        if kind == "svg":
            return Response(links.qr_svg(url), media_type="image/svg+xml", headers=disposition)
        return Response(links.qr_png(url), media_type="image/png", headers=disposition)

    @router.post("/tags")
    async def add_tag(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        form = await auth.form(request, access.who)
        tag = form_str(form, "tag").strip()
        try:
            await run_in_threadpool(links.add_tag, engine, study_id, tag)
        except DomainError as exc:
            return await show(request, access, error=exc.detail, status_code=exc.status)
        await run_in_threadpool(record, access, "source_tag_added", {"tag": tag})
        return back(study_id)

    @router.post("/quotas")
    async def set_quota(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        form = await auth.form(request, access.who)
        name = form_str(form, "name").strip()
        raw_max = form_str(form, "max_completes").strip()
        sources = [s.strip() for s in form_str(form, "sources").split(",") if s.strip()]
        variable = form_str(form, "variable").strip() or None
        value = form_str(form, "value").strip() or None
        if not raw_max.isdigit():
            return await show(
                request,
                access,
                error="the number of completes must be a whole number",
                status_code=422,
            )
        try:
            await run_in_threadpool(
                lambda: quotas.set_quota(
                    engine,
                    study_id,
                    name,
                    int(raw_max),
                    sources=sources or None,
                    hold_minutes=web.settings.quota_hold_minutes,
                    variable=variable,
                    value=value,
                )
            )
        except DomainError as exc:
            return await show(request, access, error=exc.detail, status_code=exc.status)
        details = {
            "name": name,
            "max_completes": int(raw_max),
            "sources": sources,
            "variable": variable,
            "value": value,
        }
        await run_in_threadpool(record, access, "quota_set", details)
        return back(study_id)

    @router.post("/invitations")
    async def import_invitations(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        form = await auth.form(request, access.who)
        upload = form.get("file")
        data = await upload.read(MAX_CSV_BYTES + 1) if isinstance(upload, UploadFile) else b""
        if not data:
            return await show(request, access, error="choose a CSV file", status_code=422)
        if len(data) > MAX_CSV_BYTES:
            return await show(request, access, error="the file is too large", status_code=413)
        try:
            count = await run_in_threadpool(inv.import_csv, engine, web.settings, study_id, data)
        except inv.CsvRejected as exc:
            return await show(
                request,
                access,
                error=exc.detail,
                problems=[str(r) for r in exc.rows],
                status_code=422,
            )
        except DomainError as exc:
            return await show(request, access, error=exc.detail, status_code=exc.status)
        # The count only: addresses never go into the audit trail.
        await run_in_threadpool(record, access, "invitations_imported", {"count": count})
        return back(study_id)

    return router
