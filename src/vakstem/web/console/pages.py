"""The researcher console's HTML pages under `/console`: login and account, the study list, and
per study the fieldwork dashboard, responses, members, questionnaire versions, export and the
audit trail. Pages are server-rendered and work without scripts; every form carries a CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from vakstem.export.api import export_filename, stream_export
from vakstem.export.formats import FORMATS
from vakstem.export.missing import ExportError
from vakstem.export.table import ExportOptions
from vakstem.instrument.schema import text_in
from vakstem.service import audit, console
from vakstem.service.account_mail import mail_configured, send_reset
from vakstem.service.accounts import AccountError, Role, TotpRequired
from vakstem.service.dashboard import compute_dashboard, daily_chart_svg
from vakstem.service.mailer import MailServerError, RecipientRefused
from vakstem.service.types import DomainError
from vakstem.store.studies import StudyStatus, list_studies
from vakstem.web.console import xlsform_upload
from vakstem.web.console.auth import ConsoleAuth, StudyAccess, Who, form_str
from vakstem.web.console.i18n import ConsoleCatalogues
from vakstem.web.context import WebContext
from vakstem.web.i18n import N_
from vakstem.web.jinja import render_template

log = logging.getLogger(__name__)

#: Life-cycle buttons an owner sees per status: (target status, button label).
TRANSITIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "draft": (("open", N_("Open the study")),),
    "open": (("closed", N_("Close the study")),),
    "closed": (("open", N_("Reopen the study")), ("archived", N_("Archive the study"))),
    "archived": (),
}
STATUS_LABELS = {
    "draft": N_("draft"),
    "open": N_("open"),
    "closed": N_("closed"),
    "archived": N_("archived"),
}
ROLE_LABELS = {
    "owner": N_("owner"),
    "researcher": N_("researcher"),
    "viewer": N_("viewer (aggregates only)"),
}
#: Messages of account and console errors shown on the pages (the English `detail` otherwise).
ERROR_MESSAGES = {
    "login_failed": N_("Wrong email address or password."),
    "account_locked": N_(
        "Too many failed attempts: this account is locked for a while. Try again later."
    ),
    "totp_required": N_("Enter the code from your authenticator app."),
}
#: Opening, or a new version of an open study, without a privacy statement (the command line
#: says the same in English, pointing to `vakstem study load` instead of the upload).
NO_PRIVACY_TO_OPEN = N_(
    "This study has no privacy statement, so it cannot open. Add a privacy block to the study "
    "file and upload it as a new version."
)
NO_PRIVACY_WHILE_OPEN = N_(
    "This study is open, so a new version needs a privacy statement: add the privacy block to "
    "the study file."
)
LANGUAGE_COOKIE = "vakstem_console_lang"
#: At most one "forgot my password" email per account in this time.
RESET_MAIL_INTERVAL = timedelta(minutes=5)
#: Seconds between dashboard refreshes when scripts are on.
REFRESH_SECONDS = 30


def reset_url(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + f"/console/reset/{token}"


def _safe_next(target: str | None) -> str:
    # Only paths inside the console: an open redirect would let a link send people elsewhere.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


def _parse_moment(value: str) -> datetime | None:
    """A `datetime-local` form value (taken as UTC), or None when empty."""
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise console.ConsoleError(f"not a date and time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_router(web: WebContext, auth: ConsoleAuth) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    accounts = auth.accounts
    engine = web.engine
    catalogues = ConsoleCatalogues(web.catalogues)
    cache = auth.records

    def language(request: Request) -> str:
        # `?lang=` from the language switch, remembered in a cookie for the next pages.
        chosen = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
        return catalogues.language(chosen or None)

    def render(
        request: Request,
        name: str,
        *,
        who: Who | None = None,
        access: StudyAccess | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        lang = language(request)
        context.setdefault("notice", "")
        context.setdefault("error", "")
        context.setdefault("problems", [])
        if access is not None:
            who = access.who
            context["study_title"] = text_in(access.stored.study.title, lang)
            context["header_title"] = f"Vakstem · {context['study_title']}"
        html = render_template(
            web.env,
            catalogues,
            name,
            language=lang,
            who=who,
            user=who.user if who else None,
            csrf=auth.csrf(who) if who else "",
            access=access,
            Role=Role,
            status_labels=STATUS_LABELS,
            role_labels=ROLE_LABELS,
            switch=web.language_switch(request, lang, ("nl", "en")),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code)
        # Console pages show research data: never keep them in a shared cache or history.
        response.headers["cache-control"] = "no-store"
        if request.query_params.get("lang") == lang:
            response.set_cookie(
                LANGUAGE_COOKIE, lang, path="/console", samesite="lax", max_age=365 * 86400
            )
        return response

    def back_to(path: str, **params: str) -> RedirectResponse:
        query = "&".join(f"{k}={quote(v)}" for k, v in params.items() if v)
        return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)

    def study_url(study_id: str, rest: str = "") -> str:
        return f"/console/studies/{quote(study_id)}{rest}"

    async def who_of(request: Request) -> Who:
        return await run_in_threadpool(auth.session_who, request)

    async def access_of(request: Request, study_id: str, needed: Role) -> StudyAccess:
        who = await who_of(request)
        return await run_in_threadpool(auth.study, who, study_id, needed)

    # -- login, logout, reset -------------------------------------------------------------------

    @router.get("/login")
    async def login_form(request: Request, next: str | None = None) -> Response:
        response = render(
            request,
            "console/login.html",
            anon_csrf=auth.anon_csrf(request),
            next=_safe_next(next),
            email="",
            ask_code=False,
        )
        auth.attach_anon_cookie(request, response)
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        auth.check_anon_csrf(request, form)
        email = form_str(form, "email")
        target = _safe_next(form_str(form, "next"))
        try:
            user = await run_in_threadpool(
                accounts.authenticate,
                email,
                form_str(form, "password"),
                form_str(form, "code") or None,
            )
        except AccountError as exc:
            response = render(
                request,
                "console/login.html",
                anon_csrf=auth.anon_csrf(request),
                next=target,
                email=email,
                ask_code=isinstance(exc, TotpRequired),
                error=ERROR_MESSAGES.get(exc.code, exc.detail),
                status_code=401,
            )
            auth.attach_anon_cookie(request, response)
            return response
        token = await run_in_threadpool(accounts.start_session, user)
        response = RedirectResponse(target, status_code=303)
        auth.set_session_cookie(response, token)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        who = await who_of(request)
        await auth.form(request, who)
        await run_in_threadpool(accounts.end_session, who.session_token, actor=who.user.actor)
        response = RedirectResponse("/console/login", status_code=303)
        auth.clear_session_cookie(response)
        return response

    @router.get("/reset/{token}")
    async def reset_form(request: Request, token: str) -> Response:
        try:
            user = await run_in_threadpool(accounts.reset_user, token)
        except AccountError:
            raise HTTPException(404) from None
        response = render(
            request,
            "console/reset.html",
            anon_csrf=auth.anon_csrf(request),
            email=user.email,
            token=token,
        )
        auth.attach_anon_cookie(request, response)
        return response

    @router.post("/reset/{token}")
    async def reset(request: Request, token: str) -> Response:
        form = await request.form()
        auth.check_anon_csrf(request, form)
        password = form_str(form, "password")
        try:
            if password != form_str(form, "password2"):
                raise AccountError("the two passwords differ")
            await run_in_threadpool(accounts.use_reset, token, password)
        except AccountError as exc:
            try:
                user = await run_in_threadpool(accounts.reset_user, token)
            except AccountError:
                raise HTTPException(404) from None
            return render(
                request,
                "console/reset.html",
                anon_csrf=auth.anon_csrf(request),
                email=user.email,
                token=token,
                error=exc.detail,
                status_code=400,
            )
        return back_to("/console/login", notice="password_reset")

    @router.get("/forgot")
    async def forgot_form(request: Request) -> Response:
        response = render(
            request,
            "console/forgot.html",
            anon_csrf=auth.anon_csrf(request),
            mail=mail_configured(web.settings),
            sent=False,
        )
        auth.attach_anon_cookie(request, response)
        return response

    @router.post("/forgot")
    async def forgot(request: Request) -> Response:
        form = await request.form()
        auth.check_anon_csrf(request, form)
        configured = mail_configured(web.settings)
        user = await run_in_threadpool(accounts.find, form_str(form, "email"))
        if configured and user is not None:
            recent = await run_in_threadpool(accounts.recent_reset, user, RESET_MAIL_INTERVAL)
            if not recent:
                token = await run_in_threadpool(accounts.create_reset, user, actor=user.actor)
                try:
                    await run_in_threadpool(
                        send_reset, web.settings, user, reset_url(request, token)
                    )
                except (MailServerError, RecipientRefused):
                    # Said the same way as success: the page must not tell whether an
                    # account exists; the failure is in the server's log.
                    log.exception("could not send a password reset email")
        # The same answer whether or not the address has an account.
        response = render(
            request,
            "console/forgot.html",
            anon_csrf=auth.anon_csrf(request),
            mail=configured,
            sent=configured,
        )
        auth.attach_anon_cookie(request, response)
        return response

    # -- home and account -----------------------------------------------------------------------

    @router.get("")
    async def home(request: Request) -> Response:
        who = await who_of(request)
        roles = await run_in_threadpool(auth.my_studies, who.user)
        listing = {s.study_id: s for s in await run_in_threadpool(list_studies, engine)}
        rows = []
        for study_id, role in roles.items():
            if study_id in listing:
                rows.append({"listing": listing[study_id], "role": role})
        return render(request, "console/home.html", who=who, rows=rows)

    @router.get("/account")
    async def account(request: Request, totp: str = "", notice: str = "") -> Response:
        who = await who_of(request)
        return await account_page(request, who, notice=notice, totp_required=totp == "required")

    async def account_page(
        request: Request,
        who: Who,
        *,
        notice: str = "",
        error: str = "",
        new_token: str = "",
        totp_uri: str = "",
        totp_required: bool = False,
        status_code: int = 200,
    ) -> Response:
        user = await run_in_threadpool(accounts.get, who.user.id)
        assert user is not None
        tokens = await run_in_threadpool(accounts.api_tokens, user)
        qr = Markup("")
        secret = ""
        if totp_uri:
            qr = Markup(segno.make(totp_uri, error="m").svg_inline(scale=4))
            secret = totp_uri.split("secret=", 1)[1].split("&", 1)[0]
        return render(
            request,
            "console/account.html",
            who=Who(user, who.session_token),
            tokens=tokens,
            new_token=new_token,
            totp_uri=totp_uri,
            totp_qr=qr,
            totp_secret=secret,
            totp_required=totp_required or accounts.needs_totp_setup(user),
            notice=notice,
            error=error,
            status_code=status_code,
        )

    @router.post("/account/password")
    async def change_password(request: Request) -> Response:
        who = await who_of(request)
        form = await auth.form(request, who)
        new = form_str(form, "new")
        try:
            if new != form_str(form, "new2"):
                raise AccountError("the two new passwords differ")
            await run_in_threadpool(
                accounts.change_password, who.user, form_str(form, "current"), new
            )
        except AccountError as exc:
            return await account_page(request, who, error=exc.detail, status_code=400)
        # A new password ended every session, this one included: log in again.
        response = back_to("/console/login", notice="password_changed")
        auth.clear_session_cookie(response)
        return response

    @router.post("/account/totp/start")
    async def totp_start(request: Request) -> Response:
        who = await who_of(request)
        await auth.form(request, who)
        uri = await run_in_threadpool(accounts.begin_totp, who.user)
        return await account_page(request, who, totp_uri=uri)

    @router.post("/account/totp/confirm")
    async def totp_confirm(request: Request) -> Response:
        who = await who_of(request)
        form = await auth.form(request, who)
        try:
            await run_in_threadpool(accounts.confirm_totp, who.user, form_str(form, "code"))
        except AccountError as exc:
            uri = await run_in_threadpool(accounts.totp_uri, who.user)
            return await account_page(request, who, error=exc.detail, totp_uri=uri, status_code=400)
        return back_to("/console/account", notice="totp_enabled")

    @router.post("/account/totp/disable")
    async def totp_disable(request: Request) -> Response:
        who = await who_of(request)
        form = await auth.form(request, who)
        try:
            await run_in_threadpool(accounts.disable_totp, who.user, form_str(form, "password"))
        except AccountError as exc:
            return await account_page(request, who, error=exc.detail, status_code=400)
        return back_to("/console/account", notice="totp_disabled")

    @router.post("/account/tokens")
    async def token_create(request: Request) -> Response:
        who = await who_of(request)
        form = await auth.form(request, who)
        try:
            raw = await run_in_threadpool(
                accounts.create_api_token, who.user, form_str(form, "name")
            )
        except AccountError as exc:
            return await account_page(request, who, error=exc.detail, status_code=400)
        return await account_page(request, who, new_token=raw)

    @router.post("/account/tokens/{token_id}/revoke")
    async def token_revoke(request: Request, token_id: int) -> Response:
        who = await who_of(request)
        await auth.form(request, who)
        try:
            await run_in_threadpool(accounts.revoke_api_token, who.user, token_id)
        except AccountError:
            raise HTTPException(404) from None
        return back_to("/console/account", notice="token_revoked")

    # -- study: dashboard and life cycle --------------------------------------------------------

    @router.get("/studies/{study_id}")
    async def dashboard(
        request: Request, study_id: str, notice: str = "", test: str = ""
    ) -> Response:
        access = await access_of(request, study_id, Role.VIEWER)
        return await dashboard_page(request, access, include_test=test == "1", notice=notice)

    async def dashboard_page(
        request: Request,
        access: StudyAccess,
        *,
        include_test: bool = False,
        notice: str = "",
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        records = await run_in_threadpool(cache.records, engine, access.study_id)
        figures = compute_dashboard(
            access.stored.study, records, include_test=include_test, language=language(request)
        )
        t = catalogues.translator(language(request))
        chart = Markup(
            daily_chart_svg(
                figures.per_day,
                title=t("Starts and completes per day"),
                starts_label=t("starts"),
                completes_label=t("completes"),
            )
        )
        stored = access.stored
        return render(
            request,
            "console/dashboard.html",
            access=access,
            d=figures,
            chart=chart,
            stored=stored,
            transitions=TRANSITIONS[stored.status.value],
            formats=list(FORMATS),
            include_test=include_test,
            refresh=REFRESH_SECONDS,
            page_titles={
                p.id: text_in(p.title, language(request)) or p.id for p in stored.study.pages
            },
            notice=notice,
            error=error,
            status_code=status_code,
        )

    async def owner_action(
        request: Request, study_id: str, action: Callable[[StudyAccess, Any], Any]
    ) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        form = await auth.form(request, access.who)
        try:
            await run_in_threadpool(action, access, form)
        except DomainError as exc:
            # The page again with the message (not a redirect carrying text in its URL).
            fresh = await access_of(request, study_id, Role.OWNER)
            return await dashboard_page(request, fresh, error=exc.detail, status_code=exc.status)
        return back_to(study_url(study_id), notice="saved")

    @router.post("/studies/{study_id}/status")
    async def status(request: Request, study_id: str) -> Response:
        def change(access: StudyAccess, form: Any) -> None:
            target = form_str(form, "status")
            if target not in {s.value for s in StudyStatus}:
                raise console.ConsoleError(f"unknown status {target!r}")
            try:
                console.change_status(engine, study_id, target, actor=access.who.user.actor)
            except console.PrivacyRequired:
                raise console.PrivacyRequired(NO_PRIVACY_TO_OPEN) from None

        return await owner_action(request, study_id, change)

    @router.post("/studies/{study_id}/fieldwork")
    async def fieldwork(request: Request, study_id: str) -> Response:
        def change(access: StudyAccess, form: Any) -> None:
            raw_max = form_str(form, "max_completes").strip()
            if raw_max and not raw_max.isdigit():
                raise console.ConsoleError("the maximum number of completes must be a whole number")
            console.change_fieldwork(
                engine,
                study_id,
                opens_at=_parse_moment(form_str(form, "opens_at")),
                closes_at=_parse_moment(form_str(form, "closes_at")),
                max_completes=int(raw_max) if raw_max else None,
                actor=access.who.user.actor,
            )

        return await owner_action(request, study_id, change)

    @router.post("/studies/{study_id}/test")
    async def test_response(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.RESEARCHER)
        await auth.form(request, access.who)
        if access.stored.status is not StudyStatus.DRAFT:
            return await dashboard_page(
                request, access, error=N_("Test responses are made in draft only."), status_code=409
            )
        state = await run_in_threadpool(web.service.start, study_id, test=True)
        return RedirectResponse(
            f"/s/{quote(study_id)}/r/{quote(state.resume_code)}", status_code=303
        )

    # -- study: responses -----------------------------------------------------------------------

    @router.get("/studies/{study_id}/responses")
    async def responses_list(
        request: Request, study_id: str, test: str = "", notice: str = ""
    ) -> Response:
        access = await access_of(request, study_id, Role.RESEARCHER)
        return await responses_page(request, access, include_test=test == "1", notice=notice)

    async def responses_page(
        request: Request,
        access: StudyAccess,
        *,
        include_test: bool = False,
        notice: str = "",
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        rows = await run_in_threadpool(
            console.list_responses,
            engine,
            access.stored.study,
            access.study_id,
            include_test=include_test,
        )
        await run_in_threadpool(
            _record, engine, access, audit.RESPONSES_LISTED, {"count": len(rows)}
        )
        return render(
            request,
            "console/responses.html",
            access=access,
            rows=rows,
            include_test=include_test,
            notice=notice,
            error=error,
            status_code=status_code,
        )

    @router.get("/studies/{study_id}/responses/{response_id}")
    async def response_page(request: Request, study_id: str, response_id: str) -> Response:
        access = await access_of(request, study_id, Role.RESEARCHER)
        try:
            detail = await run_in_threadpool(
                console.response_detail,
                engine,
                access.stored.study,
                study_id,
                response_id,
                language=language(request),
            )
        except DomainError:
            raise HTTPException(404) from None
        await run_in_threadpool(
            _record, engine, access, audit.RESPONSE_VIEWED, {"response": response_id}
        )
        return render(request, "console/response.html", access=access, detail=detail)

    @router.post("/studies/{study_id}/responses/{response_id}/exclude")
    async def exclude(request: Request, study_id: str, response_id: str) -> Response:
        access = await access_of(request, study_id, Role.RESEARCHER)
        form = await auth.form(request, access.who)
        here = study_url(study_id, f"/responses/{quote(response_id)}")
        try:
            await run_in_threadpool(
                console.exclude_response,
                engine,
                study_id,
                response_id,
                form_str(form, "reason"),
                actor=access.who.user.actor,
            )
        except console.ConsoleError as exc:
            return await responses_page(request, access, error=exc.detail, status_code=400)
        except DomainError:
            raise HTTPException(404) from None
        return back_to(here)

    @router.post("/studies/{study_id}/responses/{response_id}/include")
    async def include(request: Request, study_id: str, response_id: str) -> Response:
        access = await access_of(request, study_id, Role.RESEARCHER)
        await auth.form(request, access.who)
        try:
            await run_in_threadpool(
                console.include_response, engine, study_id, response_id, actor=access.who.user.actor
            )
        except DomainError:
            raise HTTPException(404) from None
        return back_to(study_url(study_id, f"/responses/{quote(response_id)}"))

    @router.post("/studies/{study_id}/responses/delete")
    async def delete(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        form = await auth.form(request, access.who)
        try:
            await run_in_threadpool(
                console.delete_by_resume_code,
                engine,
                study_id,
                form_str(form, "code"),
                actor=access.who.user.actor,
            )
        except DomainError as exc:
            message = (
                exc.detail
                if isinstance(exc, console.ConsoleError)
                else N_("No response of this study has this resume code.")
            )
            return await responses_page(request, access, error=message, status_code=exc.status)
        return back_to(study_url(study_id, "/responses"), notice="deleted")

    # -- study: export --------------------------------------------------------------------------

    @router.get("/studies/{study_id}/export")
    async def export(
        request: Request, study_id: str, format: str = "csv", test: str = "", partial: str = ""
    ) -> Response:
        access = await access_of(request, study_id, Role.RESEARCHER)
        return await download(engine, access, format, test == "1", partial == "1")

    # -- study: members -------------------------------------------------------------------------

    @router.get("/studies/{study_id}/members")
    async def members(request: Request, study_id: str, notice: str = "") -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        return await members_page(request, access, notice=notice)

    async def members_page(
        request: Request,
        access: StudyAccess,
        *,
        notice: str = "",
        error: str = "",
        reset_link: str = "",
        reset_for: str = "",
        status_code: int = 200,
    ) -> Response:
        rows = await run_in_threadpool(accounts.members, access.study_id)
        return render(
            request,
            "console/members.html",
            access=access,
            members=rows,
            roles=list(Role),
            reset_link=reset_link,
            reset_for=reset_for,
            notice=notice,
            error=error,
            status_code=status_code,
        )

    @router.post("/studies/{study_id}/members")
    async def member_set(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        form = await auth.form(request, access.who)
        try:
            role = Role(form_str(form, "role"))
        except ValueError:
            return await members_page(
                request, access, error=N_("Choose a role: owner, researcher or viewer."),
                status_code=400,
            )  # fmt: skip
        try:
            await run_in_threadpool(
                accounts.set_member,
                study_id,
                form_str(form, "email"),
                role,
                actor=access.who.user.actor,
            )
        except AccountError as exc:
            return await members_page(request, access, error=exc.detail, status_code=exc.status)
        return back_to(study_url(study_id, "/members"), notice="saved")

    @router.post("/studies/{study_id}/members/{user_id}/remove")
    async def member_remove(request: Request, study_id: str, user_id: int) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        await auth.form(request, access.who)
        try:
            await run_in_threadpool(
                accounts.remove_member, study_id, user_id, actor=access.who.user.actor
            )
        except AccountError as exc:
            return await members_page(request, access, error=exc.detail, status_code=exc.status)
        return back_to(study_url(study_id, "/members"), notice="saved")

    @router.post("/studies/{study_id}/members/{user_id}/reset")
    async def member_reset(request: Request, study_id: str, user_id: int) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        await auth.form(request, access.who)
        rows = await run_in_threadpool(accounts.members, study_id)
        target = next((m.user for m in rows if m.user.id == user_id), None)
        if target is None:
            raise HTTPException(404)
        token = await run_in_threadpool(accounts.create_reset, target, actor=access.who.user.actor)
        link = reset_url(request, token)
        if mail_configured(web.settings):
            try:
                await run_in_threadpool(send_reset, web.settings, target, link)
            except (MailServerError, RecipientRefused) as exc:
                # Mail failed: show the link so the owner can still pass it on.
                return await members_page(
                    request, access, reset_link=link, reset_for=target.email, error=str(exc)
                )
            return await members_page(request, access, notice="reset_sent")
        return await members_page(request, access, reset_link=link, reset_for=target.email)

    # -- study: questionnaire versions ----------------------------------------------------------

    @router.get("/studies/{study_id}/versions")
    async def versions(request: Request, study_id: str, notice: str = "") -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        return render(
            request,
            "console/versions.html",
            access=access,
            preview=None,
            max_kb=web.settings.max_upload_bytes // 1024,
            notice=notice,
        )

    @router.post("/studies/{study_id}/versions")
    async def version_upload(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        form = await auth.form(request, access.who)
        upload = form.get("file")
        text = form_str(form, "source")
        if isinstance(upload, UploadFile):
            raw = await upload.read(web.settings.max_upload_bytes + 1)
            if raw:
                if len(raw) > web.settings.max_upload_bytes:
                    return version_problem(request, access, ["the file is too large"])
                if xlsform_upload.is_xlsform(upload.filename, raw):
                    converted, problems = await run_in_threadpool(
                        lambda: xlsform_upload.xlsform_to_yaml(
                            raw,
                            upload.filename,
                            study_id,
                            skip_unsupported=form_str(form, "skip_unsupported") == "1",
                        )
                    )
                    if converted is None:
                        return version_problem(request, access, problems)
                    text = converted
                else:
                    try:
                        text = raw.decode("utf-8-sig")
                    except UnicodeDecodeError:
                        return version_problem(
                            request,
                            access,
                            ["study.yaml: the file is not UTF-8 text; save it as UTF-8"],
                        )
        if not text.strip():
            return version_problem(request, access, ["choose a questionnaire file (YAML)"])
        try:
            if form_str(form, "publish") == "1":
                await run_in_threadpool(
                    console.publish_version, engine, study_id, text, actor=access.who.user.actor
                )
                return back_to(study_url(study_id, "/versions"), notice="published")
            preview = await run_in_threadpool(console.preview_version, engine, study_id, text)
        except console.VersionRejected as exc:
            detail = (
                NO_PRIVACY_WHILE_OPEN
                if isinstance(exc, console.PrivacyVersionRejected)
                else exc.detail
            )
            return version_problem(request, access, exc.problems, detail)
        return render(
            request,
            "console/versions.html",
            access=access,
            preview=preview,
            max_kb=web.settings.max_upload_bytes // 1024,
        )

    def version_problem(
        request: Request, access: StudyAccess, problems: list[str], error: str = ""
    ) -> Response:
        return render(
            request,
            "console/versions.html",
            access=access,
            preview=None,
            max_kb=web.settings.max_upload_bytes // 1024,
            problems=problems,
            error=error or "the questionnaire has problems; nothing was changed",
            status_code=422,
        )

    # -- study: audit trail ---------------------------------------------------------------------

    @router.get("/studies/{study_id}/audit")
    async def audit_page(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        entries = await run_in_threadpool(audit.entries, engine, study_id=study_id, limit=500)
        return render(request, "console/audit.html", access=access, entries=entries)

    @router.get("/studies/{study_id}/audit.csv")
    async def audit_csv(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id, Role.OWNER)
        await run_in_threadpool(_record, engine, access, audit.AUDIT_EXPORTED, {})
        entries = await run_in_threadpool(audit.entries, engine, study_id=study_id)
        return StreamingResponse(
            audit.to_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{study_id}-audit.csv"',
                "cache-control": "no-store",
            },
        )

    return router


def _record(engine: Any, access: StudyAccess, action: str, details: dict[str, Any]) -> None:
    with engine.begin() as conn:
        audit.record(conn, access.who.user.actor, action, study_id=access.study_id, details=details)


async def download(
    engine: Any, access: StudyAccess, fmt: str, include_test: bool, partial: bool
) -> Response:
    """Stream an export of the study (console and API share this); recorded in the audit."""
    if fmt not in FORMATS:
        raise HTTPException(400, detail=f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    options = ExportOptions(
        completed_only=not partial,
        include_test=include_test,
        # Open answers may identify people: only owners and researchers, never viewers.
        open_text=access.may(Role.RESEARCHER),
    )
    try:
        chunks = await run_in_threadpool(stream_export, engine, access.study_id, fmt, options)
        name = export_filename(access.study_id, fmt)
    except ExportError as exc:
        raise HTTPException(400, detail=str(exc)) from None
    await run_in_threadpool(
        _record,
        engine,
        access,
        audit.EXPORT_DOWNLOADED,
        {"format": fmt, "options": options.as_dict()},
    )
    media = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "parquet": "application/vnd.apache.parquet",
    }.get(fmt, "application/octet-stream")
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )
