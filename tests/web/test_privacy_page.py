"""The privacy statement page `/s/{study}/privacy`: the study's facts with the standard rights,
withdrawal and complaint texts in Dutch and English, the respondent pages' headers, small, in
any status; the welcome page and the footer of respondent pages link to it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.service.factories import PRIVACY
from tests.web.flow import FULL_RUN, Respondent
from tests.web.html import Page as HtmlPage

from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.schema import Item, ItemType, Page, Study
from vakstem.store.studies import get_study, load_study, set_status

BUDGET = 30 * 1024


def _text(html: str) -> str:
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


def _links(html: str) -> set[str]:
    return {a.get("href") or "" for a in HtmlPage(html).find_all("a")}


def test_page_gives_who_what_why_how_long_rights_and_contact_in_dutch(
    client: TestClient, engine: Engine
) -> None:
    response = client.get("/s/voorbeeld/privacy")
    assert response.status_code == 200
    text = _text(response.text)
    privacy = get_study(engine, "voorbeeld").study.privacy
    assert privacy is not None
    for heading in (
        "Privacyverklaring",
        "Wie is verantwoordelijk voor je gegevens?",
        "Wat verzamelen we?",
        "Waarom verzamelen we dit?",
        "Wettelijke grondslag:",
        "Hoe lang bewaren we het?",
        "Je rechten",
        "Vragen?",
    ):
        assert heading in text
    assert "Voorbeeldinstelling (vervang door uw instelling)" in text
    assert "Uw antwoorden, uw taal en wanneer u begon en klaar was." in text
    assert "uiterlijk 30 dagen na afloop" in text
    # The standard rights (AVG: access, correction, deletion), anonymity and withdrawal.
    assert "welke gegevens we van je hebben" in text and "verbeteren of te verwijderen" in text
    assert "alleen vinden met je persoonlijke code" in text
    assert "Autoriteit Persoonsgegevens" in text
    links = _links(response.text)
    assert "/s/voorbeeld/intrekken?lang=nl" in links
    assert "https://autoriteitpersoonsgegevens.nl" in links
    assert "mailto:privacy@example.org" in links
    assert "/s/voorbeeld?lang=nl" in links
    assert HtmlPage(response.text).find("html").get("lang") == "nl"


def test_page_in_english(client: TestClient) -> None:
    response = client.get("/s/voorbeeld/privacy?lang=en")
    assert response.status_code == 200
    text = _text(response.text)
    for phrase in (
        "Privacy statement",
        "Who is responsible for your data?",
        "Example institution (replace with yours)",
        "Showing how a questionnaire works in Vakstem.",
        "You may ask us which data we have about you.",
        "Dutch Data Protection Authority (Autoriteit Persoonsgegevens)",
    ):
        assert phrase in text
    assert "Wat verzamelen we?" not in text
    assert "/s/voorbeeld/intrekken?lang=en" in _links(response.text)
    assert HtmlPage(response.text).find("html").get("lang") == "en"


def test_page_has_the_respondent_headers_and_stays_small(client: TestClient) -> None:
    response = client.get("/s/voorbeeld/privacy", headers={"accept-encoding": "identity"})
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) < BUDGET
    page = HtmlPage(response.text)
    # One h1, then h2 sections: a heading structure screen readers can navigate.
    assert [h.text.strip() for h in page.find_all("h1")] == ["Privacyverklaring"]
    assert len(page.find_all("h2")) == 6


def test_unknown_study_is_the_normal_404(client: TestClient) -> None:
    normal = client.get("/s/bestaatniet")
    response = client.get("/s/bestaatniet/privacy")
    assert response.status_code == normal.status_code == 404
    assert _text(response.text) == _text(normal.text)


def test_page_is_shown_in_every_status(client: TestClient, engine: Engine) -> None:
    set_status(engine, "voorbeeld", "closed")
    assert client.get("/s/voorbeeld/privacy").status_code == 200
    set_status(engine, "voorbeeld", "archived")
    assert client.get("/s/voorbeeld/privacy").status_code == 200


def _draft(privacy: bool) -> Study:
    return Study(
        id="concept",
        title="Concept",
        languages=("nl", "en"),
        settings={"anonymous": False},
        privacy=PRIVACY.model_copy(update={"rights": "Eigen tekst over je rechten."})
        if privacy
        else None,
        pages=(Page(id="p1", items=(Item(id="jaren", type=ItemType.INTEGER, text="Jaren?"),)),),
    )


def test_draft_without_statement_says_it_has_none_yet(client: TestClient, engine: Engine) -> None:
    study = _draft(privacy=False)
    load_study(engine, study, dump_study_yaml(study))
    response = client.get("/s/concept/privacy")
    assert response.status_code == 404
    assert "nog geen privacyverklaring" in _text(response.text)
    assert "/privacy" not in _footer(response.text)


def test_own_rights_text_replaces_the_standard_one_but_not_withdrawal_or_complaint(
    client: TestClient, engine: Engine
) -> None:
    study = _draft(privacy=True)
    load_study(engine, study, dump_study_yaml(study))
    text = _text(client.get("/s/concept/privacy").text)
    assert "Eigen tekst over je rechten." in text
    assert "welke gegevens we van je hebben" not in text
    # Not anonymous: no explanation that only the code finds the answers.
    assert "persoonlijke code" not in text
    assert "Wil je je antwoorden intrekken?" in text and "Autoriteit Persoonsgegevens" in text
    assert "Deze organisatie is verantwoordelijk:" in text


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_welcome_page_and_footer_link_to_the_statement(client: TestClient, lang: str) -> None:
    welcome = client.get(f"/s/voorbeeld?lang={lang}")
    target = f"/s/voorbeeld/privacy?lang={lang}"
    page = HtmlPage(welcome.text)
    links = [a for a in page.find_all("a") if a.get("href") == target]
    # One in the welcome text, one in the footer.
    assert len(links) == 2
    assert all(a.text.strip() for a in links)
    assert target in _footer(welcome.text)


def _footer(html: str) -> str:
    return html.split('<footer class="foot">', 1)[1]


def test_footer_links_on_question_closing_closed_and_resume_pages(
    client: TestClient, engine: Engine
) -> None:
    target = "/s/voorbeeld/privacy?lang=nl"
    respondent = Respondent(client)
    respondent.open()
    for _page_id, values in FULL_RUN:
        response = respondent.submit(values)
        assert target in _footer(response.text), respondent.title()
    assert respondent.title() == "Hartelijk dank"
    resume_form = client.get("/s/voorbeeld/hervat")
    assert target in _footer(resume_form.text)
    set_status(engine, "voorbeeld", "closed")
    closed = client.get("/s/voorbeeld")
    assert closed.status_code == 409
    assert target in _footer(closed.text)


def test_footer_links_on_feedback_and_invitation_pages(client: TestClient) -> None:
    target = "/s/voorbeeld/privacy?lang=nl"
    # The public summary is off by default: its message page belongs to the study all the same.
    summary = client.get("/s/voorbeeld/resultaten")
    assert summary.status_code == 404 and target in _footer(summary.text)
    # A made-up invitation link: the study's own "this link does not work" page.
    invitation = client.get("/s/voorbeeld/i/verzonnen")
    assert invitation.status_code == 404 and target in _footer(invitation.text)
