"""The codebook: every variable with label, codes, missing codes, condition, scale and page, in
Markdown and self-contained HTML, in Dutch and English; and `vakstem codebook` around it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vakstem.cli import app
from vakstem.export.codebook import (
    CodebookError,
    build_codebook,
    describe_condition,
    estimate_duration,
    find_study_file,
    render_html,
    render_markdown,
)
from vakstem.export.relevance import expression_relevance
from vakstem.export.table import ExportOptions, TableLayout
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study

runner = CliRunner()


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(find_study_file("klantmanagers"))


@pytest.fixture(scope="module")
def markdown(study: Study) -> str:
    return render_markdown(build_codebook(study, "nl"))


@pytest.fixture(scope="module")
def html_page(study: Study) -> str:
    return render_html(build_codebook(study, "en"))


def _md_section(markdown: str, variable: str) -> str:
    match = re.search(rf"^#### `{variable}`\n(.*?)(?=^#{{2,4}} |\Z)", markdown, re.M | re.S)
    assert match, variable
    return match.group(1)


def test_markdown_lists_every_variable_of_the_study(study: Study, markdown: str) -> None:
    headed = re.findall(r"^#### `([a-z0-9_]+)`$", markdown, re.M)
    assert headed == study.variables()


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section" and (values.get("id") or "").startswith("var-"):
            self.ids.append((values["id"] or "")[4:])
        if tag in ("script", "link", "img") or (values.get("src") or "").startswith("http"):
            self.external.append(tag)


def test_html_lists_every_variable_and_needs_nothing_else(study: Study, html_page: str) -> None:
    parser = _Sections()
    parser.feed(html_page)
    assert parser.ids == study.variables()
    assert parser.external == []
    assert "<style>" in html_page and html_page.startswith("<!DOCTYPE html>")


def test_a_likert_row_shows_codes_missing_choice_scale_and_reverse_key(markdown: str) -> None:
    section = _md_section(markdown, "pa_5")
    assert "- Label: Niemand kijkt of afspraken gehaald worden (R)" in section
    assert "- Type: Likert-rij" in section
    assert "    - 1 = Helemaal oneens" in section and "    - 5 = Helemaal eens" in section
    assert "    - 9 = Weet ik niet / n.v.t. (ontbrekend; in exports als -7)" in section
    assert "- Schaal: pa (Prestatieafspraken en targets), omgepoold" in section
    assert "- Pagina: Afspraken over resultaten (prestatieafspraken)" in section
    assert "- Mogelijke ontbrekende codes: -9, -8, -7, -6" in section


def test_a_condition_is_given_as_written_and_in_words(markdown: str) -> None:
    section = _md_section(markdown, "cl_2")
    assert (
        "- Voorwaarde: Alleen gevraagd als Heeft een eigen caseload (cl_1) is Ja (1). "
        "[${cl_1} = 1]" in section
    )
    assert "- Bereik: 1 – 1500" in section
    always = _md_section(markdown, "br_1")
    assert "- Voorwaarde: altijd gevraagd" in always
    assert "-8" not in always  # never hidden, so never "not applicable"


def test_the_missing_value_codes_of_the_study_are_explained(markdown: str) -> None:
    for line in (
        "| -9 | niet beantwoord |",
        "| -8 | niet van toepassing (verborgen door een voorwaarde) |",
        "| -7 | weet ik niet / n.v.t. |",
        "| -6 | afgehaakt vóór deze pagina |",
    ):
        assert line in markdown


def test_open_questions_are_marked_as_possibly_identifying(markdown: str) -> None:
    section = _md_section(markdown, "open_nodig")
    assert "Open antwoord: kan personen herkenbaar maken" in section
    assert "- Maximale lengte: 2000" in section


def test_english_codebook_uses_english_texts(html_page: str) -> None:
    assert '<html lang="en">' in html_page
    assert "Nobody checks whether agreements are met (R)" in html_page
    assert "Asked only if Has own caseload (cl_1) is Yes (1)." in html_page
    assert "Helemaal oneens" not in html_page


def test_the_scales_and_models_of_the_plan_are_included(markdown: str) -> None:
    assert "| `br` | Beslisruimte | hrm_opportunity | br_1, br_2, br_3, br_4, br_5 | br_5 |" in (
        markdown
    )
    assert "### Model `sem_amo`" in markdown
    assert "ind_O := o1*b" in markdown


def test_completion_time_counts_every_answer_on_the_longest_path(study: Study) -> None:
    estimate = estimate_duration(study, "nl")
    likert_rows = sum(len(item.rows) for _p, item in study.items())
    assert estimate.choices >= likert_rows + 1  # + consent
    assert estimate.dropdowns == 1 and estimate.numbers == 4 and estimate.open_questions == 3
    assert estimate.pages == len(study.pages)
    assert 10 * 60 < estimate.seconds < 20 * 60
    assert estimate.seconds_with_open_answers == estimate.seconds + 3 * 60


def test_conditions_too_complex_for_words_keep_only_the_expression(study: Study) -> None:
    assert describe_condition("${cl_2} + 1 > 3", study, "en") is None
    assert describe_condition("${cl_1} = 1 or ${pa_1} = 0", study, "en") == (
        "Has own caseload (cl_1) is Yes (1) or Has performance agreements (pa_1) is No (0)"
    )
    assert describe_condition("${broken", study, "en") is None


def test_an_unknown_language_is_a_clear_error(study: Study) -> None:
    with pytest.raises(CodebookError, match="has no language 'de'; choose one of nl, en"):
        build_codebook(study, "de")


def test_the_command_writes_html_for_a_shipped_study(tmp_path: Path) -> None:
    target = tmp_path / "codebook.html"
    result = runner.invoke(
        app, ["codebook", "klantmanagers", "--format", "html", "--language", "en", "--out",
              str(target)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "<h4>org_type</h4>" in text and '<html lang="en">' in text


def test_the_command_takes_a_path_and_prints_markdown(tmp_path: Path) -> None:
    source = tmp_path / "mini.yaml"
    source.write_text(
        "id: mini\nlanguages: [nl]\ntitle: Mini\nchoice_lists:\n"
        "  jn: [{code: 1, label: Ja}, {code: 0, label: Nee}]\n"
        "pages:\n  - id: p1\n    items:\n"
        "      - {id: q1, type: single, choices: jn, text: Vraag een}\n"
        "      - {id: q2, type: integer, text: Vraag twee, relevant: '${q1} = 1'}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["codebook", str(source)])
    assert result.exit_code == 0, result.output
    assert "#### `q1`" in result.output and "#### `q2`" in result.output
    assert "Alleen gevraagd als Vraag een (q1) is Ja (1)." in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["codebook", "geen_studie"], "no study file 'geen_studie'"),
        (["codebook", "klantmanagers", "--format", "pdf"], "unknown format 'pdf'"),
        (["codebook", "klantmanagers", "--language", "fr"], "has no language 'fr'"),
    ],
)
def test_the_command_explains_bad_input_without_a_traceback(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_command_reports_the_problems_of_a_broken_study_file(tmp_path: Path) -> None:
    source = tmp_path / "broken.yaml"
    source.write_text("id: broken\ntitle: B\npages:\n  - id: p\n    items: [{id: x}]\n")
    result = runner.invoke(app, ["codebook", str(source)])
    assert result.exit_code == 1
    assert "problem" in result.output and "broken.yaml" in result.output


def test_the_command_reports_an_unwritable_output_path(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "codebook.md"
    result = runner.invoke(app, ["codebook", "klantmanagers", "--out", str(target)])
    assert result.exit_code == 1
    assert "cannot write" in result.output


@pytest.mark.parametrize("study_id", ["klantmanagers", "voorbeeld"])
def test_codebook_names_exactly_the_answer_columns_of_the_export(study_id: str) -> None:
    # The voorbeeld study has a multiple-choice item, so this also checks the 0/1 option columns.
    shipped = load_study_file(find_study_file(study_id))
    layout = TableLayout(shipped, ExportOptions(open_text=True), expression_relevance())
    # The `<name>_mis` companions of date and text columns are described with their variable.
    exported = [c.name for c in layout.columns if c.role not in ("meta", "reason")]
    assert [v.name for v in build_codebook(shipped).variables] == exported
