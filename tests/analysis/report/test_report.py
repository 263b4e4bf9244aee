"""The analysis report: one self-contained, accessible HTML file with every section, every
number of it also in the JSON, and nothing fetched from elsewhere."""

from __future__ import annotations

import json
import math
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest

from vakstem.analysis.plan import (
    PlanOptions,
    data_from_records,
    iter_numbers,
    run_plan,
    simulated_records,
)
from vakstem.analysis.report import render_report
from vakstem.export.codebook import find_study_file
from vakstem.instrument.loader import load_study_file

SECTIONS = (
    "quality",
    "scores",
    "reliability",
    "measurement",
    "structural",
    "multilevel",
    "invariance",
    "open-answers",
    "text",
    "reproducibility",
)
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "source", "wbr", "area", "base"}


@pytest.fixture(scope="module")
def full() -> tuple[dict[str, Any], str]:
    """Every step on 600 simulated respondents (clean answers: FIML on few missing patterns
    keeps the fits quick), with a small bootstrap; invariance of the HRM model only."""
    study = load_study_file(find_study_file("klantmanagers"))
    settings = dict(study.analysis.settings)
    settings["invariance"] = {**settings["invariance"], "models": ["cfa_hrm"]}
    study = study.model_copy(
        update={"analysis": study.analysis.model_copy(update={"settings": settings})}
    )
    records, _truth = simulated_records(study, 600, seed=21, mess=False)
    results = run_plan(study, data_from_records(study, records), PlanOptions(seed=5, bootstrap=4))
    document = results.to_dict()
    return document, render_report(document)


class _Checker(HTMLParser):
    """Balanced tags, and the text of every numeric table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None
        self.svg_titles = 0
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svgs += 1
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "td" and ("class", "n") in attrs:
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "title" and "svg" in self.stack:
            self.svg_titles += 1
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker


def test_every_step_ran_on_simulated_data(full: tuple[dict[str, Any], str]) -> None:
    document, _html = full
    steps = document["steps"]
    for name in ("quality", "scores", "reliability", "measurement", "structural", "multilevel"):
        assert steps[name]["status"] == "ok", (name, steps[name]["message"])
    assert steps["open_answers"]["status"] == "ok"
    # Invariance by organisation type runs; by language the English group is too small.
    tests = {(t["model"], t["group"]): t for t in steps["invariance"]["tests"]}
    assert tests[("cfa_hrm", "org_type")]["status"] == "ok"
    assert [s["step"] for s in tests[("cfa_hrm", "org_type")]["steps"]] == [
        "configural",
        "metric",
        "scalar",
    ]
    assert tests[("cfa_hrm", "language")]["status"] == "skipped"
    assert "fewer than two groups" in tests[("cfa_hrm", "language")]["message"]


def test_report_has_every_section_and_parses_as_html(full: tuple[dict[str, Any], str]) -> None:
    _document, html = full
    for section in SECTIONS:
        assert f'<section id="{section}"' in html, section
    checker = _parse(html)
    assert checker.errors == [] and checker.stack == []
    assert html.startswith("<!DOCTYPE html>") and '<html lang="nl">' in html


def test_report_is_self_contained(full: tuple[dict[str, Any], str]) -> None:
    _document, html = full
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert not re.search(r"""url\(\s*["']?\s*(https?:)?//""", html)
    assert "@import" not in html and "<script" not in html and "<link" not in html


def test_figures_are_svg_with_title_and_description(full: tuple[dict[str, Any], str]) -> None:
    _document, html = full
    checker = _parse(html)
    assert checker.svgs >= 2 and checker.svg_titles == checker.svgs
    assert html.count("<desc") >= checker.svgs
    # The path diagram marks significance by line style and a legend, not by colour alone.
    assert 'stroke-dasharray="5 4"' in html and "not significant" in html.lower()
    assert "β" in html


def test_every_number_in_the_report_tables_is_in_the_json(
    full: tuple[dict[str, Any], str],
) -> None:
    document, html = full
    numbers = [v for v in iter_numbers(document) if math.isfinite(v)]
    shown = []
    for cell in _parse(html).cells:
        shown.extend(re.findall(r"-?\d+(?:\.\d+)?", cell))
    assert len(shown) > 300
    missing = []
    for token in set(shown):
        digits = len(token.split(".")[1]) if "." in token else 0
        target = float(token)
        if not any(abs(round(v, digits) - target) < 10 ** (-digits) / 2 for v in numbers):
            missing.append(token)
    assert missing == []


def test_methods_text_in_dutch_and_english_with_apa_numbers(
    full: tuple[dict[str, Any], str],
) -> None:
    _document, html = full
    text = unescape(html)
    nl = text[text.index('<section lang="nl"') : text.index('<section lang="en"')]
    en = text[text.index('<section lang="en"') :]
    assert "χ²(" in nl and "CFI = ." in nl and "95% BI [" in nl and "β = " in nl
    assert "Van de " in nl and "Cronbachs α" in nl
    assert "χ²(" in en and "95% CI [" in en and "Of the " in en and "Cronbach's α" in en


def test_json_round_trips_and_carries_the_provenance(full: tuple[dict[str, Any], str]) -> None:
    document, html = full
    again = json.loads(json.dumps(document))
    assert again == document
    repro = document["reproducibility"]
    for key in ("data_sha256", "plan_sha256", "seed", "vakstem_version", "plan_text"):
        assert repro[key] is not None
    assert repro["data_sha256"] in html and repro["plan_sha256"] in html


def test_open_answers_are_counted_and_never_shown_for_small_groups(
    full: tuple[dict[str, Any], str],
) -> None:
    document, _html = full
    step = document["steps"]["open_answers"]
    assert "keyword" in step["method"]
    question = step["questions"][0]
    assert question["answered"] > 10 and sum(question["themes"].values()) > 0
    for group in question["by_group"]["groups"]:
        if group["respondents"] < step["k_min"]:
            assert "answered" not in group and "suppressed" in group
    for scale in step["distributions"]["scales"]:
        for group in scale["groups"]:
            assert ("median" in group) == (group["n"] >= step["k_min"])
