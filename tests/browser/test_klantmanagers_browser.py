"""The real klantmanager study completed in Chromium on a 390×844 phone screen, as a person fills
it in: tapping answer labels, picking the municipality from the dropdown, typing numbers.

In Dutch with performance agreements and a caseload, so all 17 pages appear, with one deliberate
validation error (more active clients than the caseload) that must show its Dutch message next to
the item; axe-core checks every page and the test fails on serious or critical violations. In
English without performance agreements and without a caseload, so the target page and the
caseload numbers are skipped. Both end on the closing page, and the stored response (read back
through the respondent service) must be completed and hold exactly the answers that were given.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, Page, ViewportSize, expect
from tests.browser.conftest import LiveServer

from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study, text_in
from vakstem.service.responses import ResponseService
from vakstem.service.types import AnswerValue, ResponseStatus
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import STUDY_FILE

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
#: A respondent flow: on PostgreSQL (see tests/browser/conftest.py).
DATABASE_BACKEND = "postgresql"

PHONE: ViewportSize = {"width": 390, "height": 844}
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
}
# A municipality from the shipped list, and the "other organisation" code.
UTRECHT = 344
OTHER_ORGANISATION = 9999


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(STUDY_FILE)


@pytest.fixture(scope="module")
def km_live(live: LiveServer, study: Study) -> LiveServer:
    """The shared live server with the klantmanager study loaded beside the example and open."""
    load_study(live.engine, study, STUDY_FILE.read_text(encoding="utf-8"))
    set_status(live.engine, study.id, "open")
    return live


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    # Generous for a busy shared machine; a missing element still fails, just not at once.
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


class Axed:
    """Runs axe-core on pages and collects serious or critical violations."""

    def __init__(self) -> None:
        self.axe = Axe()
        self.problems: list[str] = []

    def __call__(self, page: Page, name: str) -> None:
        results = self.axe.run(page, options=AXE_OPTIONS)
        for violation in results.response["violations"]:
            if violation["impact"] in {"serious", "critical"}:
                targets = [node["target"] for node in violation["nodes"]][:3]
                self.problems.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name}: {overflow}px wider than the phone screen"


@dataclass
class Respondent:
    """Fills in pages generically: every radio group (choice question or matrix row) gets a
    choice unless the run fixes or skips it; number and text fields take the run's values.
    Remembers every answer given, to compare with what the database holds afterwards."""

    page: Page
    rng: random.Random
    fixed: Mapping[str, int] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()
    typed: Mapping[str, str] = field(default_factory=dict)
    given: dict[str, AnswerValue] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)

    def tap(self, variable: str, code: int) -> None:
        # On its label, as a thumb does; the radio itself is small.
        self.page.click(f"label[for='f-{variable}-{code}']")
        self.given[variable] = code

    def fill_page(self) -> None:
        groups: dict[str, list[str]] = {}
        for name, value in self.page.eval_on_selector_all(
            "#answers input[type=radio]", "els => els.map(e => [e.name, e.value])"
        ):
            groups.setdefault(name, []).append(value)
        for variable, codes in groups.items():
            if variable in self.skip:
                continue
            code = self.fixed.get(variable)
            self.tap(variable, code if code is not None else int(self.rng.choice(codes)))
        for name in self.page.eval_on_selector_all(
            "#answers input.num, #answers textarea", "els => els.map(e => e.name)"
        ):
            if name in self.skip:
                continue
            assert name in self.typed, f"the run has no value for the field {name!r}"
            self.type(name, self.typed[name])

    def type(self, variable: str, text: str) -> None:
        self.page.fill(f"#f-{variable}", text)
        if text:
            self.given[variable] = int(text) if text.isdigit() else text
        else:
            self.given.pop(variable, None)

    def arrive(self, expected_title: str, progress: str) -> None:
        expect(self.page.locator("h1")).to_have_text(expected_title)
        expect(self.page.locator("label[for='progress']")).to_have_text(progress)
        self.titles.append(expected_title)

    def send(self, button: str) -> None:
        self.page.get_by_role("button", name=button).click()
        self.page.wait_for_load_state("load")


def resume_code(page: Page) -> str:
    # The response's own link carries its code: /s/klantmanagers/r/<code>.
    return page.url.split("/r/", 1)[1].split("?", 1)[0]


def test_dutch_run_on_a_phone_shows_every_page_and_stores_the_answers(
    km_live: LiveServer, study: Study, phone: Page
) -> None:
    page = phone
    axe = Axed()
    titles = [text_in(p.title, "nl", study.default_language) for p in study.pages]
    total = len(study.pages)
    person = Respondent(
        page,
        random.Random(17),
        fixed={"toestemming": 1, "cl_1": 1, "pa_1": 1},
        # A municipality from the list: the questions for other organisations stay empty.
        skip=frozenset({"org_code", "grootte", "provincie"}),
        typed={
            "co_4": "2",
            "cl_2": "45",
            "cl_3": "60",
            "open_nodig": "Meer tijd per klant en minder administratie.",
            "open_organisatie": "Minder regels, meer vertrouwen in klantmanagers.",
            "open_overig": "",
        },
    )

    page.goto(f"{km_live.url}/s/klantmanagers")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    code = ""
    for number, title in enumerate(titles, start=1):
        person.arrive(title, f"Pagina {number} van {total}")
        if number == 2:
            code = resume_code(page)
        if page.locator("table.grid").count():
            # Restacked on a phone: no column headers, each row's choices under its text.
            expect(page.locator("table.grid thead").first).to_be_hidden()
        if page.locator("#f-organisatie").count():
            page.select_option("#f-organisatie", str(UTRECHT))
            person.given["organisatie"] = UTRECHT
        person.fill_page()
        axe(page, title)
        if page.locator("#f-cl_3").count():
            # More active clients than clients in the caseload: refused, in Dutch, by the item.
            person.send("Volgende")
            person.arrive(title, f"Pagina {number} van {total}")
            expect(page.locator("#e-cl_3")).to_have_text(
                "Fout: Dit aantal kan niet groter zijn dan het aantal klanten in je caseload."
            )
            expect(page.locator("#item-cl_3")).to_have_class("item has-error")
            expect(page.locator(".error-summary")).to_contain_text("caseload")
            expect(page.locator("#f-cl_3")).to_have_value("60")
            expect(page.locator(f"#f-wd_1-{person.given['wd_1']}")).to_be_checked()
            axe(page, f"{title} (fout)")
            person.type("cl_3", "30")
        person.send("Afronden" if number == total else "Volgende")

    expect(page.locator("h1")).to_have_text("Hartelijk dank")
    expect(page.locator("main")).to_contain_text("Bedankt voor het invullen!")
    axe(page, "afsluiting")
    assert not axe.problems, "\n".join(axe.problems)

    state = ResponseService(km_live.engine).resume(code)
    assert state.status is ResponseStatus.COMPLETED
    assert state.language == "nl"
    assert state.answers == person.given
    assert state.answers["cl_3"] == 30 and state.answers["pa_1"] == 1
    assert {"pa_2", "pa_3", "pa_4", "pa_5", "cl_2"} <= set(state.answers)


def test_english_run_without_targets_or_caseload_skips_those_questions(
    km_live: LiveServer, study: Study, phone: Page
) -> None:
    page = phone
    titles = {p.id: text_in(p.title, "en", study.default_language) for p in study.pages}
    position = {p.id: n for n, p in enumerate(study.pages, start=1)}
    total = len(study.pages)
    person = Respondent(
        page,
        random.Random(42),
        fixed={"toestemming": 1, "cl_1": 0, "pa_1": 0, "grootte": 5, "provincie": 25},
        typed={
            "org_code": "",
            "co_4": "0",
            "open_nodig": "Smaller caseloads.",
            "open_organisatie": "",
            "open_overig": "",
        },
    )

    page.goto(f"{km_live.url}/s/klantmanagers?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    code = ""
    for page_id in [p.id for p in study.pages if p.id != "prestatieafspraken"]:
        person.arrive(titles[page_id], f"Page {position[page_id]} of {total}")
        if page_id == "toestemming":
            code = resume_code(page)
        if page_id == "organisatie":
            page.select_option("#f-organisatie", str(OTHER_ORGANISATION))
            person.given["organisatie"] = OTHER_ORGANISATION
        if page_id == "werkdruk":
            # No caseload: the workload statements only, without the caseload numbers.
            expect(page.locator("#f-wd_1-1")).to_have_count(1)
            expect(page.locator("#f-cl_2")).to_have_count(0)
            expect(page.locator("#f-cl_3")).to_have_count(0)
        person.fill_page()
        person.send("Finish" if position[page_id] == total else "Next")
        if page_id == "gesprekken":
            # No performance agreements: straight past the target page (page 13).
            expect(page.locator("h1")).to_have_text(titles["beslisruimte"])

    expect(page.locator("h1")).to_have_text("Thank you")
    expect(page.locator("main")).to_contain_text("Thank you for taking part!")
    assert titles["prestatieafspraken"] not in person.titles

    state = ResponseService(km_live.engine).resume(code)
    assert state.status is ResponseStatus.COMPLETED
    assert state.language == "en"
    assert state.answers == person.given
    assert state.answers["organisatie"] == OTHER_ORGANISATION
    assert state.answers["grootte"] == 5 and state.answers["provincie"] == 25
    skipped = {"pa_2", "pa_3", "pa_4", "pa_5", "cl_2", "cl_3"}
    assert not skipped & set(state.answers), "answers stored for questions that were skipped"
