"""The example study filled in by a real browser (Chromium at a phone's 390×844 viewport):
every page, back, the language switch, resuming with the code in a new browser context on
"another device", completing; once more in English on a wide screen. axe-core checks every page
of the flow (incl. an error state, the 404 page and the closing page) and the test fails on any
serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
#: A respondent flow: on PostgreSQL (see tests/browser/conftest.py).
DATABASE_BACKEND = "postgresql"

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 900}
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
}


class Checked:
    """Runs axe-core on pages and collects serious or critical violations."""

    def __init__(self) -> None:
        self.axe = Axe()
        self.problems: list[str] = []
        self.pages: list[str] = []

    def __call__(self, page: Page, name: str) -> None:
        results = self.axe.run(page, options=AXE_OPTIONS)
        self.pages.append(name)
        for violation in results.response["violations"]:
            if violation["impact"] in {"serious", "critical"}:
                targets = [node["target"] for node in violation["nodes"]][:3]
                self.problems.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")
        # Readable on the viewport: nothing wider than the screen (no sideways scrolling).
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name}: {overflow}px wider than the viewport"


def choose(page: Page, variable: str, code: Any) -> None:
    """Tap an option the way a person does: on its label."""
    page.click(f"label[for='f-{variable}-{code}']")


def next_page(page: Page, label: str) -> None:
    page.get_by_role("button", name=label).click()
    page.wait_for_load_state("load")


def test_example_study_on_a_phone_with_back_and_resume(live_server: str, browser: Browser) -> None:
    check = Checked()
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server}/s/voorbeeld?bron=website")
    expect(page.locator("h1")).to_have_text("Welkom")
    check(page, "welkom")

    # Sending the welcome page without consent: the error state.
    next_page(page, "Volgende")
    expect(page.locator("#e-toestemming")).to_contain_text("Beantwoord deze vraag.")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    check(page, "welkom (fout)")
    choose(page, "toestemming", 1)
    next_page(page, "Volgende")

    expect(page.locator("h1")).to_have_text("Over uw werk")
    check(page, "achtergrond")
    choose(page, "functie", 6)
    page.fill("#f-functie_anders", "Schuldhulpverlening")
    page.select_option("#f-provincie", "7")
    page.fill("#f-ervaring", "12")
    page.fill("#f-uren", "38,5")
    page.fill("#f-in_dienst", "2015-03-01")
    next_page(page, "Volgende")

    expect(page.locator("h1")).to_have_text("Overleg en beslisruimte")
    expect(page.locator("label[for='progress']")).to_have_text("Pagina 3 van 5")
    check(page, "werk")
    choose(page, "overleg", 1)
    choose(page, "overleg", 2)
    page.fill("#f-overleg_keer", "3")
    for row, code in (("br_1", 4), ("br_2", 5), ("br_3", 2), ("br_4", 9)):
        choose(page, row, code)
    choose(page, "afspraken", 1)

    # The language switch is a link: typed answers on this page are not sent, stored ones stay.
    next_page(page, "Volgende")
    expect(page.locator("h1")).to_have_text("Prestatieafspraken")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Performance agreements")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Nederlands").click()
    expect(page.locator("h1")).to_have_text("Prestatieafspraken")
    check(page, "afspraken_detail")

    # Back: the previous page with its answers.
    next_page(page, "Vorige pagina")
    expect(page.locator("h1")).to_have_text("Overleg en beslisruimte")
    expect(page.locator("#f-overleg-2")).to_be_checked()
    expect(page.locator("#f-br_4-9")).to_be_checked()
    expect(page.locator("#f-overleg_keer")).to_have_value("3")
    next_page(page, "Volgende")
    expect(page.locator("h1")).to_have_text("Prestatieafspraken")

    # A validation error on a matrix page, then stop here and keep the code.
    choose(page, "pa_3", 5)
    next_page(page, "Volgende")
    expect(page.locator("#e-pa_aantal")).to_contain_text("Beantwoord deze vraag.")
    check(page, "afspraken_detail (fout)")
    code = page.locator(".later .code").inner_text().strip()
    assert len(code.replace("-", "")) == 10
    context.close()

    # Another device: a new browser context with no cookies or history.
    other = browser.new_context(viewport=PHONE)
    page = other.new_page()
    page.goto(f"{live_server}/s/voorbeeld/hervat")
    check(page, "hervat")
    page.fill("#code", code.lower().replace("-", " "))
    page.get_by_role("button", name="Verder").click()
    expect(page.locator("h1")).to_have_text("Prestatieafspraken")
    expect(page.locator("#f-pa_3-5")).not_to_be_checked()  # the failed page was not stored
    for row, code_ in (("pa_1", 3), ("pa_2", 4), ("pa_3", 5)):
        choose(page, row, code_)
    page.fill("#f-pa_aantal", "20")
    next_page(page, "Volgende")

    expect(page.locator("h1")).to_have_text("Tot slot")
    check(page, "tot_slot")
    page.fill("#f-behoefte", "Meer tijd per klant.")
    expect(page.locator("#c-behoefte")).to_have_text("20 van 2000 tekens gebruikt")
    page.fill("#f-uren_toelichting", "Veel overwerk in de drukke maanden.")
    next_page(page, "Afronden")

    expect(page.locator("h1")).to_have_text("Hartelijk dank")
    expect(page.locator("main")).to_contain_text("Hartelijk dank voor het invullen")
    check(page, "afsluiting")

    page.goto(f"{live_server}/s/bestaat_niet")
    expect(page.locator("h1")).to_have_text("Niet gevonden")
    check(page, "404")
    other.close()

    assert not check.problems, "\n".join(check.problems)


def test_example_study_in_english_on_a_wide_screen(live_server: str, browser: Browser) -> None:
    check = Checked()
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    page.goto(f"{live_server}/s/voorbeeld?lang=en")
    expect(page.locator("h1")).to_have_text("Welcome")
    check(page, "welcome")
    choose(page, "toestemming", 1)
    next_page(page, "Next")

    expect(page.locator("h1")).to_have_text("About your work")
    choose(page, "functie", 1)
    page.fill("#f-ervaring", "sixty")
    next_page(page, "Next")
    expect(page.locator("#e-ervaring")).to_contain_text("Enter a whole number")
    expect(page.locator("#f-ervaring")).to_have_value("sixty")
    check(page, "about your work (error)")
    page.locator(".error-summary a").first.click()
    assert page.evaluate("document.activeElement.id") == "f-ervaring"
    page.fill("#f-ervaring", "6")
    next_page(page, "Next")

    # On a wide screen the matrix is a table with the choices as column headers.
    expect(page.locator("h1")).to_have_text("Consultation and discretion")
    expect(page.locator("table.grid thead")).to_be_visible()
    check(page, "consultation (table)")
    for row in ("br_1", "br_2", "br_3", "br_4"):
        choose(page, row, 4)
    choose(page, "afspraken", 0)
    next_page(page, "Next")

    # No performance agreements: that page is skipped.
    expect(page.locator("h1")).to_have_text("Finally")
    expect(page.locator("label[for='progress']")).to_have_text("Page 5 of 5")
    next_page(page, "Finish")
    expect(page.locator("h1")).to_have_text("Thank you")
    expect(page.locator("main")).to_contain_text("Thank you very much for completing")
    check(page, "closing")

    page.goto(f"{live_server}/s/voorbeeld/r/AAAA-BBBB-CC?lang=en")
    expect(page.locator("h1")).to_have_text("Not found")
    check(page, "404")
    context.close()
    assert not check.problems, "\n".join(check.problems)


def test_pages_work_without_javascript_on_a_360_px_screen(
    live_server: str, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()

    def fits() -> None:
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{page.url}: {overflow}px wider than 360"

    page.goto(f"{live_server}/s/voorbeeld")
    fits()
    choose(page, "toestemming", 1)
    next_page(page, "Volgende")
    expect(page.locator("h1")).to_have_text("Over uw werk")
    next_page(page, "Volgende")
    expect(page.locator(".error-summary")).to_be_visible()
    fits()
    choose(page, "functie", 2)
    page.fill("#f-ervaring", "1")
    next_page(page, "Volgende")
    expect(page.locator("h1")).to_have_text("Overleg en beslisruimte")
    fits()
    next_page(page, "Vorige pagina")
    expect(page.locator("#f-functie-2")).to_be_checked()
    context.close()


def test_script_lets_a_page_be_sent_only_once(live_server: str, browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server}/s/voorbeeld")
    choose(page, "toestemming", 1)
    # Count the submits that the page's script lets through (and stop them here, so the test
    # sees the page as it is while "saving"): a double click must give one.
    sent = page.evaluate(
        """() => new Promise(resolve => {
            const form = document.getElementById("answers");
            let sent = 0;
            form.addEventListener("submit", e => {
                if (!e.defaultPrevented) sent++;
                e.preventDefault();
            });
            const button = form.querySelector("button.next");
            form.requestSubmit(button);
            form.requestSubmit(button);
            setTimeout(() => resolve([sent, button.textContent, button.disabled]), 50);
        })"""
    )
    assert sent == [1, "Bezig met opslaan…", True]
    context.close()


def test_reloading_a_page_sent_as_the_answer_to_a_post_asks_again_with_get(
    live_server: str, browser: Browser
) -> None:
    """The next page is the answer to the page's POST; the page's script makes its history
    entry a plain one, so a reload fetches the page again instead of offering to resend."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server}/s/voorbeeld")
    choose(page, "toestemming", 1)
    next_page(page, "Volgende")
    expect(page.locator("h1")).to_have_text("Over uw werk")
    choose(page, "functie", 2)
    page.fill("#f-ervaring", "1")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        next_page(page, "Volgende")
    assert posted.value.status == 200
    expect(page.locator("h1")).to_have_text("Overleg en beslisruimte")
    documents: list[str] = []
    page.on(
        "request",
        lambda r: documents.append(r.method) if r.resource_type == "document" else None,
    )
    page.reload()
    expect(page.locator("h1")).to_have_text("Overleg en beslisruimte")
    assert documents == ["GET"]
    # The answers of the page before were stored once: back shows them.
    next_page(page, "Vorige pagina")
    expect(page.locator("#f-functie-2")).to_be_checked()
    context.close()
