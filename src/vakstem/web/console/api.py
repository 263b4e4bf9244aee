"""The researcher JSON API under `/api/v1`, authenticated with personal API tokens
(`Authorization: Bearer vks_…`, created and revoked in the console). Same role rules as the
console: viewers get aggregates only, researchers and owners row-level data and exports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import Response

from vakstem.instrument.schema import text_in
from vakstem.service import audit, console
from vakstem.service.accounts import Role
from vakstem.service.dashboard import compute_dashboard
from vakstem.service.types import DomainError
from vakstem.store.studies import get_study, list_studies
from vakstem.web.console.auth import ConsoleAuth, StudyAccess
from vakstem.web.console.pages import _record, download

TAG = "researcher"


class Problem(BaseModel):
    detail: str


class StudyOut(BaseModel):
    id: str
    title: str
    role: str
    status: str
    version: str | None
    version_hash: str | None
    responses: int
    completes: int


class StudyDetailOut(StudyOut):
    opens_at: datetime | None
    closes_at: datetime | None
    max_completes: int | None
    languages: list[str]
    pages: list[str]


class ResponseOut(BaseModel):
    id: str
    status: str
    started_at: str
    completed_at: str | None
    duration_s: float | None
    language: str
    source: str | None
    test: bool
    instrument_version: str
    excluded: bool
    excluded_reason: str | None
    flags: list[str]


class ResponseDetailOut(ResponseOut):
    answers: dict[str, Any]


class ExclusionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=console.MAX_REASON_LENGTH)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A parameter or body value is not usable"},
    401: {"model": Problem, "description": "No or an invalid API token"},
    403: {"model": Problem, "description": "Your role on this study does not allow this"},
    404: {"model": Problem, "description": "No such study (or you are not a member of it)"},
}


def build_router(auth: ConsoleAuth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=[TAG], responses=ERRORS)
    web = auth.web
    engine = web.engine

    async def access(request: Request, study_id: str, needed: Role) -> StudyAccess:
        who = await run_in_threadpool(auth.api_who, request)
        return await run_in_threadpool(auth.study, who, study_id, needed)

    def listing_out(study_id: str, role: Role) -> StudyOut | None:
        for s in list_studies(engine):
            if s.study_id == study_id:
                title = text_in(get_study(engine, study_id).study.title, "nl")
                return StudyOut(
                    id=s.study_id,
                    title=title,
                    role=role.value,
                    status=s.status.value,
                    version=s.version_label,
                    version_hash=s.version_hash,
                    responses=s.responses,
                    completes=s.completes,
                )
        return None

    @router.get(
        "/studies", summary="The studies you are a member of", response_model=list[StudyOut]
    )
    async def my_studies(request: Request) -> list[StudyOut]:
        who = await run_in_threadpool(auth.api_who, request)
        roles = await run_in_threadpool(auth.my_studies, who.user)
        out = []
        for study_id, role in roles.items():
            item = await run_in_threadpool(listing_out, study_id, role)
            if item is not None:
                out.append(item)
        return out

    @router.get("/studies/{study_id}", summary="One study", response_model=StudyDetailOut)
    async def study(request: Request, study_id: str) -> StudyDetailOut:
        a = await access(request, study_id, Role.VIEWER)
        base = await run_in_threadpool(listing_out, study_id, a.role)
        if base is None:
            raise HTTPException(404)
        s = a.stored
        return StudyDetailOut(
            **base.model_dump(),
            opens_at=s.opens_at,
            closes_at=s.closes_at,
            max_completes=s.max_completes,
            languages=list(s.study.languages),
            pages=[p.id for p in s.study.pages],
        )

    @router.get(
        "/studies/{study_id}/dashboard",
        summary="Fieldwork figures (aggregates; any role)",
    )
    async def dashboard(request: Request, study_id: str, test: bool = False) -> dict[str, Any]:
        a = await access(request, study_id, Role.VIEWER)
        records = await run_in_threadpool(auth.records.records, engine, study_id)
        return compute_dashboard(a.stored.study, records, include_test=test).as_json()

    @router.get(
        "/studies/{study_id}/responses",
        summary="The responses (researcher or owner)",
        response_model=list[ResponseOut],
    )
    async def responses(request: Request, study_id: str, test: bool = False) -> list[ResponseOut]:
        a = await access(request, study_id, Role.RESEARCHER)
        rows = await run_in_threadpool(
            console.list_responses, engine, a.stored.study, study_id, include_test=test
        )
        await run_in_threadpool(
            _record, engine, a, audit.RESPONSES_LISTED, {"count": len(rows), "via": "api"}
        )
        return [ResponseOut(**r.as_json()) for r in rows]

    @router.get(
        "/studies/{study_id}/responses/{response_id}",
        summary="One response with its answers (researcher or owner)",
        response_model=ResponseDetailOut,
    )
    async def response(request: Request, study_id: str, response_id: str) -> ResponseDetailOut:
        a = await access(request, study_id, Role.RESEARCHER)
        try:
            detail = await run_in_threadpool(
                console.response_detail, engine, a.stored.study, study_id, response_id
            )
        except DomainError:
            raise HTTPException(404) from None
        await run_in_threadpool(
            _record, engine, a, audit.RESPONSE_VIEWED, {"response": response_id, "via": "api"}
        )
        return ResponseDetailOut(**detail.as_json())

    @router.put(
        "/studies/{study_id}/responses/{response_id}/exclusion",
        summary="Mark a response as excluded, with a reason",
        status_code=204,
    )
    async def exclude(
        request: Request, study_id: str, response_id: str, body: ExclusionIn
    ) -> Response:
        a = await access(request, study_id, Role.RESEARCHER)
        try:
            await run_in_threadpool(
                console.exclude_response,
                engine,
                study_id,
                response_id,
                body.reason,
                actor=a.who.user.actor,
            )
        except console.ConsoleError as exc:
            raise HTTPException(400, detail=exc.detail) from None
        except DomainError:
            raise HTTPException(404) from None
        return Response(status_code=204)

    @router.delete(
        "/studies/{study_id}/responses/{response_id}/exclusion",
        summary="Undo an exclusion",
        status_code=204,
    )
    async def include(request: Request, study_id: str, response_id: str) -> Response:
        a = await access(request, study_id, Role.RESEARCHER)
        try:
            await run_in_threadpool(
                console.include_response, engine, study_id, response_id, actor=a.who.user.actor
            )
        except DomainError:
            raise HTTPException(404) from None
        return Response(status_code=204)

    @router.get(
        "/studies/{study_id}/export",
        summary="Download an export (csv, xlsx, sav, dta, parquet; researcher or owner)",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    async def export(
        request: Request,
        study_id: str,
        format: str = "csv",
        test: bool = False,
        partial: bool = False,
    ) -> Response:
        a = await access(request, study_id, Role.RESEARCHER)
        return await download(engine, a, format, test, partial)

    @router.get(
        "/studies/{study_id}/audit",
        summary="The study's audit trail, newest first (owner)",
    )
    async def audit_trail(
        request: Request, study_id: str, limit: int = 500
    ) -> list[dict[str, Any]]:
        await access(request, study_id, Role.OWNER)
        entries = await run_in_threadpool(
            audit.entries, engine, study_id=study_id, limit=max(1, min(limit, 10_000))
        )
        return [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "details": e.details,
            }
            for e in entries
        ]

    return router
