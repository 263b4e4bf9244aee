"""The respondent flow through the HTML pages on a real database (SQLite and PostgreSQL):
the whole example study, back, language switch, resume, refusal, and the page states."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from .flow import FULL_RUN, Respondent, response_rows, stored_answers


def test_viewing_the_link_creates_no_response(client: TestClient, engine: Engine) -> None:
    for _ in range(3):
        assert client.get("/s/voorbeeld").status_code == 200
        assert client.get("/s/voorbeeld?bron=nieuwsbrief&lang=en").status_code == 200
    assert response_rows(engine) == []


def test_whole_example_study_is_completed_and_stored(client: TestClient, engine: Engine) -> None:
    r = Respondent(client)
    r.open("?bron=nieuwsbrief")
    titles = []
    for page_id, values in FULL_RUN:
        assert r.page_id == page_id
        titles.append(r.title())
        response = r.submit(values)
        assert response.status_code == 200, response.text
    assert titles == [
        "Welkom",
        "Over uw werk",
        "Overleg en beslisruimte",
        "Prestatieafspraken",
        "Tot slot",
    ]
    assert r.title() == "Hartelijk dank"
    assert "Hartelijk dank voor het invullen van de vragenlijst." in r.last.text
    (row,) = response_rows(engine)
    assert (row.status, row.source, row.language) == ("completed", "nieuwsbrief", "nl")
    stored = {variable: value for _rid, variable, value in stored_answers(engine)}
    assert stored["functie"] == 6 and stored["functie_anders"] == "Schuldhulp"
    assert stored["uren"] == 38.5 and stored["overleg"] == [1, 2] and stored["br_4"] == 9
    assert stored["behoefte"] == "Tijd.\nEn rust."
    # A finished response shows its closing page again; it cannot be submitted any more.
    assert "Hartelijk dank" in r.reload().text


def test_source_tag_not_listed_by_the_study_is_not_stored(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open("?bron=spam-campaign")
    r.submit({"toestemming": "1"})
    (row,) = response_rows(engine)
    assert row.source is None


def test_each_page_is_well_under_30_kb(client: TestClient) -> None:
    r = Respondent(client)
    sizes = {"welkom": len(r.open().content)}
    for page_id, values in FULL_RUN:
        sizes[page_id] = len(r.last.content)
        r.submit(values)
    sizes["closing"] = len(r.last.content)
    css = client.get("/static/vakstem.css").content
    js = client.get("/static/vakstem.js").content
    for name, size in sizes.items():
        assert size + len(css) + len(js) < 30 * 1024, (name, size)


def test_validation_errors_show_the_page_again_with_typed_answers(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    r.submit({"toestemming": "1"})
    response = r.submit(
        {
            "functie": "99",
            "ervaring": "51",
            "uren": "veel",
            "in_dienst": "2021-02-30",
            "functie_anders": "x" * 101,
            "provincie": "7",
        }
    )
    assert response.status_code == 422
    page = r.page
    assert page.by_id("e-functie").text.endswith("Kies een van de getoonde antwoorden.")
    assert page.by_id("e-ervaring").text.endswith("Vul een waarde in van hoogstens 50.")
    assert page.by_id("e-uren").text.endswith("Vul een getal in, bijvoorbeeld 3,5.")
    assert page.by_id("e-in_dienst").text.endswith("Vul een datum in met dag, maand en jaar.")
    # What was typed stays, also when it was wrong.
    assert page.find("input", name="ervaring").get("value") == "51"
    assert page.find("input", name="uren").get("value") == "veel"
    assert page.find("option", value="7").get("selected") == ""
    assert page.find("input", name="ervaring").get("aria-invalid") == "true"
    assert len(page.by_id("error-summary").text) > 0
    # Fixing the answers moves on.
    r.submit({"functie": "2", "ervaring": "5", "uren": "", "in_dienst": "", "functie_anders": ""})
    assert r.page_id == "werk"


def test_text_over_its_maximum_length_is_refused(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    r.submit({"toestemming": "1"})
    response = r.submit({"functie": "6", "functie_anders": "x" * 101, "ervaring": "3"})
    assert response.status_code == 422
    assert r.page.by_id("e-functie_anders").text.endswith("Gebruik maximaal 100 tekens.")


def test_required_matrix_rows_and_constraint_message(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    r.submit(FULL_RUN[1][1])
    response = r.submit({"overleg": ["-1", "1"], "br_1": "1", "afspraken": "0"})
    assert response.status_code == 422
    page = r.page
    assert page.by_id("e-overleg").text.endswith(
        "«Geen van deze» kunt u niet combineren met een ander antwoord."
    )
    for row in ("br_2", "br_3", "br_4"):
        assert page.by_id(f"e-{row}").text.endswith("Beantwoord deze vraag.")
    assert page.find("input", name="br_1", value="1").get("checked") == ""


def test_answers_for_items_not_on_the_page_are_refused(client: TestClient, engine: Engine) -> None:
    r = Respondent(client)
    r.open()
    r.submit({"toestemming": "1"})
    response = r.submit({**FULL_RUN[1][1], "pa_1": "3", "bestaat_niet": "1"})
    assert response.status_code == 422
    summary = r.page.by_id("error-summary").text
    assert "pa_1" in summary and "bestaat_niet" in summary
    assert "Deze vraag hoort niet bij deze pagina." in summary
    assert {v for _r, v, _x in stored_answers(engine)} == {"toestemming"}


def test_answer_to_an_item_hidden_on_the_same_page_is_dropped(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    r.submit({"toestemming": "1"})
    r.submit({**FULL_RUN[1][1], "functie": "2", "functie_anders": "zou weg moeten"})
    assert r.page_id == "werk"
    assert "functie_anders" not in {v for _r, v, _x in stored_answers(engine)}


def test_back_shows_the_previous_page_with_its_answers(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    r.submit(FULL_RUN[1][1])
    assert r.page_id == "werk"
    r.back()
    assert r.page_id == "achtergrond"
    assert r.page.find("input", name="ervaring").get("value") == "12"
    assert r.page.find("input", name="uren").get("value") == "38.5"
    assert r.page.find("input", name="functie", value="6").get("checked") == ""


def test_double_clicked_back_goes_back_once(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    r.submit(FULL_RUN[1][1])
    on_werk = r.last.text
    r.back()
    r.last = type(r.last)(200, text=on_werk)  # the second click comes from the same old page
    r.back()
    assert r.page_id == "achtergrond"


def test_language_switch_keeps_the_answers(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    r.submit(FULL_RUN[1][1])
    switch = r.page.find("a", hreflang="en").get("href")
    assert switch == f"{r.url}?lang=en"
    r.last = client.get(switch)
    assert r.page.find("html").get("lang") == "en"
    assert r.title() == "Consultation and discretion"
    assert "Page 3 of 5" in r.last.text
    r.back()
    assert r.title() == "About your work"
    assert r.page.find("input", name="ervaring").get("value") == "12"
    assert r.page.find("span", lang="en").get("aria-current") == "true"


def test_welcome_page_in_english_starts_an_english_response(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open("?lang=en")
    assert r.title() == "Welcome"
    r.submit({"toestemming": "1"})
    assert r.title() == "About your work"
    (row,) = response_rows(engine)
    assert row.language == "en"


def test_refused_consent_ends_politely_and_keeps_no_answers(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    response = r.submit({"toestemming": "0"})
    assert response.status_code == 200
    assert r.title() == "Dank je wel voor je tijd"
    assert "We hebben geen antwoorden van je bewaard." in response.text
    assert stored_answers(engine) == []
    (row,) = response_rows(engine)
    assert row.status == "refused"


def test_missing_consent_shows_the_welcome_page_again(client: TestClient) -> None:
    r = Respondent(client)
    r.open()
    response = r.submit({})
    assert response.status_code == 422
    assert r.page.by_id("e-toestemming").text.endswith("Beantwoord deze vraag.")
    # The response now exists: the page says how to come back to it.
    assert r.page.find("p", class_="code")


def test_resume_with_the_code_on_another_device(client: TestClient, engine: Engine) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    r.submit(FULL_RUN[1][1])
    code = r.page.find("p", class_="code").text.strip()
    assert code == r.code
    other = TestClient(client.app)
    form = other.get("/s/voorbeeld/hervat")
    assert form.status_code == 200 and 'name="code"' in form.text
    typed = code.lower().replace("-", " ")
    response = other.post(
        "/s/voorbeeld/hervat", data={"code": typed, "_lang": "nl"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/s/voorbeeld/r/{code}"
    page = other.get(response.headers["location"])
    assert "Overleg en beslisruimte" in page.text
    assert len(response_rows(engine)) == 1


def test_unknown_resume_code_shows_the_form_again(client: TestClient) -> None:
    response = client.post("/s/voorbeeld/hervat", data={"code": "AAAA-BBBB-CC", "_lang": "nl"})
    assert response.status_code == 404
    assert "We vinden geen antwoorden bij deze code." in response.text
    assert 'aria-invalid="true"' in response.text


def test_resume_code_of_another_study_is_not_found(client: TestClient, engine: Engine) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    response = client.get(f"/s/klantmanagers/r/{r.code}")
    assert response.status_code == 404


def test_wrong_csrf_token_shows_the_page_again_and_stores_nothing(
    client: TestClient, engine: Engine
) -> None:
    r = Respondent(client)
    r.open()
    r.submit(FULL_RUN[0][1])
    response = r.submit(FULL_RUN[1][1], _csrf="forged")
    assert response.status_code == 403
    assert "Deze pagina was verlopen" in response.text
    assert r.page.find("input", name="ervaring").get("value") == "12"
    assert {v for _r, v, _x in stored_answers(engine)} == {"toestemming"}
