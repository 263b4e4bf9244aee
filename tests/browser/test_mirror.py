"""The personal mirror and the public summary in a real browser (Chromium via Playwright): the
klantmanager study's last page sent on a 390×844 phone screen opens the closing page with the
mirror (plot, table, explanations; no sideways scrolling; printable), and axe-core finds no
serious or critical problem on that page nor on the public summary page."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Engine
from tests.feedback.factories import complete

from vakstem.feedback.store import set_public_summary
from vakstem.instrument.loader import load_study_file
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE
from vakstem.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
#: A respondent flow: on PostgreSQL (see tests/browser/conftest.py).
DATABASE_BACKEND = "postgresql"

PHONE = {"width": 390, "height": 844}
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
}


@dataclass(frozen=True)
class Site:
    url: str
    engine: Engine
    service: ResponseService


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, database_on: Callable[[str], str]
) -> Iterator[Site]:
    """The klantmanager study with 29 completed responses, served on a free port."""
    data = tmp_path_factory.mktemp("mirror")
    engine = open_database(database_on(DATABASE_BACKEND))
    load_study(engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, "klantmanagers", "open")
    service = ResponseService(engine)
    rng = random.Random(29)
    for i in range(29):
        complete(service, rng, organisatie=(363, 14, 193)[i % 3], open_nodig="Meer tijd")
    app = create_app(Settings(data_dir=data, secret_key="browser-test"), engine)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", engine, service)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.dispose()


def _serious(page: Page, name: str) -> list[str]:
    results = Axe().run(page, options=AXE_OPTIONS)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] in {"serious", "critical"}:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")
    return problems


def _overflow(page: Page) -> Any:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def _to_last_page(service: ResponseService) -> str:
    """A 30th respondent through the service up to the open questions; returns the code."""
    state = service.start("klantmanagers")
    code = state.resume_code
    rng = random.Random(30)
    while state.page is not None and state.page.page.id != "open":
        answers: dict[str, Any] = {}
        for shown in state.page.items:
            item = shown.item
            if item.type.value == "matrix":
                answers.update({row.id: rng.randint(2, 5) for row in shown.rows})
            elif item.type.value == "consent":
                answers[item.id] = 1
            elif item.id == "organisatie":
                answers[item.id] = 363
            elif item.type.value == "single":
                answers[item.id] = shown.choices[0].code
            elif item.type.value == "integer":
                answers[item.id] = 20
        state = service.submit_page(state.id, state.page.page.id, answers).state
    return code


def test_closing_page_shows_the_mirror_on_a_phone(site: Site, browser: Browser) -> None:
    code = _to_last_page(site.service)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{site.url}/s/klantmanagers/r/{code}")
    page.fill("textarea[name='open_nodig']", "Minder werkdruk en meer tijd voor klanten.")
    page.get_by_role("button", name="Afronden").click()
    page.wait_for_load_state("load")
    expect(page.locator("h1")).to_have_text("Hartelijk dank")
    mirror = page.locator("section.mirror")
    expect(mirror.locator("h2")).to_have_text("Jouw antwoorden naast die van anderen")
    expect(mirror).to_contain_text("30 klantmanagers")
    # The plot has a name and a table beside it with the same figures.
    plot = mirror.locator("svg[role='img']").first
    expect(plot).to_be_visible()
    assert plot.bounding_box() is not None and plot.bounding_box()["width"] <= 390  # type: ignore[index]
    expect(mirror.locator("table.mirror-table").first).to_contain_text("Jouw score")
    expect(mirror.locator("dl.explain").last).to_contain_text("Beslisruimte")
    assert _overflow(page) <= 0
    problems = _serious(page, "closing page with mirror")
    # Printable: the language switch and footer are left out, the mirror stays.
    page.emulate_media(media="print")
    assert not page.locator("footer.foot").is_visible()
    expect(mirror.locator("table.mirror-table").first).to_be_visible()
    context.close()
    assert problems == []


def test_public_summary_page_passes_axe(site: Site, browser: Browser) -> None:
    set_public_summary(site.engine, "klantmanagers", True)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{site.url}/s/klantmanagers/resultaten")
    expect(page.locator("h1")).to_have_text("Resultaten tot nu toe")
    expect(page.locator("table.counts").first).to_be_visible()
    assert _overflow(page) <= 0
    problems = _serious(page, "public summary")
    page.goto(f"{site.url}/s/klantmanagers/resultaten?lang=en")
    expect(page.locator("h1")).to_have_text("Results so far")
    problems += _serious(page, "public summary (en)")
    context.close()
    assert problems == []
