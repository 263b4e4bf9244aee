"""Withdrawal by resume code on the respondent pages: `/s/{study}/intrekken`.

Three steps, each a plain form that works without JavaScript: type the code, confirm on a page
that says plainly what happens (every answer deleted, cannot be undone), then a done page. The
code only ever travels in POST bodies, so it does not end up in access logs or browser history.

The confirmation's CSRF token is bound to the code itself: a page on another site cannot make a
respondent's browser withdraw without knowing their code (and whoever knows it could withdraw
anyway). An unknown code, and a code of another study, get the same answer, so the form reveals
nothing about other studies. Attempts are rate-limited with resume-code entry (`security.py`).

`offer_form` renders the "withdraw my answers" button shown beside a respondent's resume code
(page.html includes the same form with `offer_fields`).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, FastAPI, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from vakstem.instrument.schema import Study, text_in
from vakstem.service import resume_codes
from vakstem.service.types import AlreadyWithdrawn, ResponseNotFound, ResponseStatus
from vakstem.store.studies import get_study
from vakstem.web.context import WebContext
from vakstem.web.errors import WebError
from vakstem.web.i18n import N_
from vakstem.web.jinja import render_template

CODE_FIELD = "code"
STEP_FIELD = "_step"
CSRF_FIELD = "_csrf"
LANG_FIELD = "_lang"
#: Longer input is cut before it is shown again: nobody types a 10-character code in 40.
MAX_SHOWN = 40

NO_CODE = N_("Enter your code.")
MALFORMED = N_(
    "This is not a valid code. A code has 10 letters and digits, for example K7QM-3XHD-9P."
)
UNKNOWN = N_("We could not find answers with this code in this survey. Please check the code.")
EXPIRED = N_("This page had expired, so nothing has been deleted. Please try again.")
ALREADY_HEADING = N_("Your answers have already been withdrawn")
ALREADY_TEXT = N_("The answers given with this code were deleted earlier. Nothing of them is kept.")
DONE_TEXT = N_("We have deleted all the answers you gave with this code.")
#: What is kept: the response row (status, times, language; no answers), so that the code
#: answers "already withdrawn" and response rates stay right.
DONE_KEPT = N_("We keep no answers, only a note that this code has been withdrawn.")


def path(study_id: str) -> str:
    return f"/s/{quote(study_id, safe='')}/intrekken"


def _ask_token(web: WebContext, study_id: str) -> str:
    return web.csrf_token("withdraw", study_id)


def _confirm_token(web: WebContext, study_id: str, code: str) -> str:
    return web.csrf_token("withdraw-confirm", study_id, code)


def offer_fields(web: WebContext, study_id: str) -> dict[str, str]:
    """What `_withdraw_offer.html` needs besides the code: a page that shows the code (page.html)
    includes the form itself, with these in its context."""
    return {"withdraw_action": path(study_id), "withdraw_csrf": _ask_token(web, study_id)}


def offer_form(
    web: WebContext, study_id: str, code: str, language: str, *, show_code: bool
) -> Markup:
    """The "withdraw my answers" button for a respondent who has `code` in view; it posts the
    code to the first step, which leads to the confirmation (nothing is deleted by this form).
    With `show_code` the code is shown too (the closing page, which does not show it otherwise)."""
    html = render_template(
        web.env,
        web.catalogues,
        "_withdraw_offer.html",
        language=language,
        withdraw_code=code,
        withdraw_show_code=show_code,
        **offer_fields(web, study_id),
    )
    # Rendered by the autoescaping environment: every value in it is escaped already.
    return Markup(html)


async def _read_form(request: Request) -> dict[str, str]:
    """The urlencoded form body, first value per name (the guard checked its UTF-8)."""
    body = await request.body()
    if not body:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise WebError(415, "form_type")
    form: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"):
        form.setdefault(name, value)
    return form


def build_router(web: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    service = web.service

    language_of = web.study_language

    def ask_page(
        request: Request | None,
        study: Study,
        language: str,
        *,
        code: str = "",
        error: str = "",
        notice: str = "",
        status_code: int = 200,
    ) -> Response:
        t = web.catalogues.translator(language)
        title = text_in(study.title, language, study.default_language)
        return web.render(
            "withdraw.html",
            language=language,
            status_code=status_code,
            step="ask",
            header_title=title,
            study=study,
            page_title=f"{t('Withdraw your answers')} – {title}",
            # Only the GET page switches language: a switch link cannot repeat a POST.
            switch=web.language_switch(request, language, study.languages) if request else [],
            action=path(study.id),
            csrf=_ask_token(web, study.id),
            code=code[:MAX_SHOWN],
            error=t(error) if error else "",
            notice=t(notice) if notice else "",
        )

    def confirm_page(study: Study, language: str, code: str) -> Response:
        t = web.catalogues.translator(language)
        title = text_in(study.title, language, study.default_language)
        return web.render(
            "withdraw.html",
            language=language,
            step="confirm",
            header_title=title,
            study=study,
            page_title=f"{t('Are you sure?')} – {title}",
            action=path(study.id),
            csrf=_confirm_token(web, study.id, code),
            code=resume_codes.display(code),
            resume_action=f"/s/{quote(study.id, safe='')}/hervat",
        )

    def already_page(study: Study, language: str) -> Response:
        t = web.catalogues.translator(language)
        return web.message_page(
            language=language,
            heading=t(ALREADY_HEADING),
            paragraphs=[t(ALREADY_TEXT), t("You can close this page.")],
            header_title=text_in(study.title, language, study.default_language),
            study=study,
            status_code=409,
        )

    async def load(study_id: str) -> Study:
        stored = await run_in_threadpool(get_study, web.engine, study_id)
        return stored.study

    @router.get("/s/{study_id}/intrekken")
    async def ask(request: Request, study_id: str, lang: str | None = None) -> Response:
        study = await load(study_id)
        return ask_page(request, study, language_of(lang, study))

    @router.post("/s/{study_id}/intrekken")
    async def submit(request: Request, study_id: str) -> Response:
        form = await _read_form(request)
        study = await load(study_id)
        language = language_of(form.get(LANG_FIELD), study)
        typed = form.get(CODE_FIELD, "").strip()
        code = resume_codes.normalise(typed)
        confirming = form.get(STEP_FIELD) == "confirm"
        token = form.get(CSRF_FIELD, "")
        if confirming and code is not None:
            token_ok = web.csrf_ok(token, "withdraw-confirm", study.id, code)
        else:
            token_ok = web.csrf_ok(token, "withdraw", study.id)
        if not token_ok:
            return ask_page(None, study, language, code=typed, notice=EXPIRED, status_code=403)
        if not typed:
            return ask_page(None, study, language, error=NO_CODE, status_code=422)
        if code is None:
            return ask_page(None, study, language, code=typed, error=MALFORMED, status_code=422)
        if not confirming:
            try:
                state = await run_in_threadpool(service.resume, code)
            except ResponseNotFound:
                state = None
            if state is None or state.study_id != study.id:
                return ask_page(None, study, language, code=typed, error=UNKNOWN, status_code=404)
            if state.status is ResponseStatus.WITHDRAWN:
                return already_page(study, language)
            return confirm_page(study, language, code)
        try:
            await run_in_threadpool(service.withdraw, code, study_id=study.id)
        except ResponseNotFound:
            return ask_page(None, study, language, code=typed, error=UNKNOWN, status_code=404)
        except AlreadyWithdrawn:
            return already_page(study, language)
        # Post/redirect/get: reloading the done page does not send the form again.
        return RedirectResponse(f"{path(study.id)}/klaar?lang={language}", status_code=303)

    @router.get("/s/{study_id}/intrekken/klaar")
    async def done(request: Request, study_id: str, lang: str | None = None) -> Response:
        study = await load(study_id)
        language = language_of(lang, study)
        t = web.catalogues.translator(language)
        return web.message_page(
            language=language,
            heading=t("Your answers have been withdrawn"),
            paragraphs=[
                t(DONE_TEXT),
                t(DONE_KEPT),
                t("You can close this page."),
            ],
            header_title=text_in(study.title, language, study.default_language),
            study=study,
            switch=web.language_switch(request, language, study.languages),
        )

    return router


def install(app: FastAPI, web: WebContext) -> None:
    """Add the withdrawal pages to `app`."""
    app.include_router(build_router(web))
