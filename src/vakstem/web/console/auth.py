"""Who is asking, and may they: console sessions (cookie), personal API tokens (Bearer), CSRF
tokens on every console form, and the role check per study.

A study the caller is not a member of answers 404, exactly as a study that does not exist, so
guessing ids reveals nothing. A member whose role is too low gets 403. No session: a console page
redirects to the login (303), any other request gets 401.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from vakstem.service.accounts import Accounts, Policy, Role, User
from vakstem.service.console import RecordCache
from vakstem.service.types import StudyNotFound
from vakstem.store.studies import StoredStudy, get_study
from vakstem.web.context import WebContext

SESSION_COOKIE = "vakstem_console"
#: Double-submit cookie protecting the forms shown before login (login, password reset).
ANON_CSRF_COOKIE = "vakstem_console_csrf"
COOKIE_PATH = "/console"
#: Pages a user who must still set up two-factor authentication may open.
TOTP_SETUP_PATHS = ("/console/account", "/console/logout")


@dataclass(frozen=True)
class Who:
    """The authenticated caller: a console session (raw cookie token) or an API token."""

    user: User
    session_token: str | None = None


@dataclass(frozen=True)
class StudyAccess:
    who: Who
    role: Role
    stored: StoredStudy

    @property
    def study_id(self) -> str:
        return self.stored.study_id

    def may(self, role: Role) -> bool:
        return self.role.at_least(role)


class ConsoleAuth:
    """Authentication and authorisation helpers bound to one app's context."""

    def __init__(self, web: WebContext, accounts: Accounts | None = None) -> None:
        self.web = web
        self.accounts = accounts or Accounts(web.engine, Policy.from_settings(web.settings))
        #: Dashboard records per study, shared by the console pages and the API.
        self.records = RecordCache()

    # -- cookies -------------------------------------------------------------------------------

    def set_session_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self.web.settings.behind_tls,
            max_age=int(self.accounts.policy.session_max.total_seconds()),
        )

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)

    def anon_csrf(self, request: Request, response: Response | None = None) -> str:
        """The CSRF token for a form shown before login; sets its cookie when missing."""
        value = request.cookies.get(ANON_CSRF_COOKIE)
        if not value or len(value) > 100:
            value = secrets.token_urlsafe(24)
            request.state.new_anon_csrf = value
        if response is not None:
            self.attach_anon_cookie(request, response)
        return self.web.csrf_token("console-anon", value)

    def attach_anon_cookie(self, request: Request, response: Response) -> None:
        value = getattr(request.state, "new_anon_csrf", None)
        if value:
            response.set_cookie(
                ANON_CSRF_COOKIE,
                value,
                path=COOKIE_PATH,
                httponly=True,
                samesite="lax",
                secure=self.web.settings.behind_tls,
            )

    def check_anon_csrf(self, request: Request, form: FormData) -> None:
        value = request.cookies.get(ANON_CSRF_COOKIE) or ""
        given = form.get("csrf")
        if not value or not self.web.csrf_ok(
            given if isinstance(given, str) else None, "console-anon", value
        ):
            raise HTTPException(403, detail="csrf")

    # -- sessions ------------------------------------------------------------------------------

    def csrf(self, who: Who) -> str:
        """The CSRF token of the caller's session (bound to the session, so a stolen page of
        another session is useless)."""
        return self.web.csrf_token("console", who.session_token or "")

    def session_who(self, request: Request) -> Who:
        """The logged-in caller of a console route; otherwise 303 to the login (GET) or 401."""
        token = request.cookies.get(SESSION_COOKIE)
        info = self.accounts.session(token)
        if info is None or token is None:
            if request.method == "GET":
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                raise HTTPException(
                    303, headers={"Location": f"/console/login?next={quote(target, safe='')}"}
                )
            raise HTTPException(401, detail="login required")
        who = Who(info.user, token)
        if self.accounts.needs_totp_setup(info.user) and not request.url.path.startswith(
            TOTP_SETUP_PATHS
        ):
            if request.method == "GET":
                raise HTTPException(303, headers={"Location": "/console/account?totp=required"})
            raise HTTPException(403, detail="two-factor set-up required")
        return who

    async def form(self, request: Request, who: Who) -> FormData:
        """The posted form, after checking its CSRF token against the session."""
        form = await request.form()
        given = form.get("csrf")
        if not self.web.csrf_ok(
            given if isinstance(given, str) else None, "console", who.session_token or ""
        ):
            raise HTTPException(403, detail="csrf")
        return form

    # -- API tokens ----------------------------------------------------------------------------

    def api_who(self, request: Request) -> Who:
        header = request.headers.get("authorization", "")
        scheme, _, raw = header.partition(" ")
        user = self.accounts.api_user(raw.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HTTPException(
                401,
                detail="a valid personal API token is required",
                headers={"WWW-Authenticate": 'Bearer realm="vakstem"'},
            )
        return Who(user)

    # -- studies -------------------------------------------------------------------------------

    def role_of(self, user: User, study_id: str) -> Role | None:
        if user.is_admin:
            return Role.OWNER
        return self.accounts.role(user, study_id)

    def study(self, who: Who, study_id: str, needed: Role) -> StudyAccess:
        """The study if the caller may act on it with `needed`; 404 for non-members (as for a
        study that does not exist), 403 for members with a lower role."""
        role = self.role_of(who.user, study_id)
        if role is None:
            raise HTTPException(404)
        try:
            stored = get_study(self.web.engine, study_id)
        except StudyNotFound:
            raise HTTPException(404) from None
        if not role.at_least(needed):
            raise HTTPException(403, detail=f"this needs the role {needed.value}")
        return StudyAccess(who, role, stored)

    async def page_access(self, request: Request, study_id: str, needed: Role) -> StudyAccess:
        """`study` for a console page: the session's caller, checked off the event loop."""
        who = await run_in_threadpool(self.session_who, request)
        return await run_in_threadpool(self.study, who, study_id, needed)

    def my_studies(self, user: User) -> dict[str, Role]:
        if user.is_admin:
            from vakstem.store.studies import list_studies

            return {s.study_id: Role.OWNER for s in list_studies(self.web.engine)}
        return self.accounts.studies_of(user)


def form_str(form: FormData, name: str, default: str = "") -> str:
    value: Any = form.get(name)
    return value if isinstance(value, str) else default
