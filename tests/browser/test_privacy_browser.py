"""The privacy statement in Chromium on a phone screen: reached from the welcome page's link,
read in Dutch and English with no serious or critical axe-core violations (WCAG 2.2 AA), no
horizontal scrolling, and a way back to the survey. SQLite, like the other read-only pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, Page, ViewportSize, expect
from tests.browser.conftest import LiveServer

from vakstem.instrument.loader import load_study_file
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE

pytestmark = [pytest.mark.browser]

PHONE: ViewportSize = {"width": 390, "height": 844}
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
}


@pytest.fixture(scope="module")
def km_live(live: LiveServer) -> LiveServer:
    """The live server with the klantmanager study (three joint controllers) open too."""
    load_study(live.engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(live.engine, "klantmanagers", "open")
    return live


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def _serious(page: Page) -> list[str]:
    results = Axe().run(page, options=AXE_OPTIONS)
    return [
        f"{v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.mark.parametrize(
    ("lang", "link", "heading", "back"),
    [
        ("nl", "Lees de privacyverklaring", "Privacyverklaring", "Terug naar de vragenlijst"),
        ("en", "Read the privacy statement", "Privacy statement", "Back to the survey"),
    ],
)
def test_statement_is_reached_from_the_welcome_page_and_accessible(
    km_live: LiveServer, phone: Page, lang: str, link: str, heading: str, back: str
) -> None:
    phone.goto(f"{km_live.url}/s/klantmanagers?lang={lang}")
    phone.get_by_role("link", name=link).click()
    expect(phone.locator("h1")).to_have_text(heading)
    assert phone.url.endswith(f"/s/klantmanagers/privacy?lang={lang}")
    expect(phone.locator("main li")).to_have_count(3)
    assert _serious(phone) == []
    overflow = phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    phone.get_by_role("link", name=back).click()
    assert phone.url.endswith(f"/s/klantmanagers?lang={lang}")
