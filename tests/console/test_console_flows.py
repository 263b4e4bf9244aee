"""The console and researcher API through the real app on SQLite and PostgreSQL: login failures,
lock-out, TOTP, expired sessions, CSRF, role limits on data, the study life cycle, versions,
responses, exports, and an audit entry for every action."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from vakstem.service import audit
from vakstem.service.accounts import Role
from vakstem.service.audit import Actor
from vakstem.service.responses import ResponseService
from vakstem.service.types import StudyClosed
from vakstem.store.accounts import console_sessions
from vakstem.store.studies import get_study, load_study

from .helpers import PASSWORD, World, anon_csrf, login, small_study, study_yaml


def _actions(world: World, study_id: str | None = None) -> list[str]:
    return [e.action for e in reversed(audit.entries(world.engine, study_id=study_id))]


def _bearer(world: World, who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {world.accounts.create_api_token(world.users[who], 't')}"}


# -- logging in ------------------------------------------------------------------------------


def test_wrong_password_is_refused_with_401_and_no_session(client: TestClient) -> None:
    token = anon_csrf(client)
    response = client.post(
        "/console/login",
        data={"email": "owner@example.org", "password": "wrong password!", "csrf": token},
    )
    assert response.status_code == 401
    assert "Onjuist e-mailadres of wachtwoord" in response.text
    assert "vakstem_console" not in response.cookies
    assert client.get("/console").status_code == 303


def test_login_without_the_csrf_cookie_is_refused(client: TestClient) -> None:
    response = client.post(
        "/console/login",
        data={"email": "owner@example.org", "password": PASSWORD, "csrf": "made-up"},
    )
    assert response.status_code == 403


def test_session_cookie_is_httponly_lax_and_scoped_to_the_console(client: TestClient) -> None:
    token = anon_csrf(client)
    response = client.post(
        "/console/login",
        data={"email": "owner@example.org", "password": PASSWORD, "csrf": token},
    )
    cookie = response.headers["set-cookie"]
    assert "vakstem_console=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie


def test_account_locks_after_repeated_failures_through_the_form(client: TestClient) -> None:
    token = anon_csrf(client)
    for _ in range(5):
        client.post(
            "/console/login",
            data={"email": "viewer@example.org", "password": "not it at all", "csrf": token},
        )
    locked = client.post(
        "/console/login",
        data={"email": "viewer@example.org", "password": PASSWORD, "csrf": token},
    )
    assert locked.status_code == 401
    assert "geblokkeerd" in locked.text


def test_totp_login_asks_for_the_code_and_accepts_the_right_one(
    client: TestClient, world: World
) -> None:
    user = world.users["researcher"]
    secret = pyotp.parse_uri(world.accounts.begin_totp(user)).secret
    world.accounts.confirm_totp(user, pyotp.TOTP(secret).now())
    token = anon_csrf(client)
    form = {"email": user.email, "password": PASSWORD, "csrf": token}
    first = client.post("/console/login", data=form)
    assert first.status_code == 401 and 'name="code"' in first.text
    wrong = client.post("/console/login", data=form | {"code": "000000"})
    assert wrong.status_code == 401
    ok = client.post("/console/login", data=form | {"code": pyotp.TOTP(secret).now()})
    assert ok.status_code == 303


def test_owner_must_set_up_totp_when_the_deployment_requires_it(
    world: World, tmp_path: object
) -> None:
    from vakstem.settings import Settings
    from vakstem.web.app import create_app

    settings = Settings(secret_key="k", require_totp_for_owners=True)
    app = create_app(settings, world.engine)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "owner@example.org")
        response = client.get("/console/studies/alpha")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/account?totp=required"
    with TestClient(app, follow_redirects=False) as client:
        login(client, "viewer@example.org")
        assert client.get("/console/studies/alpha").status_code == 200


def test_an_expired_session_sends_back_to_the_login(client: TestClient, world: World) -> None:
    login(client, "owner@example.org")
    assert client.get("/console").status_code == 200
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with world.engine.begin() as conn:
        conn.execute(console_sessions.update().values(last_seen_at=long_ago))
    response = client.get("/console/studies/alpha")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=")
    assert client.post("/console/logout", data={"csrf": "x"}).status_code == 401


def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    csrf = login(client, "owner@example.org")
    cookie = client.cookies.get("vakstem_console")
    assert client.post("/console/logout", data={"csrf": csrf}).status_code == 303
    # Replaying the old cookie does not work: the session row is gone.
    client.cookies.set("vakstem_console", cookie or "", path="/console")
    assert client.get("/console").status_code == 303


def test_form_with_a_stale_or_missing_csrf_token_is_refused(
    client: TestClient, world: World
) -> None:
    old = login(client, "owner@example.org")
    for token in ("", "0" * 64):
        response = client.post(
            "/console/studies/alpha/status", data={"status": "closed", "csrf": token}
        )
        assert response.status_code == 403
    # A token of an earlier session is stale after logging in again.
    client.post("/console/logout", data={"csrf": old})
    login(client, "owner@example.org")
    response = client.post("/console/studies/alpha/status", data={"status": "closed", "csrf": old})
    assert response.status_code == 403
    assert get_study(world.engine, "alpha").status.value == "open"


# -- roles and data ----------------------------------------------------------------------------


def test_viewer_sees_aggregates_but_no_rows_no_open_answers_no_export(
    client: TestClient, world: World
) -> None:
    login(client, "viewer@example.org")
    page = client.get("/console/studies/alpha")
    assert page.status_code == 200
    assert "Mijn geheime opmerking" not in page.text
    assert "/export" not in page.text and "/responses" not in page.text
    assert client.get(f"/console/studies/alpha/responses/{world.completed}").status_code == 403
    headers = _bearer(world, "viewer")
    assert client.get("/api/v1/studies/alpha/dashboard", headers=headers).status_code == 200
    assert client.get("/api/v1/studies/alpha/responses", headers=headers).status_code == 403
    assert client.get("/api/v1/studies/alpha/export", headers=headers).status_code == 403


def test_dashboard_shows_the_fieldwork_figures(client: TestClient, world: World) -> None:
    login(client, "viewer@example.org")
    page = client.get("/console/studies/alpha")
    assert '<dd id="fig-starts">2</dd>' in page.text
    assert '<dd id="fig-completes">1</dd>' in page.text
    assert "<svg" in page.text and "Gestart en afgerond per dag" in page.text
    numbers = client.get("/api/v1/studies/alpha/dashboard", headers=_bearer(world, "viewer"))
    body = numbers.json()
    assert (body["starts"], body["completes"]) == (2, 1)
    assert body["by_source"] == {"nieuwsbrief": 1, "—": 1}
    assert body["by_breakdown"] == {"Regio": 1, "Gemeente": 1}
    # The half-way response was shown page 2 after submitting page 1: it reached it.
    assert [s["reached"] for s in body["funnel"]] == [2, 2]


def test_researcher_reads_a_response_with_its_open_answer_and_it_is_audited(
    client: TestClient, world: World
) -> None:
    login(client, "researcher@example.org")
    page = client.get(f"/console/studies/alpha/responses/{world.completed}")
    assert page.status_code == 200
    assert "Mijn geheime opmerking" in page.text and "Regio (2)" in page.text
    api = client.get(
        f"/api/v1/studies/alpha/responses/{world.completed}", headers=_bearer(world, "researcher")
    )
    assert api.json()["answers"]["jaren"] == 7
    assert _actions(world, "alpha").count("response_viewed") == 2


def test_exclusion_needs_a_reason_and_is_recorded(client: TestClient, world: World) -> None:
    csrf = login(client, "researcher@example.org")
    url = f"/console/studies/alpha/responses/{world.completed}"
    empty = client.post(f"{url}/exclude", data={"csrf": csrf, "reason": "  "})
    assert empty.status_code == 400
    done = client.post(f"{url}/exclude", data={"csrf": csrf, "reason": "speeder"})
    assert done.status_code == 303
    assert "speeder" in client.get(url).text
    figures = client.get("/api/v1/studies/alpha/dashboard", headers=_bearer(world, "researcher"))
    assert figures.json()["excluded"] == 1 and figures.json()["completes"] == 0
    client.post(f"{url}/include", data={"csrf": csrf})
    changes = [a for a in _actions(world, "alpha") if a.startswith("response_")]
    assert changes[-3:] == ["response_excluded", "response_viewed", "response_included"]


def test_owner_deletes_a_response_by_its_resume_code(client: TestClient, world: World) -> None:
    csrf = login(client, "owner@example.org")
    wrong = client.post(
        "/console/studies/alpha/responses/delete", data={"csrf": csrf, "code": "0000-0000-00"}
    )
    assert wrong.status_code == 404
    ok = client.post(
        "/console/studies/alpha/responses/delete",
        data={"csrf": csrf, "code": world.resume_code.lower()},
    )
    assert ok.status_code == 303
    assert client.get(f"/console/studies/alpha/responses/{world.active}").status_code == 404
    entry = audit.entries(world.engine, study_id="alpha")[0]
    assert entry.action == "response_deleted" and entry.details["response"] == world.active
    assert world.resume_code not in str(entry.details)


def test_researcher_may_not_delete_or_manage_members(client: TestClient, world: World) -> None:
    csrf = login(client, "researcher@example.org")
    assert (
        client.post(
            "/console/studies/alpha/responses/delete",
            data={"csrf": csrf, "code": world.resume_code},
        ).status_code
        == 403
    )
    assert client.get("/console/studies/alpha/members").status_code == 403


# -- life cycle and versions --------------------------------------------------------------------


def test_life_cycle_no_responses_in_draft_except_test_and_none_after_close(
    client: TestClient, world: World
) -> None:
    draft = small_study("gamma")
    load_study(world.engine, draft, study_yaml(draft))
    world.accounts.set_member("gamma", "owner@example.org", Role.OWNER, actor=Actor.system("test"))
    service = ResponseService(world.engine)
    with pytest.raises(StudyClosed):
        service.start("gamma")
    test = service.start("gamma", test=True)
    assert test.is_test

    csrf = login(client, "owner@example.org")
    figures = client.get("/api/v1/studies/gamma/dashboard", headers=_bearer(world, "owner"))
    assert figures.json()["starts"] == 0 and figures.json()["test_responses"] == 1
    assert (
        client.post(
            "/console/studies/gamma/status", data={"csrf": csrf, "status": "open"}
        ).status_code
        == 303
    )
    running = service.start("gamma")
    assert (
        client.post(
            "/console/studies/gamma/status", data={"csrf": csrf, "status": "closed"}
        ).status_code
        == 303
    )
    with pytest.raises(StudyClosed):
        service.start("gamma")
    with pytest.raises(StudyClosed):
        service.submit_page(running.id, "p1", {"org_type": 1})
    bad = client.post("/console/studies/gamma/status", data={"csrf": csrf, "status": "draft"})
    assert bad.status_code == 400 and "cannot go from closed to draft" in bad.text
    client.post("/console/studies/gamma/status", data={"csrf": csrf, "status": "archived"})
    changes = [
        e.details
        for e in audit.entries(world.engine, study_id="gamma")
        if e.action == "status_changed"
    ]
    assert [(c["from"], c["to"]) for c in reversed(changes)] == [
        ("draft", "open"),
        ("open", "closed"),
        ("closed", "archived"),
    ]


def test_fieldwork_window_and_target_are_saved_and_validated(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "owner@example.org")
    ok = client.post(
        "/console/studies/alpha/fieldwork",
        data={
            "csrf": csrf,
            "opens_at": "2026-12-01T09:00",
            "closes_at": "",
            "max_completes": "400",
        },
    )
    assert ok.status_code == 303
    stored = get_study(world.engine, "alpha")
    assert stored.opens_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert stored.max_completes == 400
    bad = client.post(
        "/console/studies/alpha/fieldwork",
        data={"csrf": csrf, "opens_at": "morgen", "closes_at": "", "max_completes": "x"},
    )
    assert bad.status_code == 400
    assert "schedule_changed" in _actions(world, "alpha")


def test_new_version_is_validated_diffed_and_published(client: TestClient, world: World) -> None:
    csrf = login(client, "owner@example.org")
    broken = (
        "id: alpha\ntitle: X\npages:\n  - id: p1\n    items:\n      - id: q\n"
        "        type: nonsense\n"
    )
    rejected = client.post(
        "/console/studies/alpha/versions",
        data={"csrf": csrf},
        files={"file": ("study.yaml", broken.encode(), "text/yaml")},
    )
    assert rejected.status_code == 422
    assert "study.yaml:7" in rejected.text
    other = client.post(
        "/console/studies/alpha/versions",
        data={"csrf": csrf},
        files={"file": ("s.yaml", study_yaml(small_study("beta")).encode(), "text/yaml")},
    )
    assert other.status_code == 422, other.text
    assert "another study" in other.text, other.text.split("<main", 1)[1][:1500]

    new = study_yaml(small_study("alpha", version="2", extra_item=True))
    preview = client.post(
        "/console/studies/alpha/versions",
        data={"csrf": csrf},
        files={"file": ("study.yaml", new.encode(), "text/yaml")},
    )
    assert preview.status_code == 200
    assert "+      - id: extra" in preview.text.replace("&#34;", '"') or "id: extra" in preview.text
    before = get_study(world.engine, "alpha").version_hash
    assert get_study(world.engine, "alpha").version_label == "1"
    published = client.post(
        "/console/studies/alpha/versions",
        data={"csrf": csrf, "publish": "1", "source": new},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert published.status_code == 303
    after = get_study(world.engine, "alpha")
    assert after.version_label == "2" and after.version_hash != before
    entry = audit.entries(world.engine, study_id="alpha")[0]
    assert entry.action == "version_uploaded" and entry.details["previous"] == before


# -- members, exports, audit --------------------------------------------------------------------


def test_owner_adds_a_member_by_email_and_changes_the_role(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "owner@example.org")
    world.accounts.create_user("new@example.org", "New", PASSWORD)
    unknown = client.post(
        "/console/studies/alpha/members",
        data={"csrf": csrf, "email": "nobody@example.org", "role": "viewer"},
    )
    assert unknown.status_code == 404 and "nobody@example.org" in unknown.text
    added = client.post(
        "/console/studies/alpha/members",
        data={"csrf": csrf, "email": "NEW@example.org", "role": "viewer"},
    )
    assert added.status_code == 303
    client.post(
        "/console/studies/alpha/members",
        data={"csrf": csrf, "email": "new@example.org", "role": "researcher"},
    )
    assert _actions(world, "alpha")[-2:] == ["member_added", "role_changed"]
    reset = client.post(
        f"/console/studies/alpha/members/{world.users['viewer'].id}/reset", data={"csrf": csrf}
    )
    link = reset.text.split('id="reset-link">', 1)[1].split("<", 1)[0]
    path = link.split("testserver", 1)[1]
    with TestClient(client.app, follow_redirects=False) as other:
        token = anon_csrf(other, path)
        done = other.post(
            path,
            data={"csrf": token, "password": "viewer new pass", "password2": "viewer new pass"},
        )
        assert done.status_code == 303
        login(other, "viewer@example.org", "viewer new pass")
        assert other.get(path).status_code == 404  # used


def test_export_download_is_a_file_and_is_audited(client: TestClient, world: World) -> None:
    login(client, "researcher@example.org")
    response = client.get("/console/studies/alpha/export?format=csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="alpha.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["response_id"] for r in rows] == [world.completed]
    api = client.get(
        "/api/v1/studies/alpha/export?format=xlsx", headers=_bearer(world, "researcher")
    )
    assert api.status_code == 200 and api.content[:2] == b"PK"
    assert client.get("/console/studies/alpha/export?format=exe").status_code == 400
    assert _actions(world, "alpha").count("export_downloaded") == 2


def test_audit_trail_is_shown_to_owners_and_exported_as_csv(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "owner@example.org")
    client.post("/console/studies/alpha/status", data={"csrf": csrf, "status": "closed"})
    page = client.get("/console/studies/alpha/audit")
    assert page.status_code == 200 and "status_changed" in page.text
    exported = client.get("/console/studies/alpha/audit.csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["action"] for r in rows} >= {"member_added", "status_changed"}
    assert all(r["study_id"] == "alpha" for r in rows)
    assert _actions(world, "alpha")[-1] == "audit_exported"
    # Logins are recorded too (account-level, not per study).
    with world.engine.connect() as conn:
        logins = conn.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE action = 'login'")
        ).scalar()
    assert logins == 1


def test_api_token_made_in_the_console_works_until_revoked(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "researcher@example.org")
    page = client.post("/console/account/tokens", data={"csrf": csrf, "name": "R script"})
    token = page.text.split('id="new-token">', 1)[1].split("<", 1)[0]
    headers = {"authorization": f"Bearer {token}"}
    assert [s["id"] for s in client.get("/api/v1/studies", headers=headers).json()] == ["alpha"]
    (listed,) = world.accounts.api_tokens(world.users["researcher"])
    client.post(f"/console/account/tokens/{listed.id}/revoke", data={"csrf": csrf})
    refused = client.get("/api/v1/studies", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_researcher_api_is_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/studies",
        "/api/v1/studies/{study_id}",
        "/api/v1/studies/{study_id}/dashboard",
        "/api/v1/studies/{study_id}/export",
    ):
        assert "get" in paths[path], path
    assert "get" in paths["/api/v1/studies/{study_id}/responses"]
    assert not any(p.startswith("/console") for p in paths)


def test_console_language_choice_is_remembered(client: TestClient) -> None:
    login(client, "owner@example.org")
    assert "Mijn onderzoeken" in client.get("/console").text
    english = client.get("/console?lang=en")
    assert "My studies" in english.text
    assert "My studies" in client.get("/console/studies/alpha").text
    assert "Mijn onderzoeken" in client.get("/console?lang=nl").text
    assert "Mijn onderzoeken" in client.get("/console").text
