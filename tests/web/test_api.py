"""The respondent JSON API on a real database: the whole flow, authentication by resume code,
per-item errors, stale pages, and an OpenAPI document that describes it."""

from __future__ import annotations

from typing import Any

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from vakstem.store.studies import set_status

from .flow import stored_answers

API = "/api/v1"

JSON_RUN: list[tuple[str, dict[str, Any]]] = [
    ("welkom", {"toestemming": 1}),
    ("achtergrond", {"functie": 2, "ervaring": 12, "uren": 32.5, "in_dienst": "2015-03-01"}),
    (
        "werk",
        {
            "overleg": [1],
            "overleg_keer": 2,
            "br_1": 4,
            "br_2": 5,
            "br_3": 2,
            "br_4": 9,
            "afspraken": 0,
        },
    ),
    ("tot_slot", {"behoefte": "Meer tijd."}),
]


class ApiRespondent:
    def __init__(self, client: TestClient, language: str | None = None) -> None:
        self.client = client
        body = {"language": language} if language else {}
        response = client.post(f"{API}/studies/voorbeeld/responses", json=body)
        assert response.status_code == 201, response.text
        self.start = response.json()
        self.id = self.start["id"]
        self.auth = {"Authorization": f"Bearer {self.start['resume_code']}"}

    def state(self) -> httpx2.Response:
        return self.client.get(f"{API}/responses/{self.id}", headers=self.auth)

    def submit(self, page: str, answers: dict[str, Any]) -> httpx2.Response:
        return self.client.post(
            f"{API}/responses/{self.id}/pages/{page}", json={"answers": answers}, headers=self.auth
        )


def test_whole_study_over_the_api(client: TestClient, engine: Engine) -> None:
    r = ApiRespondent(client)
    assert r.start["completed"] is False
    first = r.start["page"]
    assert (first["id"], first["index"], first["total"]) == ("welkom", 0, 5)
    consent = first["items"][1]
    assert consent["type"] == "consent" and consent["required"] is True
    assert [c["code"] for c in consent["choices"]] == [1, 0]
    for page_id, answers in JSON_RUN:
        state = r.state().json()
        assert state["page"]["id"] == page_id
        response = r.submit(page_id, answers)
        assert response.status_code == 200, response.text
    body = response.json()
    assert body["completed"] is True and body["page"] is None and body["status"] == "completed"
    assert body["answers"]["uren"] == 32.5 and body["answers"]["overleg"] == [1]
    assert len(stored_answers(engine)) == len(body["answers"])


def test_page_items_carry_texts_choices_and_limits_in_the_response_language(
    client: TestClient,
) -> None:
    r = ApiRespondent(client, language="en")
    r.submit("welkom", {"toestemming": 1})
    page = r.state().json()["page"]
    assert page["title"] == "About your work"
    items = {item["id"]: item for item in page["items"]}
    assert items["ervaring"]["text"] == "For how many years have you worked as a client manager?"
    assert items["ervaring"]["hint"] == "Round to whole years."
    assert (items["ervaring"]["min"], items["ervaring"]["max"]) == (0, 50)
    assert items["functie_anders"]["max_length"] == 100
    assert {c["label"] for c in items["functie"]["choices"]} >= {"Income", "Youth"}
    assert items["provincie"]["choices"][7]["label"] == "North Holland"
    r.submit("achtergrond", {"functie": 1, "ervaring": 3})
    page = r.state().json()["page"]
    matrix = next(item for item in page["items"] if item["type"] == "matrix")
    assert {row["id"] for row in matrix["rows"]} == {"br_1", "br_2", "br_3", "br_4"}
    assert [c["missing"] for c in matrix["choices"]].count(True) == 1


