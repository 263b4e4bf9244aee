"""Bad input at the HTTP level: oversized and badly encoded bodies, double and stale submits,
closed studies, unknown addresses, server errors, and the security headers on every answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from vakstem.settings import Settings
from vakstem.store.studies import set_status
from vakstem.web.app import create_app

from .flow import FULL_RUN, Respondent, hidden_fields, stored_answers

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"


def assert_secure(response: httpx2.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


def assert_friendly(response: httpx2.Response, text: str) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert text in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert_secure(response)


def test_form_body_over_64_kb_is_refused(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    fields = {**hidden_fields(r.last.text), "toestemming": "1", "x": "a" * (64 * 1024)}
    response = client.post("/s/voorbeeld", data=fields)
    assert response.status_code == 413
    assert_friendly(response, "Wat je stuurde is te groot. De grens is 64 KB.")


def test_streamed_body_over_the_limit_is_refused_without_a_length(client: TestClient) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"a" * 4096

    response = client.post(
        "/api/v1/studies/voorbeeld/responses",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "64 KB" in response.json()["detail"]
    assert_secure(response)


def test_json_body_over_the_limit_is_refused(client: TestClient) -> None:
    body = b'{"language": "' + b"n" * (65 * 1024) + b'"}'
    response = client.post(
        "/api/v1/studies/voorbeeld/responses",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Wat je stuurde is te groot")


@pytest.mark.parametrize("body", [b"toestemming=\xff", b"toestemming=%FF%FE", b"x=%C3%28"])
def test_form_with_invalid_utf8_is_a_bad_request(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/s/voorbeeld",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert_friendly(response, "tekens die we niet kunnen lezen")


def test_json_with_invalid_utf8_is_a_bad_request(client: TestClient) -> None:
    response = client.post(
        "/api/v1/studies/voorbeeld/responses",
        content=b'{"language": "\xc3\x28"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


def test_form_in_another_format_is_refused(client: TestClient) -> None:
    response = client.post("/s/voorbeeld", files={"toestemming": ("a.txt", b"1")})
    assert response.status_code == 415
    assert_friendly(response, "Dit formulier is verstuurd in een vorm die we niet kunnen lezen.")


def test_double_clicked_submit_stores_the_page_once(client: TestClient, engine: Engine) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    page = r.last.text
    fields = {**hidden_fields(page), **FULL_RUN[1][1]}
    first = client.post(r.url, data=fields, follow_redirects=False)
    second = client.post(r.url, data=fields, follow_redirects=False)
    # The first is answered with the next page; the second finds that page no longer current
    # and is sent to the page that is.
    assert (first.status_code, second.status_code) == (200, 303)
    assert "Overleg en beslisruimte" in first.text
    assert second.headers["location"] == r.url
    assert "Overleg en beslisruimte" in client.get(r.url).text
    variables = [v for _r, v, _x in stored_answers(engine)]
    assert len(variables) == len(set(variables))
    assert set(variables) == {"toestemming", *FULL_RUN[1][1]}


def test_resubmitted_old_page_changes_nothing(client: TestClient, engine: Engine) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    old_page = r.last.text
    r.submit(FULL_RUN[1][1])
    r.submit(FULL_RUN[2][1])
    before = sorted(stored_answers(engine))
    fields = {**hidden_fields(old_page), **FULL_RUN[1][1], "ervaring": "40"}
    response = client.post(r.url, data=fields, follow_redirects=True)
    assert response.status_code == 200
    assert "Prestatieafspraken" in response.text
    assert sorted(stored_answers(engine)) == before


def test_page_submitted_after_the_study_closed_is_refused(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    set_status(engine, "voorbeeld", "closed")
    fields = {**hidden_fields(r.last.text), **FULL_RUN[1][1]}
    response = client.post(r.url, data=fields)
    assert response.status_code == 409
    assert_friendly(response, "Dit onderzoek is gesloten")
    assert {v for _r, v, _x in stored_answers(engine)} == {"toestemming"}
    welcome = client.get("/s/voorbeeld")
    assert welcome.status_code == 409
    assert_friendly(welcome, "Dit onderzoek is gesloten")
    assert 'name="_csrf"' not in welcome.text


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("/s/bestaat_niet", "Dit onderzoek bestaat niet. Controleer de link."),
        ("/s/bestaat_niet?lang=en", "This survey does not exist. Please check the link."),
        ("/s/voorbeeld/r/AAAA-BBBB-CC", "We vinden geen antwoorden bij deze code."),
        ("/s/voorbeeld/r/%3Cscript%3E", "We vinden geen antwoorden bij deze code."),
        ("/s/bestaat_niet/hervat", "Dit onderzoek bestaat niet."),
        ("/nergens", "Deze pagina bestaat niet. Controleer de link."),
    ],
)
def test_unknown_study_code_or_page_is_a_friendly_404(
    client: TestClient, url: str, text: str
) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert_friendly(response, text)
    assert "<script>" not in response.text


def test_unknown_response_in_the_api_is_json(client: TestClient) -> None:
    response = client.get("/api/v1/responses/abc", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404
    assert response.json() == {
        "detail": "We vinden geen antwoorden bij deze code. Kijk de code of de link na."
    }
    assert_secure(response)


def test_unexpected_error_is_a_friendly_500_page_with_headers(
    empty_database_url: str, settings: Settings
) -> None:
    # A database without tables (never migrated): every query fails in a way no handler expects.
    broken = sa.create_engine(empty_database_url)
    with TestClient(create_app(settings, broken), raise_server_exceptions=False) as client:
        response = client.get("/s/voorbeeld")
        assert response.status_code == 500
        assert_friendly(response, "Er ging bij ons iets mis.")
        api = client.post("/api/v1/studies/voorbeeld/responses", json={})
        assert api.status_code == 500 and "detail" in api.json()
    broken.dispose()


def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    r = Respondent(client)
    responses = [
        r.open(),
        r.submit({}),  # 422 page
        client.get("/static/vakstem.css"),
        client.get("/openapi.json"),
        client.get("/nergens"),
        client.post("/api/v1/studies/voorbeeld/responses", json={}),
        client.delete("/s/voorbeeld"),
    ]
    for response in responses:
        assert_secure(response)


def test_static_files_are_small_and_cacheable(client: TestClient) -> None:
    page = client.get("/s/voorbeeld").text
    css_url = page.split('rel="stylesheet" href="')[1].split('"')[0]
    assert css_url.startswith("/static/vakstem.css?v=")
    css = client.get(css_url)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "immutable" in css.headers["cache-control"]
    assert len(css.content) < 12 * 1024
    assert "@import" not in css.text and "url(" not in css.text


def test_pages_make_no_external_requests(client: TestClient) -> None:
    r = Respondent(client)
    for _page_id, values in [("", {}), *FULL_RUN]:
        html = r.last.text if _page_id else r.open().text
        for marker in ('src="http', 'href="http', "//fonts.", "cdn"):
            offenders = [line for line in html.splitlines() if marker in line]
            # The only absolute link is the respondent's own resume link.
            assert all("/s/voorbeeld/r/" in line for line in offenders), offenders
        if values:
            r.submit(values)


def test_hsts_only_when_served_behind_tls(engine: Engine, tmp_path: Path) -> None:
    plain = TestClient(create_app(Settings(data_dir=tmp_path), engine))
    assert "strict-transport-security" not in plain.get("/s/voorbeeld").headers
    tls = TestClient(create_app(Settings(data_dir=tmp_path, behind_tls=True), engine))
    assert tls.get("/s/voorbeeld").headers["strict-transport-security"] == "max-age=31536000"


def test_wrong_method_lists_the_allowed_ones(client: TestClient) -> None:
    response = client.put("/api/v1/studies/voorbeeld/responses", json={})
    assert response.status_code == 405
    assert "POST" in response.headers["allow"].split(", ")
    assert response.json()["detail"] == "Dit adres kan niet op deze manier gebruikt worden."
    page = client.put("/s/voorbeeld")
    assert page.status_code == 405
    assert set(page.headers["allow"].split(", ")) >= {"GET", "POST"}
