"""Respondent-side pages of reaching respondents: the counted source links (`/s/{study}/l/{tag}`),
personal invitation links (`/s/{study}/i/{token}`) with their decline page, and the friendly page
for a full quota. `install(app, web)` adds them (one line in `create_app`), hooks the recording
of invited completions onto the closing page, and purges contact data past its retention time.

Opening a link changes nothing but a counter; an invitation is used only when its page is
submitted (mail scanners and link previews fetch links too). Unknown, expired and purged tokens
all get the same 404 page, so the page tells a guesser nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Request
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from vakstem.instrument.schema import Study, text_in
from vakstem.service import invitations, links, quotas
from vakstem.service.invitations import LinkState
from vakstem.service.types import ResponseState
from vakstem.store.studies import StoredStudy, get_study
from vakstem.web.context import WebContext
from vakstem.web.respondent import CSRF_FIELD, read_form

log = logging.getLogger(__name__)

#: Texts of these pages, Dutch first (the interface catalogues belong to the respondent pages).
TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "quota_heading": "Dank je wel voor je belangstelling",
        "quota_body": "We hebben voor deze groep al genoeg deelnemers. Nieuwe deelnemers kunnen "
        "niet meer beginnen. Ben je al begonnen? Dan kun je gewoon afmaken met je code.",
        "invite_heading": "Je bent uitgenodigd",
        "invite_body": "Met de knop hieronder begin je aan de vragenlijst. We koppelen je "
        "antwoorden nooit aan deze uitnodiging of aan je e-mailadres.",
        "start": "Begin met de vragenlijst",
        "decline_link": "Ik wil niet meedoen",
        "used_heading": "Deze uitnodiging is al gebruikt",
        "used_body": "Met deze persoonlijke link is de vragenlijst al begonnen. Ga verder met de "
        "link of de code die je toen kreeg.",
        "resume": "Verder met mijn code",
        "declined_heading": "Je hebt laten weten dat je niet meedoet",
        "declined_body": "Je krijgt geen herinneringen meer. Dank je wel dat je het liet weten.",
        "decline_heading": "Niet meedoen?",
        "decline_body": "Bevestig je dit? Dan krijg je geen herinneringen meer over dit onderzoek.",
        "decline_confirm": "Ja, ik doe niet mee",
        "invalid_heading": "Deze link werkt niet",
        "invalid_body": "Deze uitnodigingslink bestaat niet of is niet meer geldig.",
    },
    "en": {
        "quota_heading": "Thank you for your interest",
        "quota_body": "We already have enough participants in this group, so the questionnaire "
        "is closed to new participants. Already started? You can still finish with your code.",
        "invite_heading": "You are invited",
        "invite_body": "The button below starts the questionnaire. Your answers are never linked "
        "to this invitation or to your email address.",
        "start": "Start the questionnaire",
        "decline_link": "I do not want to take part",
        "used_heading": "This invitation has been used",
        "used_body": "The questionnaire was already started with this personal link. Continue "
        "with the link or the code you were given then.",
        "resume": "Continue with my code",
        "declined_heading": "You have said you will not take part",
        "declined_body": "You will get no more reminders. Thank you for letting us know.",
        "decline_heading": "Not taking part?",
        "decline_body": "If you confirm, you will get no more reminders about this study.",
        "decline_confirm": "Yes, I will not take part",
        "invalid_heading": "This link does not work",
        "invalid_body": "This invitation link does not exist or is no longer valid.",
    },
}


def text(language: str, key: str) -> str:
    return TEXTS.get(language, TEXTS["nl"])[key]


def build_router(web: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    engine = web.engine

    def language_of(requested: str | None, study: Study) -> str:
        for lang in (requested, study.default_language, "nl"):
            if lang and lang in TEXTS and lang in study.languages:
                return lang
        return "nl"

    def page(
        study: Study,
        language: str,
        heading: str,
        body: str,
        *,
        extra: Markup | None = None,
        status_code: int = 200,
    ) -> Response:
        response = web.message_page(
            language=language,
            heading=heading,
            paragraphs=[body],
            header_title=text_in(study.title, language, study.default_language),
            study=study,
            extra_html=extra or Markup(""),
            status_code=status_code,
        )
        # A personal link must not be kept in shared caches.
        response.headers["cache-control"] = "no-store"
        response.headers["referrer-policy"] = "no-referrer"
        return response

    def button_form(
        action: str, label: str, csrf: str, *, secondary: Markup | None = None
    ) -> Markup:
        html = (
            f'<form method="post" action="{escape(action)}">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">'
            f'<button type="submit">{escape(label)}</button></form>'
        )
        return Markup(html) + (secondary or Markup(""))

    async def stored_study(study_id: str) -> StoredStudy:
        return await run_in_threadpool(get_study, engine, study_id)

    def quota_page(study: Study, language: str) -> Response:
        resume = Markup(
            f'<p><a href="/s/{escape(quote(study.id))}/hervat?lang={language}">'
            f"{escape(text(language, 'resume'))}</a></p>"
        )
        return page(
            study,
            language,
            text(language, "quota_heading"),
            text(language, "quota_body"),
            extra=resume,
            status_code=409,
        )

    # -- counted source links ----------------------------------------------------------------

    async def follow_link(study_id: str, tag: str | None, lang: str | None) -> Response:
        stored = await stored_study(study_id)
        accepted = await run_in_threadpool(links.all_tags, engine, study_id)
        source = tag if tag in accepted else None
        now = datetime.now(UTC)
        await run_in_threadpool(links.count_open, engine, study_id, source, now.date())
        language = language_of(lang, stored.study)
        if stored.accepts_responses(now) and not await run_in_threadpool(
            quotas.has_room, engine, study_id, source, now
        ):
            return quota_page(stored.study, language)
        query = {"bron": source} if source else {}
        if lang:
            query["lang"] = language
        target = f"/s/{quote(study_id)}" + (f"?{urlencode(query)}" if query else "")
        return RedirectResponse(target, status_code=303)

    @router.get("/s/{study_id}/l")
    async def plain_link(study_id: str, lang: str | None = None) -> Response:
        return await follow_link(study_id, None, lang)

    @router.get("/s/{study_id}/l/{tag}")
    async def source_link(study_id: str, tag: str, lang: str | None = None) -> Response:
        return await follow_link(study_id, tag, lang)

    # -- personal invitations ----------------------------------------------------------------

    def invalid(study: Study, language: str) -> Response:
        return page(
            study,
            language,
            text(language, "invalid_heading"),
            text(language, "invalid_body"),
            status_code=404,
        )

    def outcome_page(study: Study, state: LinkState, language: str) -> Response:
        if state is LinkState.USED:
            resume = Markup(
                f'<p><a class="button" href="/s/{escape(quote(study.id))}/hervat?lang='
                f'{language}">{escape(text(language, "resume"))}</a></p>'
            )
            return page(
                study,
                language,
                text(language, "used_heading"),
                text(language, "used_body"),
                extra=resume,
                status_code=409,
            )
        if state is LinkState.DECLINED:
            return page(
                study, language, text(language, "declined_heading"), text(language, "declined_body")
            )
        return invalid(study, language)

    async def look(study_id: str, token: str) -> tuple[Study, invitations.LinkOutcome]:
        stored = await stored_study(study_id)
        outcome = await run_in_threadpool(
            invitations.inspect, engine, study_id, token, datetime.now(UTC)
        )
        return stored.study, outcome

    @router.get("/s/{study_id}/i/{token}")
    async def invitation(study_id: str, token: str, lang: str | None = None) -> Response:
        study, outcome = await look(study_id, token)
        language = language_of(lang or outcome.language, study)
        if outcome.state is not LinkState.STARTED:
            return outcome_page(study, outcome.state, language)
        here = f"/s/{quote(study_id)}/i/{quote(token)}"
        decline = Markup(
            f'<p><a href="{escape(here)}/weiger?lang={language}">'
            f"{escape(text(language, 'decline_link'))}</a></p>"
        )
        form = button_form(
            here,
            text(language, "start"),
            web.csrf_token("invitation", study_id, token),
            secondary=decline,
        )
        return page(
            study,
            language,
            text(language, "invite_heading"),
            text(language, "invite_body"),
            extra=form,
        )

    @router.post("/s/{study_id}/i/{token}")
    async def invitation_start(request: Request, study_id: str, token: str) -> Response:
        form = await read_form(request)
        study, seen = await look(study_id, token)
        language = language_of(seen.language, study)
        if not web.csrf_ok((form.get(CSRF_FIELD) or [""])[0], "invitation", study_id, token):
            return RedirectResponse(f"/s/{quote(study_id)}/i/{quote(token)}", status_code=303)
        try:
            outcome = await run_in_threadpool(
                invitations.use, engine, web.service.start, study_id, token
            )
        except quotas.QuotaFull:
            return quota_page(study, language)
        if outcome.response is None:
            return outcome_page(study, outcome.state, language)
        code = outcome.response.resume_code
        return RedirectResponse(f"/s/{quote(study_id)}/r/{quote(code)}", status_code=303)

    @router.get("/s/{study_id}/i/{token}/weiger")
    async def decline_form(study_id: str, token: str, lang: str | None = None) -> Response:
        study, outcome = await look(study_id, token)
        language = language_of(lang or outcome.language, study)
        if outcome.state is LinkState.INVALID or outcome.state is LinkState.DECLINED:
            return outcome_page(study, outcome.state, language)
        form = button_form(
            f"/s/{quote(study_id)}/i/{quote(token)}/weiger",
            text(language, "decline_confirm"),
            web.csrf_token("decline", study_id, token),
        )
        return page(
            study,
            language,
            text(language, "decline_heading"),
            text(language, "decline_body"),
            extra=form,
        )

    @router.post("/s/{study_id}/i/{token}/weiger")
    async def decline(request: Request, study_id: str, token: str) -> Response:
        form = await read_form(request)
        study, outcome = await look(study_id, token)
        language = language_of(outcome.language, study)
        if not web.csrf_ok((form.get(CSRF_FIELD) or [""])[0], "decline", study_id, token):
            return RedirectResponse(
                f"/s/{quote(study_id)}/i/{quote(token)}/weiger", status_code=303
            )
        if not await run_in_threadpool(invitations.decline, engine, study_id, token):
            return invalid(study, language)
        return outcome_page(study, LinkState.DECLINED, language)

    return router


def install(app: FastAPI, web: WebContext) -> None:
    """Add the pages, record invited completions on the closing page, purge old contacts."""
    app.include_router(build_router(web))

    def record_completion(state: ResponseState) -> None:
        # The closing page is where the resume code is known once the response is complete:
        # the one moment the invitation can be marked completed without a stored link. It
        # runs under the cap on database calls (`completion_hooks`): outside it, under load on
        # PostgreSQL, it took most of the connections opened and closed beyond the pool's ten.
        if state.resume_code and not state.is_test:
            invitations.record_completion(web.engine, state.study_id, state.resume_code)

    web.completion_hooks.append(record_completion)
    try:
        purged = invitations.purge_expired(web.engine, web.settings.contact_retention_days)
    except Exception:  # start-up must not fail over housekeeping; the command can run it
        log.exception("purging expired contact data failed")
    else:
        if purged:
            log.info("purged expired contact data of: %s", ", ".join(purged))
