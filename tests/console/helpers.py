"""Helpers of the console tests: two studies, an account per role, a few real responses given
through the respondent service, and logging in through the real forms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.service.factories import PRIVACY_DATA

from vakstem.instrument.schema import Study
from vakstem.service.accounts import Accounts, Policy, Role, User
from vakstem.service.audit import Actor
from vakstem.service.responses import ResponseService
from vakstem.store.studies import load_study, set_status

PASSWORD = "a long test password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def small_study(study_id: str, version: str = "1", extra_item: bool = False) -> Study:
    """Two pages: organisation type and an open answer, then a number."""
    items: list[dict[str, object]] = [
        {"id": "org_type", "type": "single", "text": "Organisatie", "choices": "org"},
        {"id": "opm", "type": "text", "text": "Opmerking", "open_text": True},
    ]
    if extra_item:
        items.append({"id": "extra", "type": "integer", "text": "Nieuw"})
    return Study.model_validate(
        {
            "id": study_id,
            "version": version,
            "languages": ["nl", "en"],
            "title": {"nl": f"Studie {study_id}", "en": f"Study {study_id}"},
            "sources": ["nieuwsbrief"],
            "choice_lists": {
                "org": [{"code": 1, "label": "Gemeente"}, {"code": 2, "label": "Regio"}]
            },
            "pages": [
                {"id": "p1", "title": "Werk", "items": items},
                {"id": "p2", "items": [{"id": "jaren", "type": "integer", "text": "Jaren"}]},
            ],
            "privacy": PRIVACY_DATA,
        }
    )


def study_yaml(study: Study) -> str:
    import yaml

    return yaml.safe_dump(study.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


@dataclass
class World:
    engine: Engine
    accounts: Accounts
    users: dict[str, User]
    #: Response ids of study alpha: one completed (with an open answer), one half-way.
    completed: str
    active: str
    resume_code: str
    tokens: dict[str, str] = field(default_factory=dict)


def build_world(engine: Engine) -> World:
    for study_id in ("alpha", "beta"):
        study = small_study(study_id)
        load_study(engine, study, study_yaml(study))
        set_status(engine, study_id, "open")
    accounts = Accounts(engine)
    system = Actor.system("test")
    users = {}
    for name, study_id, role in [
        ("owner", "alpha", Role.OWNER),
        ("researcher", "alpha", Role.RESEARCHER),
        ("viewer", "alpha", Role.VIEWER),
        ("outsider", "beta", Role.OWNER),
        ("spare", "alpha", Role.VIEWER),
    ]:
        user = accounts.create_user(f"{name}@example.org", name.title(), PASSWORD)
        accounts.set_member(study_id, user.email, role, actor=system)
        users[name] = user
    service = ResponseService(engine)
    done = service.start("alpha", source="nieuwsbrief")
    service.submit_page(done.id, "p1", {"org_type": 2, "opm": "Mijn geheime opmerking"})
    service.submit_page(done.id, "p2", {"jaren": 7})
    half = service.start("alpha", language="nl")
    service.submit_page(half.id, "p1", {"org_type": 1})
    return World(engine, accounts, users, done.id, half.id, half.resume_code)


def anon_csrf(client: TestClient, path: str = "/console/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match is not None
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token for later posts."""
    token = anon_csrf(client)
    response = client.post(
        "/console/login", data={"email": email, "password": password, "csrf": token}
    )
    assert response.status_code == 303, response.text
    return session_csrf(client)


def session_csrf(client: TestClient) -> str:
    page = client.get("/console/account")
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match is not None
    return match.group(1)


def short_sessions(engine: Engine) -> Accounts:
    return Accounts(engine, Policy(session_idle=timedelta(minutes=1)))
