"""The authorisation matrix: every console and researcher-API route of the real app, for every
role (anonymous, member of another study, viewer, researcher, owner).

The routes are enumerated from `app.routes`, and each must be listed in `REQUIRED` with the
least role it needs; a new route that is not listed fails `test_every_route_is_classified`, so
nothing can be added without deciding who may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from .helpers import World, login

PUBLIC = "public"
LOGIN = "login"
OWNER, RESEARCHER, VIEWER = "owner", "researcher", "viewer"
RANK = {VIEWER: 1, RESEARCHER: 2, OWNER: 3}

#: (method, path) -> the least that is needed: public, any login, or a role on the study.
REQUIRED: dict[tuple[str, str], str] = {
    ("GET", "/console/login"): PUBLIC,
    ("POST", "/console/login"): PUBLIC,
    ("GET", "/console/reset/{token}"): PUBLIC,
    ("POST", "/console/reset/{token}"): PUBLIC,
    ("GET", "/console/forgot"): PUBLIC,
    ("POST", "/console/forgot"): PUBLIC,
    ("POST", "/console/logout"): LOGIN,
    ("GET", "/console"): LOGIN,
    ("GET", "/console/account"): LOGIN,
    ("POST", "/console/account/password"): LOGIN,
    ("POST", "/console/account/totp/start"): LOGIN,
    ("POST", "/console/account/totp/confirm"): LOGIN,
    ("POST", "/console/account/totp/disable"): LOGIN,
    ("POST", "/console/account/tokens"): LOGIN,
    ("POST", "/console/account/tokens/{token_id}/revoke"): LOGIN,
    ("GET", "/console/studies/{study_id}"): VIEWER,
    ("POST", "/console/studies/{study_id}/status"): OWNER,
    ("POST", "/console/studies/{study_id}/fieldwork"): OWNER,
    ("POST", "/console/studies/{study_id}/test"): RESEARCHER,
    ("GET", "/console/studies/{study_id}/responses"): RESEARCHER,
    ("GET", "/console/studies/{study_id}/responses/{response_id}"): RESEARCHER,
    ("POST", "/console/studies/{study_id}/responses/{response_id}/exclude"): RESEARCHER,
    ("POST", "/console/studies/{study_id}/responses/{response_id}/include"): RESEARCHER,
    ("POST", "/console/studies/{study_id}/responses/delete"): OWNER,
    ("GET", "/console/studies/{study_id}/export"): RESEARCHER,
    ("GET", "/console/studies/{study_id}/members"): OWNER,
    ("POST", "/console/studies/{study_id}/members"): OWNER,
    ("POST", "/console/studies/{study_id}/members/{user_id}/remove"): OWNER,
    ("POST", "/console/studies/{study_id}/members/{user_id}/reset"): OWNER,
    ("GET", "/console/studies/{study_id}/versions"): OWNER,
    ("POST", "/console/studies/{study_id}/versions"): OWNER,
    ("GET", "/console/studies/{study_id}/audit"): OWNER,
    ("GET", "/console/studies/{study_id}/audit.csv"): OWNER,
    ("GET", "/api/v1/studies"): LOGIN,
    ("GET", "/api/v1/studies/{study_id}"): VIEWER,
    ("GET", "/api/v1/studies/{study_id}/dashboard"): VIEWER,
    ("GET", "/api/v1/studies/{study_id}/responses"): RESEARCHER,
    ("GET", "/api/v1/studies/{study_id}/responses/{response_id}"): RESEARCHER,
    ("PUT", "/api/v1/studies/{study_id}/responses/{response_id}/exclusion"): RESEARCHER,
    ("DELETE", "/api/v1/studies/{study_id}/responses/{response_id}/exclusion"): RESEARCHER,
    ("GET", "/api/v1/studies/{study_id}/export"): RESEARCHER,
    ("GET", "/api/v1/studies/{study_id}/audit"): OWNER,
    ("GET", "/console/studies/{study_id}/reach"): VIEWER,
    ("GET", "/console/studies/{study_id}/reach/qr/{name}.{kind}"): VIEWER,
    ("POST", "/console/studies/{study_id}/reach/tags"): OWNER,
    ("POST", "/console/studies/{study_id}/reach/quotas"): OWNER,
    ("POST", "/console/studies/{study_id}/reach/invitations"): OWNER,
    ("GET", "/console/studies/{study_id}/analyses"): VIEWER,
    ("GET", "/console/studies/{study_id}/analyses/{run_id}/report.html"): VIEWER,
    ("GET", "/api/v1/studies/{study_id}/reach"): VIEWER,
    ("POST", "/api/v1/studies/{study_id}/bounces"): OWNER,
}

PRINCIPALS = ("anonymous", "outsider", "viewer", "researcher", "owner")


def _endpoints(routes: Iterable[Any]) -> Iterator[tuple[str, set[str], list[Any]]]:
    """(path, methods, tags) of every endpoint, also inside included routers (newer FastAPI
    keeps an included router as one entry of `app.routes`)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path, set(route.methods), list(route.tags)
        elif hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                yield ctx.path, set(ctx.methods or ()), list(ctx.tags or ())


