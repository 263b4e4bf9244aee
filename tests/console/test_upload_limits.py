"""Upload routes take files larger than the 64 KB form limit (the klantmanager questionnaire is
about that size); every other route keeps the small limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import World, login, small_study, study_yaml


def test_a_questionnaire_over_64_kb_reaches_the_version_preview(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "owner@example.org")
    padding = "".join(f"# toelichting regel {n:05d} {'x' * 60}\n" for n in range(1500))
    text = padding + study_yaml(small_study("alpha", version="2", extra_item=True))
    assert len(text.encode()) > 100 * 1024
    preview = client.post(
        "/console/studies/alpha/versions",
        data={"csrf": csrf},
        files={"file": ("study.yaml", text.encode(), "text/yaml")},
    )
    assert preview.status_code == 200, preview.text[:500]
    assert "extra" in preview.text


def test_a_file_over_the_upload_limit_is_refused_naming_that_limit(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "owner@example.org")
    huge = b"# " + b"x" * (3 * 1024 * 1024)
    refused = client.post(
        "/console/studies/alpha/versions",
        data={"csrf": csrf},
        files={"file": ("study.yaml", huge, "text/yaml")},
    )
    assert refused.status_code == 413
    assert "2048" in refused.text, refused.text.split("<main", 1)[-1][:800]


def test_other_console_forms_keep_the_64_kb_limit(client: TestClient, world: World) -> None:
    csrf = login(client, "owner@example.org")
    refused = client.post(
        "/console/studies/alpha/fieldwork",
        data={"csrf": csrf, "opens_at": "x" * (70 * 1024)},
    )
    assert refused.status_code == 413
    assert "64" in refused.text
