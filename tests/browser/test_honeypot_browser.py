"""The honeypot in a real browser: present in the page, yet off screen, out of the
accessibility tree (axe-core finds no violation, a role query and the ARIA snapshot do not see
it) and never reached with the Tab key; a person who answers the page is not flagged."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser

from vakstem.store.tables import responses

from .conftest import LiveServer
from .test_respondent_browser import AXE_OPTIONS

pytestmark = pytest.mark.browser

LABEL = "Laat dit veld leeg"


def test_honeypot_is_not_announced_not_focusable_and_not_filled_by_a_person(
    live: LiveServer, browser: Browser
) -> None:
    with live.engine.connect() as conn:
        before = set(conn.execute(sa.select(responses.c.id)).scalars())
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{live.url}/s/voorbeeld")
        trap = page.locator("#hp-opmerking")
        assert trap.count() == 1  # in the page for bots to find
        box = trap.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 0  # but off screen
        assert page.get_by_role("textbox", name=LABEL).count() == 0
        assert LABEL not in page.locator("body").aria_snapshot()
        violations = Axe().run(page, options=AXE_OPTIONS).response["violations"]
        assert [v["id"] for v in violations] == []
        focused = []
        for _ in range(30):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement && document.activeElement.id"))
        assert "hp-opmerking" not in focused
        page.click("label[for='f-toestemming-1']")
        page.get_by_role("button", name="Volgende").click()
        page.wait_for_load_state("load")
    finally:
        context.close()
    with live.engine.connect() as conn:
        rows = conn.execute(sa.select(responses.c.id, responses.c.quality_flags)).all()
    new = [r for r in rows if r.id not in before]
    assert len(new) == 1 and not new[0].quality_flags
