"""The console's reach page: links with QR codes and counts for every member, and for owners
source tags, the invitation CSV import (a report of rejected rows, nothing half-imported) and
quotas; each change in the audit trail without any address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.console.helpers import PASSWORD, login

from vakstem.service import audit, quotas
from vakstem.service import invitations as inv
from vakstem.service.accounts import Accounts, Role
from vakstem.service.audit import Actor
from vakstem.settings import Settings
from vakstem.web.app import create_app

PAGE = "/console/studies/bereik/reach"


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    accounts = Accounts(engine)
    for name, role in (("eigenaar", Role.OWNER), ("kijker", Role.VIEWER)):
        user = accounts.create_user(f"{name}@example.org", name.title(), PASSWORD)
        accounts.set_member("bereik", user.email, role, actor=Actor.system("test"))
    settings = Settings(
        data_dir=tmp_path, secret_key="console-secret", public_url="https://x.example"
    )
    with TestClient(create_app(settings, engine), follow_redirects=False) as client:
        yield client


def test_viewer_sees_links_qr_codes_and_counts_but_no_forms(client: TestClient) -> None:
    login(client, "kijker@example.org")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "https://x.example/s/bereik/l/gemeente-x" in page.text and "<svg" in page.text
    assert 'action="/console/studies/bereik/reach/invitations"' not in page.text
    png = client.get(f"{PAGE}/qr/gemeente-x.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get(f"{PAGE}/qr/verzonnen.svg").status_code == 404
    token = client.get("/console/account").text.split('name="csrf" value="')[1].split('"')[0]
    refused = client.post(f"{PAGE}/tags", data={"csrf": token, "tag": "flyer"})
    assert refused.status_code == 403


def test_owner_imports_a_csv_with_a_report_of_bad_rows_and_nothing_half_imported(
    client: TestClient, engine: Engine
) -> None:
    csrf = login(client, "eigenaar@example.org")
    bad = b"email\ngoed@example.org\nfout-adres\n"
    page = client.post(
        f"{PAGE}/invitations", data={"csrf": csrf}, files={"file": ("a.csv", bad, "text/csv")}
    )
    assert page.status_code == 422
    assert "row 3: not an email address: &#39;fout-adres&#39;" in page.text
    assert inv.summary(engine, "bereik").invited == 0
    good = b"email,language\ngoed@example.org,nl\nander@example.org,en\n"
    done = client.post(
        f"{PAGE}/invitations", data={"csrf": csrf}, files={"file": ("a.csv", good, "text/csv")}
    )
    assert done.status_code == 303 and inv.summary(engine, "bereik").invited == 2
    entries = audit.entries(engine, study_id="bereik")
    assert entries[0].action == "invitations_imported" and entries[0].details == {"count": 2}
    assert "goed@example.org" not in str([e.details for e in entries])


def test_owner_adds_a_source_and_a_quota(client: TestClient, engine: Engine) -> None:
    csrf = login(client, "eigenaar@example.org")
    assert client.post(f"{PAGE}/tags", data={"csrf": csrf, "tag": "flyer"}).status_code == 303
    assert "https://x.example/s/bereik/l/flyer" in client.get(PAGE).text
    wrong = client.post(f"{PAGE}/tags", data={"csrf": csrf, "tag": "Met Spatie"})
    assert wrong.status_code == 422 and "source tag" in wrong.text
    saved = client.post(
        f"{PAGE}/quotas",
        data={"csrf": csrf, "name": "flyers", "max_completes": "5", "sources": "flyer"},
    )
    assert saved.status_code == 303
    [quota] = quotas.list_quotas(engine, "bereik")
    assert (quota.name, quota.sources, quota.max_completes) == ("flyers", ("flyer",), 5)
    bad = client.post(f"{PAGE}/quotas", data={"csrf": csrf, "name": "x", "max_completes": "veel"})
    assert bad.status_code == 422 and "whole number" in bad.text


def _workbook(tmp_path: Path, *, geopoint: bool = False) -> bytes:
    import openpyxl
    from tests.invitations.factories import reach_study

    from vakstem.instrument.xlsform import write_xlsform

    study = reach_study("ander_formulier_id")
    path = tmp_path / "form.xlsx"
    write_xlsform(study, path)
    if geopoint:
        book = openpyxl.load_workbook(path)
        sheet = book["survey"]
        header = [c.value for c in sheet[1]]
        row = [None] * len(header)
        row[header.index("type")] = "geopoint"
        row[header.index("name")] = "plek"
        sheet.append(row)
        book.save(path)
    return path.read_bytes()


def test_owner_uploads_an_xlsform_as_a_new_questionnaire_version(
    client: TestClient, tmp_path: Path
) -> None:
    csrf = login(client, "eigenaar@example.org")
    url = "/console/studies/bereik/versions"
    xlsx = ("form.xlsx", _workbook(tmp_path), "application/octet-stream")
    preview = client.post(url, data={"csrf": csrf}, files={"file": xlsx})
    assert preview.status_code == 200, preview.text
    # Checked and compared as a YAML upload would be (the form's own id does not matter).
    assert '<pre class="diff">' in preview.text or "dezelfde inhoud" in preview.text
    assert "Problemen" not in preview.text and "error-summary" not in preview.text


def test_xlsform_with_unsupported_features_is_refused_item_by_item_unless_left_out(
    client: TestClient, tmp_path: Path
) -> None:
    csrf = login(client, "eigenaar@example.org")
    url = "/console/studies/bereik/versions"
    xlsx = ("form.xlsx", _workbook(tmp_path, geopoint=True), "application/octet-stream")
    refused = client.post(url, data={"csrf": csrf}, files={"file": xlsx})
    assert refused.status_code == 422
    assert "not supported" in refused.text and "plek" in refused.text
    assert "leave out unsupported features" in refused.text
    skipped = client.post(url, data={"csrf": csrf, "skip_unsupported": "1"}, files={"file": xlsx})
    assert skipped.status_code == 200, skipped.text
    broken = ("form.xlsx", b"PK\x03\x04 not really a workbook", "application/octet-stream")
    unreadable = client.post(url, data={"csrf": csrf}, files={"file": broken})
    assert unreadable.status_code == 422 and "form.xlsx" in unreadable.text


def test_api_gives_the_counts_and_records_a_bounce(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    accounts = Accounts(engine)
    owner, viewer = (accounts.find(f"{n}@example.org") for n in ("eigenaar", "kijker"))
    assert owner is not None and viewer is not None
    as_owner = {"authorization": f"Bearer {accounts.create_api_token(owner, 'test')}"}
    as_viewer = {"authorization": f"Bearer {accounts.create_api_token(viewer, 'test')}"}
    settings = Settings(data_dir=tmp_path, secret_key="console-secret")
    inv.import_csv(engine, settings, "bereik", b"email\nweg@example.org\n")
    reach = client.get("/api/v1/studies/bereik/reach", headers=as_viewer)
    assert reach.status_code == 200
    body = reach.json()
    assert body["invitations"]["invited"] == 1
    assert {s["source"] for s in body["sources"]} >= {"", "gemeente-x", "nieuwsbrief-nov"}
    api = "/api/v1/studies/bereik/bounces"
    assert client.post(api, json={"email": "weg@example.org"}, headers=as_viewer).status_code == 403
    done = client.post(api, json={"email": "Weg@example.org", "reason": "550"}, headers=as_owner)
    assert done.status_code == 204 and inv.summary(engine, "bereik").bounced == 1
    unknown = client.post(api, json={"email": "niemand@example.org"}, headers=as_owner)
    assert unknown.status_code == 404
    assert client.get("/api/v1/studies/bereik/reach").status_code == 401


def test_an_invitation_list_over_64_kb_is_imported(client: TestClient, engine: Engine) -> None:
    # 3,000 addresses are about 100 KB: past the form limit, well within the CSV limit.
    csrf = login(client, "eigenaar@example.org")
    rows = "".join(f"klantmanager.{n:05d}@gemeente-voorbeeld.example.org,nl\n" for n in range(3000))
    data = ("email,language\n" + rows).encode()
    assert len(data) > 100 * 1024
    done = client.post(
        f"{PAGE}/invitations", data={"csrf": csrf}, files={"file": ("a.csv", data, "text/csv")}
    )
    assert done.status_code == 303, done.text[:300]
    assert inv.summary(engine, "bereik").invited == 3000
