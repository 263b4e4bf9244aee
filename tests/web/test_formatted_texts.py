"""Formatted questionnaire texts on the respondent pages: the klantmanager information letter
shows bold headings instead of asterisks, and markup in labels and hints stays escaped."""

from __future__ import annotations

from pathlib import Path

import vakstem
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import ItemType, Page, Study
from vakstem.web.i18n import Catalogues
from vakstem.web.jinja import make_environment, render_template
from vakstem.web.render import build_page

from .factories import EENS, item, view_of

KLANTMANAGERS = Path(vakstem.__file__).parent / "studies" / "klantmanagers" / "study.yaml"


def _html(study: Study, language: str = "nl") -> str:
    catalogues = Catalogues()
    page = build_page(
        study, view_of(study), language=language, catalogues=catalogues, values={}, errors=()
    )
    return render_template(
        make_environment(),
        catalogues,
        "page.html",
        language=language,
        page=page,
        action="/s/x/r/CODE",
        csrf="token",
        hidden=[],
        back_action="",
        resume_code="",
        resume_url="",
        resume_form_url="",
        notice="",
    )


def test_information_letter_shows_bold_headings_not_asterisks() -> None:
    html = _html(load_study_file(KLANTMANAGERS))
    assert "<strong>Anoniem.</strong>" in html
    assert "**" not in html


def test_labels_and_hints_are_formatted_and_their_markup_escaped() -> None:
    study = Study(
        id="x",
        languages=("nl",),
        title="X",
        choice_lists={"eens": EENS},
        pages=(
            Page(
                id="een",
                items=(
                    item(
                        "kleur",
                        ItemType.SINGLE,
                        choices="eens",
                        text="Hoe *vaak* <script>alert(1)</script>?",
                        hint="Zie [uitleg](https://example.org/uitleg) of mail a@b.nl",
                    ),
                ),
            ),
        ),
    )
    html = _html(study)
    assert "Hoe <em>vaak</em> &lt;script&gt;alert(1)&lt;/script&gt;?" in html
    assert "<script>alert" not in html
    assert '<a href="https://example.org/uitleg">uitleg</a>' in html
    assert '<a href="mailto:a@b.nl">a@b.nl</a>' in html