def researcher_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every console route, and every `/api/v1` route of the researcher API (the respondent
    API shares the prefix but authenticates with resume codes and is tested by its owner)."""
    found = []
    for path, methods, tags in _endpoints(app.routes):
        is_console = path == "/console" or path.startswith("/console/")
        is_researcher_api = path.startswith("/api/") and "researcher" in tags
        if is_console or is_researcher_api:
            found.extend((method, path) for method in sorted(methods))
    assert found, "no console routes found: is the console router included in create_app?"
    return found


def test_every_route_is_classified(app: FastAPI) -> None:
    routes = set(researcher_routes(app))
    unlisted = routes - set(REQUIRED)
    assert not unlisted, f"routes without an authorisation rule in REQUIRED: {sorted(unlisted)}"
    gone = set(REQUIRED) - routes
    assert not gone, f"REQUIRED lists routes that do not exist: {sorted(gone)}"


def _fill(
    path: str, world: World, principal: str, token_ids: dict[str, int], run_id: int = 0
) -> str:
    values = {
        "run_id": str(run_id),
        "study_id": "alpha",
        "response_id": world.completed,
        "user_id": str(world.users["spare"].id),
        "token": "not-a-real-reset-token",
        "token_id": str(token_ids.get(principal, 0)),
        "name": "link",
        "kind": "svg",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def _expected(rule: str, principal: str, method: str, is_api: bool) -> set[int] | str:
    """The status codes a refused request must get, or "allowed"."""
    if rule == PUBLIC:
        return "allowed"
    if principal == "anonymous":
        if not is_api and method == "GET":
            return {303}
        return {401}
    if rule == LOGIN:
        return "allowed"
    if principal == "outsider":
        return {404}
    if RANK[principal] < RANK[rule]:
        return {403}
    return "allowed"


def _request(
    client: TestClient, method: str, url: str, csrf: str | None, api_token: str | None
) -> Any:
    headers = {"authorization": f"Bearer {api_token}"} if api_token else {}
    if url.startswith("/api/"):
        json: dict[str, str] | None = {"reason": "matrix"} if method == "PUT" else None
        if url.endswith("/bounces"):
            json = {"email": "nobody@example.org", "reason": "matrix"}
        return client.request(method, url, headers=headers, json=json)
    if method == "POST":
        return client.post(url, data={"csrf": csrf or ""})
    return client.request(method, url)


def test_every_route_refuses_or_allows_each_role_as_declared(app: FastAPI, world: World) -> None:
    routes = [r for r in researcher_routes(app) if REQUIRED.get(r) != PUBLIC]
    # Destructive routes last, so they do not change what later checks see.
    routes.sort(
        key=lambda r: ("logout" in r[1], "password" in r[1], "remove" in r[1], "revoke" in r[1])
    )
    token_ids: dict[str, int] = {}
    api_tokens: dict[str, str] = {}
    # An invitee, so that the owner's bounce report finds its address (else a 404 of its own).
    from vakstem.service import invitations
    from vakstem.settings import Settings

    invitations.import_csv(
        world.engine, Settings(secret_key="matrix"), "alpha", b"email\nnobody@example.org\n"
    )
    # A stored analysis run of alpha, so that its report is found for those allowed.
    from vakstem.analysis.plan import PlanOptions, data_from_store, run_plan
    from vakstem.store.analysis_runs import save_run
    from vakstem.store.studies import get_study

    alpha = get_study(world.engine, "alpha").study
    results = run_plan(alpha, data_from_store(world.engine, alpha), PlanOptions(bootstrap=0))
    run_id = save_run(world.engine, "alpha", results.to_dict())
    for name in ("outsider", "viewer", "researcher", "owner"):
        user = world.users[name]
        api_tokens[name] = world.accounts.create_api_token(user, "matrix")
        token_ids[name] = world.accounts.api_tokens(user)[0].id
    failures = []
    for principal in PRINCIPALS:
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
            csrf = None
            if principal != "anonymous":
                csrf = login(client, f"{principal}@example.org")
            for method, path in routes:
                rule = REQUIRED[(method, path)]
                is_api = path.startswith("/api/")
                url = _fill(path, world, principal, token_ids, run_id)
                response = _request(client, method, url, csrf, api_tokens.get(principal))
                expected = _expected(rule, principal, method, is_api)
                status = response.status_code
                if expected == "allowed":
                    ok = status < 500 and status not in {401, 403, 404}
                else:
                    assert isinstance(expected, set)
                    ok = status in expected
                if status == 303 and expected == {303}:
                    ok = response.headers["location"].startswith("/console/login")
                if not ok:
                    failures.append(
                        f"{principal:10} {method:6} {url}: {status} {response.text[:80]}, "
                        f"want {expected}"
                    )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["/console/studies/beta", "/console/studies/nonexistent"])
def test_a_study_of_others_and_a_missing_study_look_the_same(client: TestClient, path: str) -> None:
    login(client, "researcher@example.org")
    response = client.get(path)
    assert response.status_code == 404
    assert "beta" not in response.text


def test_api_token_of_another_study_member_gets_404_not_403(
    client: TestClient, world: World
) -> None:
    token = world.accounts.create_api_token(world.users["outsider"], "t")
    for url in ("/api/v1/studies/alpha", f"/api/v1/studies/alpha/responses/{world.completed}"):
        response = client.get(url, headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 404, url
    mine = client.get("/api/v1/studies", headers={"authorization": f"Bearer {token}"})
    assert [s["id"] for s in mine.json()] == ["beta"]


def test_a_response_of_study_beta_cannot_be_read_through_study_alpha(
    client: TestClient, world: World
) -> None:
    from vakstem.service.responses import ResponseService

    other = ResponseService(world.engine).start("beta")
    login(client, "owner@example.org")
    assert client.get(f"/console/studies/alpha/responses/{other.id}").status_code == 404
    token = world.accounts.create_api_token(world.users["owner"], "t")
    response = client.get(
        f"/api/v1/studies/alpha/responses/{other.id}",
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
