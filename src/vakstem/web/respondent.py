"""The respondent's HTML pages: welcome, one page at a time, back, language switch, resume and
the closing page.

The respondent's URL carries the resume code (`/s/{study}/r/{code}`), so a response continues on
any device without cookies. Viewing the anonymous link creates nothing (link previews and
crawlers fetch it); the response is created when the welcome page is submitted. A page POST
answers with the next page itself (200, at the same address), with the same page showing what
is wrong (422), or with a redirect (303) where the address or the kind of page changes: from
the welcome form to the response's address, to the closing page, after going back.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from vakstem.instrument.schema import ItemType, Study, text_in
from vakstem.service import bots
from vakstem.service.types import (
    AnswerValue,
    CodeSubmit,
    ItemError,
    PageView,
    ResponseFinished,
    ResponseNotFound,
    ResponseState,
    ResponseStatus,
    StalePage,
    StudyClosed,
    SubmitResult,
)
from vakstem.store.studies import get_study
from vakstem.web.context import WebContext
from vakstem.web.errors import WebError
from vakstem.web.i18n import N_
from vakstem.web.render import build_page, preview_page
from vakstem.web.withdraw_routes import offer_fields, offer_form

#: Form fields that are not answers start with an underscore; variable ids never do.
PAGE_FIELD = "_page"
CSRF_FIELD = "_csrf"

#: The quota-full page for a respondent screened out by a quota on an answer (heading, then
#: paragraphs), Dutch first; the same wording as the quota page at the door (reach_routes).
SCREENED_OUT_TEXTS: dict[str, tuple[str, ...]] = {
    "nl": (
        "Dank je wel voor je belangstelling",
        "We hebben voor deze groep al genoeg deelnemers. De vragenlijst stopt hier. "
        "We hebben je antwoorden niet bewaard.",
        "Je kunt deze pagina sluiten.",
    ),
    "en": (
        "Thank you for your interest",
        "We already have enough participants in this group, so the questionnaire ends here. "
        "Your answers have not been kept.",
        "You can close this page.",
    ),
}

Form = dict[str, list[str]]


async def read_form(request: Request) -> Form:
    """The urlencoded form body as name -> values (the guard middleware checked its UTF-8)."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body:
        return {}
    if content_type != "application/x-www-form-urlencoded":
        raise WebError(415, "form_type")
    form: Form = {}
    for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"):
        form.setdefault(name, []).append(value)
    return form


