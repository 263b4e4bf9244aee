"""The privacy statement of a study at `/s/{study_id}/privacy`: who is responsible for the
answers, what is collected, why, how long it is kept, the respondent's rights and whom to ask.

The facts come from the study file's `privacy` block; the headings, the standard rights text
(AVG/GDPR), withdrawal with the resume code and the complaint to the Autoriteit
Persoonsgegevens come from the interface catalogues, so every study says them the same way.
The page is shown in any status (respondents may read it after the study closed); a study
without a privacy block is a draft that cannot open, and its page says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vakstem.instrument.schema import Study, text_in
from vakstem.store.studies import get_study
from vakstem.web.i18n import N_

if TYPE_CHECKING:
    from vakstem.web.context import WebContext

PAGE_TITLE = N_("Privacy statement")
NOT_YET = N_(
    "The researchers have not published a privacy statement for this survey yet. "
    "The survey cannot start before they do."
)

#: The Dutch data protection authority, where every respondent may complain.
AUTHORITY_URL = "https://autoriteitpersoonsgegevens.nl"


def privacy_path(study: Study, language: str) -> str:
    """The address of the study's privacy page in `language`; "" when it has no statement."""
    if study.privacy is None:
        return ""
    return f"/s/{quote(study.id, safe='')}/privacy?lang={quote(language, safe='')}"


def withdraw_path(study_id: str) -> str:
    # Built here rather than imported: the withdrawal page lives in its own module.
    return f"/s/{quote(study_id, safe='')}/intrekken"


def build_router(web: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    language_of = web.study_language

    @router.get("/s/{study_id}/privacy")
    async def privacy_page(request: Request, study_id: str, lang: str | None = None) -> Response:
        # An unknown study raises StudyNotFound: the normal 404 page.
        stored = await run_in_threadpool(get_study, web.engine, study_id)
        study = stored.study
        language = language_of(lang, study)
        title = text_in(study.title, language, study.default_language)
        heading = web.catalogues.gettext(language, PAGE_TITLE)
        switch = web.language_switch(request, language, study.languages)
        privacy = study.privacy
        if privacy is None:
            return web.message_page(
                language=language,
                heading=heading,
                paragraphs=[web.catalogues.gettext(language, NOT_YET)],
                header_title=title,
                page_title=f"{heading} – {title}",
                switch=switch,
                status_code=404,
            )

        def text(value: str | dict[str, str] | None) -> str:
            return text_in(value, language, study.default_language)

        return web.render(
            "privacy.html",
            language=language,
            header_title=title,
            page_title=f"{heading} – {title}",
            switch=switch,
            heading=heading,
            controllers=[
                {"name": text(c.name), "contact": text(c.contact)} for c in privacy.controllers
            ],
            collected=text(privacy.collected),
            purpose=text(privacy.purpose),
            legal_basis=text(privacy.legal_basis),
            retention=text(privacy.retention),
            rights=text(privacy.rights),
            anonymous=study.settings.anonymous,
            email=privacy.contact.email.strip(),
            dpo=text(privacy.contact.dpo),
            withdraw_url=f"{withdraw_path(study.id)}?lang={quote(language, safe='')}",
            authority_url=AUTHORITY_URL,
            survey_url=f"/s/{quote(study.id, safe='')}?lang={quote(language, safe='')}",
        )

    return router


def install(app: FastAPI, web: WebContext) -> None:
    """Add the privacy page to `app`."""
    app.include_router(build_router(web))
