"""The researcher console in a real browser (Debian's Chromium): log in, open a study's
dashboard (chart drawn on the server), download an export, with axe-core on each console page."""

from __future__ import annotations

import csv
import io

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from vakstem.service.accounts import Accounts, Role
from vakstem.service.audit import Actor, entries
from vakstem.service.responses import ResponseService

from .conftest import LiveServer

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
}


def _axe(page: Page, name: str, problems: list[str]) -> None:
    for violation in Axe().run(page, options=AXE_OPTIONS).response["violations"]:
        if violation["impact"] in {"serious", "critical"}:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")


def test_researcher_logs_in_opens_the_dashboard_and_downloads_an_export(
    live: LiveServer, browser: Browser
) -> None:
    accounts = Accounts(live.engine)
    if accounts.find("onderzoeker@example.org") is None:
        accounts.create_user("onderzoeker@example.org", "Onderzoeker", PASSWORD)
    accounts.set_member(
        "voorbeeld", "onderzoeker@example.org", Role.RESEARCHER, actor=Actor.system("test")
    )
    started = ResponseService(live.engine).start("voorbeeld", source="nieuwsbrief")
    problems: list[str] = []

    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live.url}/console/studies/voorbeeld")
        expect(page).to_have_url(f"{live.url}/console/login?next=%2Fconsole%2Fstudies%2Fvoorbeeld")
        _axe(page, "login", problems)
        page.fill("#email", "onderzoeker@example.org")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")

        expect(page).to_have_url(f"{live.url}/console/studies/voorbeeld")
        expect(page.locator("h1")).to_contain_text("Voorbeeldonderzoek")
        assert int(page.locator("#fig-starts").inner_text()) >= 1
        assert page.locator("svg.chart rect title").count() >= 2
        _axe(page, "dashboard", problems)

        page.check("input[name=partial]")
        page.select_option("#format", "csv")
        with page.expect_download() as info:
            page.click("#download")
        download = info.value
        assert download.suggested_filename == "voorbeeld.csv"
        path = download.path()
        assert path is not None
        with open(path, encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(io.StringIO(fh.read())))
        assert started.id in {row["response_id"] for row in rows}

        page.click("text=Responsen")
        expect(page.locator("h1")).to_have_text("Responsen")
        _axe(page, "responses", problems)

        page.click("nav.console-nav >> text=Analyses")
        expect(page.locator("h1")).to_have_text("Analyses")
        expect(page.locator("table.data")).to_contain_text("Er is nog geen analyse opgeslagen.")
        _axe(page, "analyses", problems)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    assert any(e.action == "export_downloaded" for e in entries(live.engine, study_id="voorbeeld"))
