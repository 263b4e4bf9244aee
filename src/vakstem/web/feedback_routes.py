"""Web pages of the feedback surfaces: the personal mirror (on the closing page and at
`/s/{study}/r/{code}/spiegel`) and the public summary (`/s/{study}/resultaten`, only when an
owner switched it on). The pages are thin: `vakstem.feedback` builds and renders the content,
through its disclosure control; this module wraps it in the respondent pages' layout.

`build_router` also installs the mirror on the closing page (`WebContext.closing_section`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vakstem.feedback.data import CompletedState, completed_state, load_feedback_data
from vakstem.feedback.findings import stored_findings
from vakstem.feedback.mirror import (
    MirrorService,
    mirror_scales,
    render_mirror,
    render_mirror_pending,
)
from vakstem.feedback.render import TEMPLATE_DIR as FEEDBACK_TEMPLATES
from vakstem.feedback.store import public_summary_enabled
from vakstem.feedback.summary import build_summary, render_summary
from vakstem.instrument.schema import Study, text_in
from vakstem.service.types import ResponseNotFound, ResponseState, ResponseStatus
from vakstem.store.analysis_runs import latest_run_id
from vakstem.store.studies import StudyStatus, get_study, list_studies
from vakstem.web.context import WebContext
from vakstem.web.i18n import N_
from vakstem.web.jinja import render_template
from vakstem.web.privacy_routes import privacy_path

#: Seconds a closing page waits for the mirror's everyone-figures before it says they are on
#: their way (the first scoring after a start reads every completed response).
MIRROR_WAIT_S = 2.0

MIRROR_TITLE = N_("Your answers compared")
SUMMARY_TITLE = N_("Results")
SUMMARY_OFF = N_("The results of this survey are not public (yet).")


def build_router(web: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    mirrors = MirrorService(web.engine)
    env = web.env.overlay(
        loader=ChoiceLoader([FileSystemLoader(FEEDBACK_TEMPLATES), web.env.loader])  # type: ignore[list-item]
    )
    # Keyed by the state of the completed responses and the latest stored analysis run: a new
    # run (findings), a new response or one gone (withdrawn, excluded, deleted) makes a new
    # page. The state is one statement of counts, not the list of every completed response.
    summaries: OrderedDict[tuple[str, CompletedState, int | None, str], Markup] = OrderedDict()
    findings = stored_findings(web.engine)
    lock = threading.Lock()

    language_of = web.study_language

    def mirror_url(base: str, state: ResponseState) -> str:
        return f"{base}/s/{quote(state.study_id)}/r/{quote(state.resume_code)}/spiegel"

    def closing_section(state: ResponseState, language: str, base: str) -> Markup:
        if not mirror_scales(state.study):
            return Markup("")
        later = mirror_url(base, state)
        mirror = mirrors.mirror_within(state.study_id, state.answers, MIRROR_WAIT_S)
        if mirror is None:
            return render_mirror_pending(state.study, language, later_url=later)
        return render_mirror(mirror, language, later_url=later)

    web.closing_section = closing_section

    def warm_mirrors(stop: threading.Event) -> None:
        open_ids = [
            listing.study_id
            for listing in list_studies(web.engine)
            if listing.status is StudyStatus.OPEN and listing.completes
        ]
        mirrors.warm(open_ids, stop)

    web.warmups.append(warm_mirrors)

    def page(
        request: Request,
        study: Study,
        language: str,
        content: Markup,
        title: str,
        *,
        heading: str = "",
    ) -> Response:
        html = render_template(
            env,
            web.catalogues,
            "web_page.html",
            language=language,
            header_title=text_in(study.title, language, study.default_language),
            page_title=f"{title} – {text_in(study.title, language, study.default_language)}",
            switch=web.language_switch(request, language, study.languages),
            heading=heading,
            content=content,
            privacy_url=privacy_path(study, language),
        )
        return HTMLResponse(html)

    @router.get("/s/{study_id}/r/{code}/spiegel")
    async def mirror_page(
        request: Request, study_id: str, code: str, lang: str | None = None
    ) -> Response:
        state = await run_in_threadpool(web.service.resume, code)
        if state.study_id != study_id:
            raise ResponseNotFound()
        if state.status is not ResponseStatus.COMPLETED:
            # Nothing to compare yet (or any more): the respondent's own page says where they are.
            return RedirectResponse(f"/s/{quote(study_id)}/r/{quote(code)}", status_code=303)
        language = language_of(lang or state.language, state.study)
        base = str(request.base_url).rstrip("/")
        content = await run_in_threadpool(closing_section, state, language, base)
        title = web.catalogues.gettext(language, MIRROR_TITLE)
        return page(request, state.study, language, content, title, heading=title)

    def summary_content(study_id: str, language: str) -> Markup | None:
        if not public_summary_enabled(web.engine, study_id):
            return None
        run = latest_run_id(web.engine, study_id)
        # Read before the data: a response completed in between only makes the page newer
        # than its key, and the next request, seeing the new state, builds it again.
        state = completed_state(web.engine, study_id)
        key = (study_id, state, run, language)
        with lock:
            cached = summaries.get(key)
        if cached is not None:
            return cached
        data = load_feedback_data(web.engine, study_id)
        content = render_summary(build_summary(data, language, findings=findings))
        with lock:
            for old in [k for k in summaries if k[0] == study_id and k[1:3] != key[1:3]]:
                del summaries[old]
            summaries[key] = content
            while len(summaries) > 32:
                summaries.popitem(last=False)
        return content

    @router.get("/s/{study_id}/resultaten")
    async def summary_page(request: Request, study_id: str, lang: str | None = None) -> Response:
        stored = await run_in_threadpool(get_study, web.engine, study_id)
        study = stored.study
        language = language_of(lang, study)
        content = await run_in_threadpool(summary_content, study_id, language)
        title = web.catalogues.gettext(language, SUMMARY_TITLE)
        if content is None:
            return web.message_page(
                language=language,
                heading=title,
                paragraphs=[web.catalogues.gettext(language, SUMMARY_OFF)],
                header_title=text_in(study.title, language, study.default_language),
                study=study,
                status_code=404,
            )
        return page(request, study, language, content, title)

    return router


def install(app: FastAPI, web: WebContext) -> None:
    """Add the feedback pages to `app` and the mirror to its closing page."""
    app.include_router(build_router(web))