def test_wrong_types_and_out_of_range_values_give_per_item_errors(
    client: TestClient, engine: Engine
) -> None:
    r = ApiRespondent(client, language="en")
    r.submit("welkom", {"toestemming": 1})
    response = r.submit(
        "achtergrond",
        {
            "functie": "2",
            "ervaring": 51,
            "uren": "32",
            "in_dienst": "2021-02-30",
            "provincie": 13,
            "onbekend": 1,
            "pa_1": 3,
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    codes = {variable: [e["code"] for e in errs] for variable, errs in errors.items()}
    assert codes == {
        "functie": ["not_a_choice"],
        "ervaring": ["above_max"],
        "uren": ["not_number"],
        "in_dienst": ["not_a_date"],
        "provincie": ["not_a_choice"],
        "onbekend": ["unknown_item"],
        "pa_1": ["unknown_item"],
    }
    assert errors["ervaring"][0]["message"] == "Enter a value of at most 50."
    # Nothing of the page was stored, and the response is still on it.
    assert {v for _r, v, _x in stored_answers(engine)} == {"toestemming"}
    assert r.state().json()["page"]["id"] == "achtergrond"


def test_error_messages_follow_the_response_language(client: TestClient) -> None:
    r = ApiRespondent(client)
    response = r.submit("welkom", {})
    assert response.json()["errors"]["toestemming"][0]["message"] == "Beantwoord deze vraag."


def test_answer_for_an_item_hidden_by_an_earlier_page_is_refused(client: TestClient) -> None:
    r = ApiRespondent(client)
    for page_id, answers in JSON_RUN[:3]:
        assert r.submit(page_id, answers).status_code == 200
    # uren is 32.5, so the question about working more than 36 hours does not apply.
    response = r.submit("tot_slot", {"uren_toelichting": "Veel overwerk."})
    assert response.status_code == 422
    assert response.json()["errors"]["uren_toelichting"][0]["code"] == "not_relevant"


def test_text_over_its_maximum_length_is_refused(client: TestClient) -> None:
    r = ApiRespondent(client)
    r.submit("welkom", {"toestemming": 1})
    response = r.submit("achtergrond", {"functie": 6, "functie_anders": "x" * 101, "ervaring": 1})
    assert response.json()["errors"]["functie_anders"][0]["code"] == "too_long"


def test_resubmitting_an_old_page_is_a_conflict_with_the_current_page(
    client: TestClient, engine: Engine
) -> None:
    r = ApiRespondent(client)
    assert r.submit(*JSON_RUN[0]).status_code == 200
    assert r.submit(*JSON_RUN[1]).status_code == 200
    before = sorted(stored_answers(engine))
    again = r.submit(*JSON_RUN[1])
    assert again.status_code == 409
    assert again.json()["state"]["page"]["id"] == "werk"
    old = r.submit("welkom", {"toestemming": 0})
    assert old.status_code == 409
    assert sorted(stored_answers(engine)) == before
    assert r.state().json()["status"] == "active"


def test_back_returns_to_the_previous_page(client: TestClient) -> None:
    r = ApiRespondent(client)
    r.submit(*JSON_RUN[0])
    r.submit(*JSON_RUN[1])
    response = client.post(f"{API}/responses/{r.id}/back", headers=r.auth)
    assert response.status_code == 200
    body = response.json()
    assert body["page"]["id"] == "achtergrond" and body["answers"]["ervaring"] == 12


def test_missing_or_wrong_resume_code_is_not_found(client: TestClient) -> None:
    r = ApiRespondent(client)
    url = f"{API}/responses/{r.id}"
    wrong = {"Authorization": "Bearer AAAA-BBBB-CC"}
    for headers in (
        {},
        wrong,
        {"Authorization": r.start["resume_code"]},
        {"Authorization": "Bearer "},
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 404
        assert response.json() == client.get(f"{API}/responses/nope", headers=r.auth).json()
    assert (
        client.post(f"{url}/pages/welkom", json={"answers": {}}, headers=wrong).status_code == 404
    )
    assert client.post(f"{url}/back", headers=wrong).status_code == 404
    # Another response's code does not open this one.
    other = ApiRespondent(client)
    assert client.get(url, headers=other.auth).status_code == 404


def test_resume_code_is_accepted_in_any_case_and_without_dashes(client: TestClient) -> None:
    r = ApiRespondent(client)
    code = r.start["resume_code"].replace("-", "").lower()
    response = client.get(f"{API}/responses/{r.id}", headers={"Authorization": f"Bearer {code}"})
    assert response.status_code == 200


def test_unknown_study_is_not_found_and_a_closed_one_a_conflict(
    client: TestClient, engine: Engine
) -> None:
    response = client.post(f"{API}/studies/bestaat_niet/responses", json={})
    assert response.status_code == 404
    assert response.json()["detail"] == "Dit onderzoek bestaat niet. Controleer de link."
    r = ApiRespondent(client)
    set_status(engine, "voorbeeld", "closed")
    assert client.post(f"{API}/studies/voorbeeld/responses", json={}).status_code == 409
    response = r.submit(*JSON_RUN[0])
    assert response.status_code == 409
    assert "gesloten" in response.json()["detail"]


def test_start_without_a_body_and_with_a_source_tag(client: TestClient) -> None:
    assert client.post(f"{API}/studies/voorbeeld/responses").status_code == 201
    response = client.post(
        f"{API}/studies/voorbeeld/responses", json={"language": "en", "source": "website"}
    )
    assert response.status_code == 201
    assert response.json()["page"]["title"] == "Welcome"


def test_malformed_bodies_get_a_422_with_errors(client: TestClient) -> None:
    r = ApiRespondent(client)
    url = f"{API}/responses/{r.id}/pages/welkom"
    for body in ('{"answers": [1, 2]}', "{", '{"antwoorden": {}}', "[]"):
        response = client.post(
            url, content=body, headers={**r.auth, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, body
        assert response.json()["errors"], body
    extra = client.post(f"{API}/studies/voorbeeld/responses", json={"taal": "en"})
    assert extra.status_code == 422


def test_openapi_describes_every_endpoint_and_model(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/api/v1/studies/{study_id}/responses",
        "/api/v1/responses/{response_id}",
        "/api/v1/responses/{response_id}/pages/{page_id}",
        "/api/v1/responses/{response_id}/back",
    }
    submit = paths["/api/v1/responses/{response_id}/pages/{page_id}"]["post"]
    assert {"200", "404", "409", "422"} <= set(submit["responses"])
    schemas = spec["components"]["schemas"]
    assert {"StartIn", "SubmitIn", "StateOut", "PageOut", "ItemOut", "ErrorsOut"} <= set(schemas)


def test_request_not_matching_the_schema_keeps_the_documented_422_shape(
    client: TestClient,
) -> None:
    response = client.post(f"{API}/studies/voorbeeld/responses", json={"taal": "en"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == [
        {
            "type": "extra_forbidden",
            "loc": ["body", "taal"],
            "msg": "Extra inputs are not permitted",
        }
    ]
    assert body["errors"] == {
        "body.taal": [{"code": "extra_forbidden", "message": "Extra inputs are not permitted"}]
    }
