"""Live conditions on the respondent pages: the JavaScript evaluator in `static/vakstem.js` gives
the same result as the Python evaluator on a table of expressions and answers (run in Chromium),
and on a real page an item whose condition reads an answer on the same page hides and shows as
the respondent clicks, without console errors or Content-Security-Policy violations; without
JavaScript every such item stays shown."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

import vakstem
from vakstem.instrument.expressions import Var, evaluate, parse, references
from vakstem.web.conditions_json import script_json, to_json_tree

pytestmark = pytest.mark.browser

SCRIPT = Path(vakstem.__file__).parent / "web" / "static" / "vakstem.js"
TODAY = date(2026, 11, 26)

EXPRESSIONS = [
    "${a} = 2",
    "${a} = '2'",
    "${a} != 2",
    "${a} > 3",
    "${a} < 3",
    "${a} <= ${b}",
    "${a} >= '1.5'",
    "${a} = ''",
    "${a} != ''",
    "${a} + ${b}",
    "${a} - ${b} * 2",
    "${a} div ${b}",
    "${a} mod ${b}",
    "-${a}",
    "${a} div 0",
    "7 mod 0",
    "-7 mod 3",
    "1 div 3",
    "0.1 + 0.2",
    "1 div 10000000",
    "10000000 * 10000000 * 10000000 * 10000",
    "${a} = ${b}",
    "${s} = 'ja'",
    "${s} = ${a}",
    "${s} < 'b'",
    "${s} and ${a}",
    "${s} or ${e}",
    "not(${e})",
    "not(${a} = 2) and (${b} > 0 or ${s} = '')",
    "selected(${m}, 2)",
    "selected(${m}, '-1')",
    "selected(${m}, ' 3 ')",
    "count-selected(${m})",
    "count-selected(${m}) > 0 and not(selected(${m}, -1))",
    "string-length(${s})",
    "string-length(${t})",
    "string-length(${a})",
    "if(${a} > 1, 'groot', 'klein')",
    "if(${e}, 1, ${a} * 2)",
    "regex(${s}, '^[a-z]+$')",
    "regex(${t}, '^.{3}$')",
    "regex(${p}, '^[0-9]{4} ?[A-Z]{2}$')",
    "coalesce(${e}, 'leeg')",
    "coalesce(${a} div 0, ${b})",
    "coalesce(${s}, ${a})",
    "number(${s})",
    "number('  12.5 ')",
    "number('1.')",
    "number('.5') + 1",
    "string(${a})",
    "string(${b} div 3)",
    "string(1 div 10000000)",
    "string(${a} = 2)",
    "concat(${s}, '-', ${a}, '-', ${m})",
    "boolean(${s})",
    "boolean(${a} div 0)",
    "int(${b} * 2.7)",
    "int(-2.5)",
    "round(${b} * 1.005, 2)",
    "round(2.5)",
    "round(-2.5)",
    "round(1234.5678, -2)",
    "round(${a}, 40)",
    "round(123456789012345678, 20)",
    "${d} < today()",
    "today() - ${d} > 365",
    "${d} = '2024-02-30'",
    "number('2024-02-29')",
    "${d} + 1",
    "true() = 1",
    "false() = ''",
    "true() != 'x'",
    "${a} = true()",
    "${x} = ''",
    "${x} + 1",
    "string-length(${x}) = 0",
    "${a} * 100000000000000000000000",
    "string(${a} * 100000000000000000000000)",
    "-(${a} - ${a})",
]

VALUE_SETS: list[dict[str, Any]] = [
    {},
    {"a": 2, "b": 3.5, "s": "ja", "m": [1, 2], "t": "abc", "p": "1234 AB", "d": "2024-02-29"},
    {"a": -1, "b": 0, "s": "", "m": [-1], "t": "a😀b", "p": "1234ab", "d": "2026-11-25"},
    {"a": 7, "b": -2.25, "s": "Nee ", "m": [3], "t": "  ", "p": "", "d": "1969-12-31"},
    {"a": 0, "b": 1e-7, "s": "2", "m": [], "t": "x\ny", "e": "", "d": "2024-13-01"},
    {"a": 12345678901, "b": 2.5, "s": "b", "m": [2, 3, 10], "e": "0", "d": None},
]


def _language_value(name: str, value: Any) -> Any:
    """An answer as the expression language sees it (what the script reads from the form)."""
    return evaluate(Var(name), {name: value})


def _same(python: object, js: object) -> bool:
    if isinstance(python, bool) or isinstance(js, bool):
        return python is js
    if isinstance(python, float) and isinstance(js, int | float):
        return (math.isnan(python) and math.isnan(js)) or python == js
    return python == js


@pytest.fixture(scope="module")
def script_page(browser: Browser) -> Page:
    page = browser.new_page()
    page.set_content("<!doctype html><title>t</title>")
    page.add_script_tag(content=SCRIPT.read_text(encoding="utf-8"))
    return page


def test_javascript_and_python_evaluators_agree(script_page: Page) -> None:
    cases: list[tuple[str, int, Any, Any, Any]] = []
    for source in EXPRESSIONS:
        expr = parse(source)
        names = references(expr)
        for index, values in enumerate(VALUE_SETS):
            expected = evaluate(expr, values, today=TODAY)
            # Once with the variables read in the browser, once substituted by the server.
            with_vars = to_json_tree(expr, frozenset(names), values, TODAY)
            substituted = to_json_tree(expr, frozenset(), values, TODAY)
            given = {n: _language_value(n, values.get(n)) for n in names}
            cases.append((source, index, expected, with_vars, given))
            cases.append((source, index, expected, substituted, {}))
    results = script_page.evaluate(
        "cases => cases.map(c => vakstemConditions.evaluate(c[0], c[1]))",
        [[tree, given] for _s, _i, _e, tree, given in cases],
    )
    wrong = [
        f"{source} with set {index}: python {expected!r}, javascript {result!r}"
        for (source, index, expected, _t, _g), result in zip(cases, results, strict=True)
        if not _same(expected, result)
    ]
    assert not wrong, "\n".join(wrong)
    assert len(results) == 2 * len(EXPRESSIONS) * len(VALUE_SETS)


def test_a_script_data_block_cannot_be_closed_by_study_text() -> None:
    text = str(script_json({"items": {"q": ["s", "</script><b>&"]}}))
    assert "</script>" not in text and "<b>" not in text and "&" not in text
    assert json.loads(text) == {"items": {"q": ["s", "</script><b>&"]}}


def test_a_non_portable_regular_expression_is_left_to_the_server() -> None:
    from vakstem.web.conditions_json import _NotPortable

    for pattern in (r"^\d+$", "(?i)ja", "a{,3}", "[[:digit:]]"):
        with pytest.raises(_NotPortable):
            to_json_tree(parse(f"regex(${{s}}, '{pattern}')"), frozenset({"s"}), {}, TODAY)
    portable = to_json_tree(parse(r"regex(${s}, '^[0-9]+\.[0-9]$')"), frozenset({"s"}), {}, TODAY)
    assert portable[0] == "c"


CSP_WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", e => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def _to_work_page(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/s/voorbeeld")
    page.click("label[for='f-toestemming-1']")
    page.get_by_role("button", name="Volgende").click()
    expect(page.locator("h1")).to_have_text("Over uw werk")


def test_same_page_condition_hides_and_shows_as_the_respondent_answers(
    live_server: str, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    _to_work_page(page, live_server)

    other = page.locator("#item-functie_anders")
    expect(other).to_be_hidden()
    page.click("label[for='f-functie-6']")
    expect(other).to_be_visible()
    page.fill("#f-functie_anders", "Schuldhulpverlening")
    page.click("label[for='f-functie-2']")
    expect(other).to_be_hidden()
    # Hidden, not cleared: the server decides what is kept.
    expect(page.locator("#f-functie_anders")).to_have_value("Schuldhulpverlening")
    # Out of the tab order: tabbing from the chosen option never lands in the hidden field.
    page.focus("#f-functie-2")
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") != "f-functie_anders"
    page.click("label[for='f-functie-6']")
    expect(other).to_be_visible()
    page.click("label[for='f-functie-1']")

    # Submitted while hidden: the page is accepted without the required hidden answer.
    page.fill("#f-ervaring", "12")
    page.get_by_role("button", name="Volgende").click()
    expect(page.locator("h1")).to_have_text("Overleg en beslisruimte")

    # Multiple choice: shown once something is ticked, hidden for "none of these" (-1).
    times = page.locator("#item-overleg_keer")
    expect(times).to_be_hidden()
    page.click("label[for='f-overleg-1']")
    expect(times).to_be_visible()
    page.click("label[for='f-overleg-m1']")
    expect(times).to_be_hidden()
    page.click("label[for='f-overleg-m1']")
    expect(times).to_be_visible()

    assert page.evaluate("window.__violations") == []
    # The browser's own favicon request is the only thing allowed to be missing.
    assert all(url.endswith("/favicon.ico") for url in missing), missing
    assert [p for p in problems if "404" not in p] == []
    context.close()


def test_without_javascript_same_page_items_are_always_shown(
    live_server: str, browser: Browser
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _to_work_page(page, live_server)
    expect(page.locator("#item-functie_anders")).to_be_visible()
    page.click("label[for='f-functie-2']")
    expect(page.locator("#item-functie_anders")).to_be_visible()
    assert page.locator("#vakstem-conditions").count() == 1
    context.close()
