"""Withdrawal in a real browser (Chromium on a 390×844 phone screen): from the "continue later"
box of a half-filled questionnaire to the confirmation and the done page, with a mistyped code
on the way; focus lands on the error summary, and axe-core finds no serious or critical problem
on any of the pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from vakstem.service.responses import ResponseService
from vakstem.store.tables import answers, responses

from .conftest import LiveServer

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
}


def _problems(axe: Axe, page: Page, name: str) -> list[str]:
    results = axe.run(page, options=AXE_OPTIONS)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    found = [f"{name}: {overflow}px wider than the screen"] if overflow > 0 else []
    for violation in results.response["violations"]:
        if violation["impact"] in {"serious", "critical"}:
            targets = [node["target"] for node in violation["nodes"]][:3]
            found.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")
    return found


def test_respondent_withdraws_from_the_questionnaire_page(
    live: LiveServer, browser: Browser
) -> None:
    service = ResponseService(live.engine)
    state = service.start("voorbeeld")
    assert service.submit_page(state.id, "welkom", {"toestemming": 1}).ok
    axe = Axe()
    problems: list[str] = []
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()

    page.goto(f"{live.url}/s/voorbeeld/r/{state.resume_code}")
    page.get_by_role("button", name="Mijn antwoorden intrekken").click()
    expect(page.locator("h1")).to_have_text("Weet je het zeker?")
    problems += _problems(axe, page, "bevestigen")
    # Cancel first: back to the questionnaire, nothing deleted.
    page.get_by_role("button", name="Nee, bewaar mijn antwoorden").click()
    expect(page).to_have_url(f"{live.url}/s/voorbeeld/r/{state.resume_code}")

    page.goto(f"{live.url}/s/voorbeeld/intrekken")
    problems += _problems(axe, page, "formulier")
    page.get_by_label("Je code").fill("K7QM-3XHD")
    page.get_by_role("button", name="Verder").click()
    expect(page.locator("#e-code")).to_contain_text("Dit is geen geldige code")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    problems += _problems(axe, page, "formulier (fout)")
    page.locator("#error-summary a").click()
    assert page.evaluate("document.activeElement.id") == "code"
    page.get_by_label("Je code").fill(state.resume_code.lower())
    page.get_by_role("button", name="Verder").click()
    page.get_by_role("button", name="Ja, verwijder mijn antwoorden").click()
    expect(page.locator("h1")).to_have_text("Je antwoorden zijn ingetrokken")
    problems += _problems(axe, page, "klaar")
    context.close()

    assert not problems, "\n".join(problems)
    with live.engine.connect() as conn:
        status = conn.execute(
            sa.select(responses.c.status).where(responses.c.id == state.id)
        ).scalar_one()
        left = conn.execute(
            sa.select(sa.func.count()).where(answers.c.response_id == state.id)
        ).scalar_one()
    assert (status, left) == ("withdrawn", 0)
