"""The respondent JSON API under `/api/v1`: the same service as the HTML pages, described by
pydantic models so `/openapi.json` documents every request and response.

The respondent authenticates with the resume code (`Authorization: Bearer <code>`). A missing or
wrong code is a 404, exactly like an unknown response, so the API never reveals that a response
exists.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from vakstem.instrument.schema import ItemType, Study
from vakstem.service import resume_codes
from vakstem.service.types import (
    AlreadyWithdrawn,
    ItemError,
    ResponseNotFound,
    ResponseState,
    StalePage,
    SubmitResult,
)
from vakstem.store.studies import get_study
from vakstem.web import withdraw_routes
from vakstem.web.context import WebContext
from vakstem.web.render import page_json


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(default=None, max_length=8, description="e.g. `nl` or `en`")
    source: str | None = Field(
        default=None, max_length=64, description="Source tag; stored only when the study lists it"
    )


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, Any] = Field(
        description="Variable id -> value: a choice code (int), a list of codes (multiple "
        "choice), a number, a string (text; a date as YYYY-MM-DD), 1/0 for consent, or null."
    )


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resume_code: str = Field(
        max_length=64,
        description="The code given when the response started, e.g. `K7QM-3XHD-9P` (case, "
        "spaces and dashes do not matter). Sent in the body so it stays out of access logs.",
    )
    language: str | None = Field(
        default=None, max_length=8, description="Language of the messages, e.g. `nl` or `en`"
    )


class WithdrawnOut(_Out):
    status: Literal["withdrawn"]
    detail: str = Field(description="What happened, in the requested language")


class ChoiceOut(_Out):
    code: int
    label: str
    missing: bool


class RowOut(_Out):
    id: str
    text: str


class ItemOut(_Out):
    id: str
    type: ItemType
    required: bool
    text: str
    hint: str | None
    choices: list[ChoiceOut]
    rows: list[RowOut]
    min: float | None
    max: float | None
    max_length: int | None


class PageOut(_Out):
    id: str
    title: str | None
    index: int = Field(description="0-based position among all pages")
    total: int
    items: list[ItemOut]


class StartOut(_Out):
    id: str
    resume_code: str = Field(description="Keep it: it is the only way back to this response")
    page: PageOut | None
    completed: bool


class StateOut(_Out):
    id: str
    status: str
    language: str
    page: PageOut | None
    answers: dict[str, Any]
    completed: bool


class Detail(_Out):
    detail: str


class StaleOut(_Out):
    """409: `state` (the current page) when another page was submitted; without it when the
    response is finished or the study closed."""

    detail: str
    state: StateOut | None = None


class ErrorOut(_Out):
    code: str
    message: str


class ProblemOut(BaseModel):
    """One problem with the request itself (FastAPI's validation error item)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorsOut(_Out):
    """422: `errors` per variable (answers) or per request field; `detail` only for a request
    that does not match its schema."""

    detail: list[ProblemOut] | None = None
    errors: dict[str, list[ErrorOut]]


def _variable_item(study: Study, variable: str) -> Any:
    for _page, item in study.items():
        if variable in item.variables():
            return item
    return None


def build_router(web: WebContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["respondent"])
    service = web.service
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": Detail}}
    # Any request with a body: the guard middleware refuses bad UTF-8 and oversized bodies.
    body_problems: dict[int | str, dict[str, Any]] = {
        400: {"model": Detail, "description": "Body is not valid UTF-8"},
        413: {"model": Detail, "description": "Body over the size limit"},
    }

    def page_out(state: ResponseState) -> PageOut | None:
        if state.page is None:
            return None
        return PageOut.model_validate(
            page_json(state.study, state.page, language=state.language, catalogues=web.catalogues)
        )

    def state_out(state: ResponseState) -> StateOut:
        return StateOut(
            id=state.id,
            status=state.status.value,
            language=state.language,
            page=page_out(state),
            answers=dict(state.answers),
            completed=state.completed,
        )

    def authorized(response_id: str, authorization: str | None) -> ResponseState:
        scheme, _, code = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not code.strip():
            raise ResponseNotFound()
        return service.authorize(response_id, code.strip())

    def errors_json(state: ResponseState, errors: tuple[ItemError, ...]) -> dict[str, Any]:
        out: dict[str, list[dict[str, str]]] = {}
        for error in errors:
            item = _variable_item(state.study, error.variable)
            message = web.catalogues.item_error(state.language, error, item)
            out.setdefault(error.variable, []).append({"code": error.code, "message": message})
        return {"errors": out}

    @router.post(
        "/studies/{study_id}/responses",
        status_code=201,
        responses={**not_found, **body_problems, 409: {"model": Detail}, 422: {"model": ErrorsOut}},
        summary="Start a response",
    )
    async def start(study_id: str, body: StartIn | None = None) -> StartOut:
        body = body or StartIn()
        state = await web.db.write(
            service.start, study_id, language=body.language, source=body.source
        )
        return StartOut(
            id=state.id,
            resume_code=state.resume_code,
            page=page_out(state),
            completed=state.completed,
        )

    @router.get("/responses/{response_id}", responses=not_found, summary="The current page")
    async def get_state(
        response_id: str, authorization: str | None = Header(default=None)
    ) -> StateOut:
        return state_out(await web.db(authorized, response_id, authorization))

    @router.post(
        "/responses/{response_id}/pages/{page_id}",
        responses={
            **not_found,
            **body_problems,
            409: {"model": StaleOut, "description": "Not the current page, or finished"},
            422: {"model": ErrorsOut, "description": "Per-variable validation errors"},
        },
        summary="Submit a page",
        response_model=StateOut,
    )
    async def submit(
        response_id: str,
        page_id: str,
        body: SubmitIn,
        authorization: str | None = Header(default=None),
    ) -> StateOut | JSONResponse:
        def store() -> SubmitResult | tuple[ResponseState, StalePage]:
            state = authorized(response_id, authorization)
            try:
                return service.submit_page(state.id, page_id, body.answers, from_form=False)
            except StalePage as exc:
                return service.state(state.id), exc

        result = await web.db.write(store)
        if isinstance(result, tuple):
            current, exc = result
            detail = web.catalogues.domain_message(current.language, exc.code)
            stale = StaleOut(detail=detail, state=state_out(current))
            return JSONResponse(stale.model_dump(mode="json"), status_code=409)
        if not result.ok:
            return JSONResponse(errors_json(result.state, result.errors), status_code=422)
        return state_out(result.state)

    @router.post(
        "/responses/{response_id}/back",
        responses={**not_found, **body_problems, 409: {"model": Detail}},
        summary="Go back one page",
    )
    async def back(response_id: str, authorization: str | None = Header(default=None)) -> StateOut:
        def step_back() -> ResponseState:
            return service.back(authorized(response_id, authorization).id)

        return state_out(await web.db.write(step_back))

    @router.post(
        "/studies/{study_id}/withdrawals",
        responses={
            **body_problems,
            404: {"model": Detail, "description": "No such study, or no response with this "
                  "code in it (a code of another study is not found either)"},
            409: {"model": Detail, "description": "Withdrawn before; nothing of it is kept"},
            422: {"model": ErrorsOut, "description": "Not a resume code at all"},
            429: {"model": Detail, "description": "Too many attempts from this network"},
        },
        summary="Withdraw a response by its resume code",
        response_model=WithdrawnOut,
        description="Deletes every answer of the response and marks it withdrawn, at once and "
        "for good: it leaves exports, the console, the dashboard and feedback. Works in every "
        "state of the response and of the study (also after fieldwork closed).",
    )  # fmt: skip
    def withdraw(study_id: str, body: WithdrawIn) -> WithdrawnOut | JSONResponse:
        study = get_study(web.engine, study_id).study
        wanted = body.language
        language = wanted if wanted in study.languages else study.default_language
        t = web.catalogues.translator(language)
        code = resume_codes.normalise(body.resume_code)
        if code is None:
            problem = {"code": "malformed_code", "message": t(withdraw_routes.MALFORMED)}
            return JSONResponse({"errors": {"resume_code": [problem]}}, status_code=422)
        try:
            service.withdraw(code, study_id=study_id)
        except ResponseNotFound:
            return JSONResponse({"detail": t(withdraw_routes.UNKNOWN)}, status_code=404)
        except AlreadyWithdrawn as exc:
            detail = web.catalogues.domain_message(language, exc.code)
            return JSONResponse({"detail": detail}, status_code=409)
        return WithdrawnOut(status="withdrawn", detail=t(withdraw_routes.DONE_TEXT))

    return router
