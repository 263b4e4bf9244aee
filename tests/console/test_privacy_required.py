"""The console's open button and version upload refuse a study without a privacy statement, with
a message in the console's language (Dutch by default, English on request); after a version
with a statement, the same button opens the study."""

from __future__ import annotations

from fastapi.testclient import TestClient

from vakstem.service.accounts import Role
from vakstem.service.audit import Actor
from vakstem.store.studies import StudyStatus, get_study, load_study

from .helpers import World, login, small_study, study_yaml


def _main(html: str) -> str:
    return " ".join(html.split("<main", 1)[1].split())


def test_open_button_is_refused_without_privacy_statement_in_dutch_and_english(
    client: TestClient, world: World
) -> None:
    draft = small_study("delta").model_copy(update={"privacy": None})
    load_study(world.engine, draft, study_yaml(draft))
    world.accounts.set_member("delta", "owner@example.org", Role.OWNER, actor=Actor.system("test"))
    csrf = login(client, "owner@example.org")

    refused = client.post("/console/studies/delta/status", data={"csrf": csrf, "status": "open"})
    assert refused.status_code == 409
    assert "heeft geen privacyverklaring en kan daarom niet open" in _main(refused.text)
    assert get_study(world.engine, "delta").status is StudyStatus.DRAFT

    english = client.post(
        "/console/studies/delta/status?lang=en", data={"csrf": csrf, "status": "open"}
    )
    assert english.status_code == 409
    assert "This study has no privacy statement, so it cannot open." in _main(english.text)

    fixed = small_study("delta", version="2")
    assert fixed.privacy is not None
    published = client.post(
        "/console/studies/delta/versions",
        data={"csrf": csrf, "publish": "1", "source": study_yaml(fixed)},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert published.status_code == 303
    opened = client.post("/console/studies/delta/status", data={"csrf": csrf, "status": "open"})
    assert opened.status_code == 303
    assert get_study(world.engine, "delta").status is StudyStatus.OPEN


def test_open_study_refuses_an_upload_without_privacy_statement(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "owner@example.org")
    before = get_study(world.engine, "alpha")
    bare = small_study("alpha", version="2", extra_item=True).model_copy(update={"privacy": None})
    for publish in ("", "1"):
        rejected = client.post(
            "/console/studies/alpha/versions",
            data={"csrf": csrf, "publish": publish, "source": study_yaml(bare)},
            files={"file": ("", b"", "application/octet-stream")},
        )
        assert rejected.status_code == 422
        text = _main(rejected.text)
        assert "Dit onderzoek is open, dus een nieuwe versie heeft een privacyverklaring" in text
        assert "privacy: missing" in text
    assert get_study(world.engine, "alpha").version_hash == before.version_hash