def _first(form: Form, name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


def form_answers(form: Form, view: PageView | None) -> dict[str, Any]:
    """Answers of a submitted page: every variable shown on it (absent = unanswered, which is how
    an unticked radio group arrives), plus any other named field so the service can reject it."""
    answers: dict[str, Any] = {}
    if view is not None:
        for shown in view.items:
            multiple = shown.item.type is ItemType.MULTIPLE
            for variable in shown.item.variables():
                values = form.get(variable, [])
                answers[variable] = (
                    [v for v in values if v != ""] if multiple else (values[0] if values else "")
                )
    for name, values in form.items():
        if name.startswith("_") or name in answers:
            continue
        answers[name] = values if len(values) > 1 else values[0]
    return answers


def _clean_code(code: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", code).upper()


Endpoint = Callable[[Request], Awaitable[Response]]


def build_router(web: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    service = web.service

    def route(path: str, method: str) -> Callable[[Endpoint], Endpoint]:
        """Plain Starlette routes: these pages take every parameter from the request
        themselves, and FastAPI's parameter solving was a measurable part of a page."""

        def register(endpoint: Endpoint) -> Endpoint:
            router.add_route(path, endpoint, methods=[method], include_in_schema=False)
            return endpoint

        return register

    choose_language = web.study_language

    def start_fields(
        study_id: str, page_id: str, language: str, source: str | None
    ) -> tuple[list[tuple[str, str]], str]:
        """Hidden fields and CSRF token of a welcome form, with a fresh one-time start key
        that the token signs (so a key cannot be invented or moved to another study)."""
        key = bots.new_start_key()
        hidden = [("_lang", language), (bots.START_KEY_FIELD, key)]
        if source:
            hidden.append(("_bron", source))
        return hidden, web.csrf_token("start", study_id, page_id, key)

    def response_path(study_id: str, code: str) -> str:
        return f"/s/{quote(study_id)}/r/{quote(code)}"

    def code_of(state: ResponseState, typed: str) -> str:
        return state.resume_code or _clean_code(typed)

    def render_page(
        request: Request,
        *,
        study: Study,
        view: PageView,
        language: str,
        values: Mapping[str, Any],
        errors: tuple[ItemError, ...] = (),
        action: str,
        csrf: str,
        hidden: list[tuple[str, str]] | None = None,
        back_action: str = "",
        resume_code: str = "",
        resume_form_url: str = "",
        notice: str = "",
        status_code: int = 200,
    ) -> Response:
        page = build_page(
            study, view, language=language, catalogues=web.catalogues, values=values, errors=errors
        )
        title = text_in(study.title, language, study.default_language)
        # The "continue later" link is the page's own address: it carries the resume code.
        resume_url = str(request.base_url).rstrip("/") + action if resume_code else ""
        return web.render(
            "page.html",
            language=language,
            status_code=status_code,
            header_title=title,
            study=study,
            page_title=f"{page.title} – {title}" if page.title else title,
            switch=web.language_switch(request, language, study.languages),
            page=page,
            action=action,
            csrf=csrf,
            hidden=hidden or [],
            back_action=back_action,
            resume_code=resume_code,
            resume_url=resume_url,
            resume_form_url=resume_form_url,
            notice=notice,
            **offer_fields(web, study.id),
        )

    def finished_page(
        request: Request, state: ResponseState, extra: Markup | None = None
    ) -> Response:
        study = state.study
        lang = choose_language(state.language, study)
        t = web.catalogues.translator(lang)
        title = text_in(study.title, lang, study.default_language)
        switch = web.language_switch(request, lang, study.languages)
        if state.status is ResponseStatus.COMPLETED:
            closing = text_in(study.closing, lang, study.default_language)
            return web.message_page(
                language=lang,
                heading=t("Thank you"),
                paragraphs=[] if closing else [t("Your answers have been saved.")],
                body_text=closing,
                header_title=title,
                study=study,
                switch=switch,
                extra_html=extra or Markup(""),
            )
        if state.status is ResponseStatus.REFUSED:
            return web.message_page(
                language=lang,
                heading=t("Thank you for your time"),
                paragraphs=[
                    t("You have chosen not to take part. None of your answers have been kept."),
                    t("You can close this page."),
                ],
                header_title=title,
                study=study,
                switch=switch,
            )
        if state.status is ResponseStatus.SCREENED_OUT:
            texts = SCREENED_OUT_TEXTS.get(lang, SCREENED_OUT_TEXTS["en"])
            return web.message_page(
                language=lang,
                heading=texts[0],
                paragraphs=list(texts[1:]),
                header_title=title,
                study=study,
                switch=switch,
            )
        return web.message_page(
            language=lang,
            heading=t("Your answers have been withdrawn"),
            paragraphs=[t("Nothing of this response is kept any more.")],
            header_title=title,
            study=study,
            switch=switch,
        )

    def closed_page(study: Study, language: str, status_code: int = 409) -> Response:
        lang = choose_language(language, study)
        t = web.catalogues.translator(lang)
        return web.message_page(
            language=lang,
            heading=t("This survey is closed"),
            paragraphs=[web.catalogues.domain_message(lang, StudyClosed.code)],
            header_title=text_in(study.title, lang, study.default_language),
            study=study,
            status_code=status_code,
        )

    def find(study_id: str, code: str) -> ResponseState:
        state = service.resume(code)
        if state.study_id != study_id:
            # A valid code used under another study's URL: as unknown, never say it exists.
            raise ResponseNotFound()
        return state

    async def resolve(study_id: str, code: str) -> ResponseState:
        return await web.db(find, study_id, code)

    @route("/s/{study_id}", "GET")
    async def welcome(request: Request) -> Response:
        study_id = request.path_params["study_id"]
        lang, bron = request.query_params.get("lang"), request.query_params.get("bron")
        stored = await web.db(get_study, web.engine, study_id)
        study = stored.study
        language = choose_language(lang, study)
        if not stored.accepts_responses(datetime.now(UTC)):
            return closed_page(study, language)
        view = preview_page(study)
        hidden, csrf = start_fields(study_id, view.page.id, language, bron)
        return render_page(
            request,
            study=study,
            view=view,
            language=language,
            values={},
            action=f"/s/{quote(study_id)}",
            csrf=csrf,
            hidden=hidden,
            resume_form_url=f"/s/{quote(study_id)}/hervat?lang={language}",
        )

    @route("/s/{study_id}", "POST")
    async def start(request: Request) -> Response:
        study_id = request.path_params["study_id"]
        form = await read_form(request)
        stored = await web.db(get_study, web.engine, study_id)
        study = stored.study
        language = choose_language(_first(form, "_lang"), study)
        page_id = _first(form, PAGE_FIELD)
        view = preview_page(study)
        if page_id != view.page.id:
            return RedirectResponse(f"/s/{quote(study_id)}?lang={language}", status_code=303)
        start_key = _first(form, bots.START_KEY_FIELD)
        if not bots.valid_start_key(start_key) or not web.csrf_ok(
            _first(form, CSRF_FIELD), "start", study_id, page_id, start_key
        ):
            hidden, csrf = start_fields(study_id, view.page.id, language, _first(form, "_bron"))
            return render_page(
                request,
                study=study,
                view=view,
                language=language,
                values=form_answers(form, view),
                action=f"/s/{quote(study_id)}",
                csrf=csrf,
                hidden=hidden,
                notice=web.catalogues.gettext(language, FORM_EXPIRED),
                status_code=403,
            )

        # The form's start key makes a second POST of it (a double click without JavaScript,
        # a reload) continue the response the first one created.
        def start_and_store() -> tuple[ResponseState, SubmitResult | None]:
            state = service.start(
                study_id,
                language=language,
                source=_first(form, "_bron") or None,
                start_key=start_key,
            )
            return state, store_page(state, form, page_id)

        state, result = await web.db.write(start_and_store)
        return submitted(request, state, state.resume_code, result)

    def store_page(state: ResponseState, form: Form, page_id: str) -> SubmitResult | None:
        """Store a submitted page (in a worker thread); None when the page is no longer the
        current one or the response has ended (a second tab, a double click)."""
        # A filled honeypot flags the response; its answers are taken as any others.
        flags = [bots.HONEYPOT] if _first(form, bots.HONEYPOT_FIELD).strip() else []
        try:
            return service.submit_page(
                state.id, page_id, form_answers(form, state.page), from_form=True, flags=flags
            )
        except (StalePage, ResponseFinished):
            return None

    def submitted(
        request: Request, state: ResponseState, code: str, result: SubmitResult | None
    ) -> Response:
        """The answer to a page submit: on to the response's page, or the page with its errors."""
        here = response_path(state.study_id, code)
        if result is None or result.ok:
            return RedirectResponse(here, status_code=303)
        current = result.state
        assert current.page is not None  # errors are only given for a page being answered
        values: dict[str, Any] = dict(current.answers)
        values.update(result.submitted)
        return render_page(
            request,
            study=current.study,
            view=current.page,
            language=current.language,
            values=values,
            errors=result.errors,
            action=here,
            csrf=web.csrf_token(current.id, current.page.page.id),
            back_action=f"{here}/back" if current.page.can_go_back else "",
            resume_code=code,
            status_code=422,
        )

    @route("/s/{study_id}/r/{code}", "GET")
    async def show(request: Request) -> Response:
        study_id, code = request.path_params["study_id"], request.path_params["code"]
        lang = request.query_params.get("lang")
        state = await resolve(study_id, code)
        here = response_path(study_id, code_of(state, code))
        if lang and lang != state.language and lang in state.study.languages:
            await web.db.write(service.set_language, state.id, lang)
            return RedirectResponse(here, status_code=303)
        if state.page is None or state.status is not ResponseStatus.ACTIVE:
            extra = None
            if state.completed:
                for hook in web.completion_hooks:
                    await web.db.in_pool(hook, state)
                language = choose_language(state.language, state.study)
                if web.closing_section is not None:
                    base = str(request.base_url).rstrip("/")
                    # Always in the pool: it may wait for the mirror's scoring (up to 2 s).
                    extra = await run_in_threadpool(web.closing_section, state, language, base)
                # The closing page shows the code with the way to withdraw, now or later.
                offer = offer_form(web, study_id, state.resume_code, language, show_code=True)
                extra = (extra or Markup("")) + offer
            return finished_page(request, state, extra)
        return render_current(request, state, code_of(state, code))

    def render_current(
        request: Request,
        state: ResponseState,
        code: str,
        *,
        values: Mapping[str, AnswerValue | list[str]] | None = None,
        notice: str = "",
        status_code: int = 200,
    ) -> Response:
        assert state.page is not None
        here = response_path(state.study_id, code)
        return render_page(
            request,
            study=state.study,
            view=state.page,
            language=state.language,
            values=state.answers if values is None else values,
            action=here,
            csrf=web.csrf_token(state.id, state.page.page.id),
            back_action=f"{here}/back" if state.page.can_go_back else "",
            resume_code=code,
            notice=notice,
            status_code=status_code,
        )

    @route("/s/{study_id}/r/{code}", "POST")
    async def answer(request: Request) -> Response:
        study_id, code = request.path_params["study_id"], request.path_params["code"]
        form = await read_form(request)
        page_id = _first(form, PAGE_FIELD)
        token = _first(form, CSRF_FIELD)
        # A filled honeypot flags the response; its answers are taken as any others.
        flags = [bots.HONEYPOT] if _first(form, bots.HONEYPOT_FIELD).strip() else []

        # Finding the response, checking the form's token and storing the page are one
        # transaction in one database call.
        def find_and_store() -> CodeSubmit:
            return service.submit_by_code(
                code,
                page_id,
                lambda state: form_answers(form, state.page),
                study_id=study_id,
                token_ok=lambda response_id: web.csrf_ok(token, response_id, page_id),
                from_form=True,
                flags=flags,
            )

        outcome = await web.db.write(find_and_store)
        state = outcome.state
        code = code_of(state, code)
        if not outcome.token_ok:
            assert state.page is not None
            values: dict[str, Any] = dict(state.answers)
            if page_id == state.page.page.id:
                values.update(form_answers(form, state.page))
            return render_current(
                request,
                state,
                code,
                values=values,
                notice=web.catalogues.gettext(state.language, FORM_EXPIRED),
                status_code=403,
            )
        result = outcome.result
        if result is not None and result.ok:
            following = result.state
            if following.page is not None and following.status is ResponseStatus.ACTIVE:
                # The next page is the answer to the POST itself (at the same address): a
                # redirect would cost a second request that reads the response again. The
                # page's script turns the history entry into a plain GET (see vakstem.js).
                return render_current(request, following, code)
        return submitted(request, state, code, result)

    @route("/s/{study_id}/r/{code}/back", "POST")
    async def back(request: Request) -> Response:
        study_id, code = request.path_params["study_id"], request.path_params["code"]
        form = await read_form(request)
        state = await resolve(study_id, code)
        code = code_of(state, code)
        page_id = _first(form, PAGE_FIELD)
        here = response_path(study_id, code)
        # Only the page being shown may go back, so a second click does not go back twice.
        if state.status is ResponseStatus.ACTIVE and web.csrf_ok(
            _first(form, CSRF_FIELD), state.id, page_id
        ):
            with contextlib.suppress(StalePage, ResponseFinished):
                await web.db.write(service.back, state.id, page_id=page_id)
        return RedirectResponse(here, status_code=303)

    @route("/s/{study_id}/hervat", "GET")
    async def resume_form(request: Request) -> Response:
        study_id, lang = request.path_params["study_id"], request.query_params.get("lang")
        stored = await web.db(get_study, web.engine, study_id)
        study = stored.study
        language = choose_language(lang, study)
        return resume_page(study, language, code="", error="")

    def resume_page(
        study: Study, language: str, *, code: str, error: str, status_code: int = 200
    ) -> Response:
        return web.render(
            "resume.html",
            language=language,
            status_code=status_code,
            header_title=text_in(study.title, language, study.default_language),
            study=study,
            page_title=web.catalogues.gettext(language, "Continue where you left off"),
            action=f"/s/{quote(study.id)}/hervat",
            code=code,
            error=error,
        )

    @route("/s/{study_id}/hervat", "POST")
    async def resume_submit(request: Request) -> Response:
        study_id = request.path_params["study_id"]
        form = await read_form(request)
        stored = await web.db(get_study, web.engine, study_id)
        study = stored.study
        language = choose_language(_first(form, "_lang"), study)
        typed = _first(form, "code").strip()
        try:
            state = await resolve(study_id, typed) if _clean_code(typed) else None
        except ResponseNotFound:
            state = None
        if state is None:
            return resume_page(
                study,
                language,
                code=typed[:40],
                error=web.catalogues.domain_message(language, ResponseNotFound.code),
                status_code=404,
            )
        return RedirectResponse(response_path(study_id, code_of(state, typed)), status_code=303)

    return router


#: Shown when a form's CSRF token does not match (an old tab after a restart, or a forged post).
FORM_EXPIRED = N_(
    "This page had expired, so your answers were not saved yet. "
    "Please check them and send the page again."
)
