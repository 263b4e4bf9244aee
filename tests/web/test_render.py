"""Rendering of every item type, errors, kept answers and escaping, from Study objects built in
Python (no database): what the respondent pages contain before any route is involved."""

from __future__ import annotations

from typing import Any

import pytest

from vakstem.service.types import ItemError, PageView
from vakstem.web.i18n import Catalogues
from vakstem.web.jinja import make_environment, render_template
from vakstem.web.render import build_page

from .factories import EENS, every_type_study, view_of
from .html import Page


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return Catalogues()


def render(
    catalogues: Catalogues,
    view: PageView | None = None,
    *,
    language: str = "nl",
    values: dict[str, Any] | None = None,
    errors: tuple[ItemError, ...] = (),
) -> Page:
    study = every_type_study()
    view = view or view_of(study)
    page = build_page(
        study, view, language=language, catalogues=catalogues, values=values or {}, errors=errors
    )
    html = render_template(
        make_environment(),
        catalogues,
        "page.html",
        language=language,
        page=page,
        action="/s/alles/r/CODE",
        csrf="token",
        hidden=[],
        back_action="/s/alles/r/CODE/back" if page.can_go_back else "",
        resume_code="ABCD-EFGH-JK",
        resume_url="http://testserver/s/alles/r/ABCD-EFGH-JK",
        resume_form_url="",
        withdraw_action="/s/alles/intrekken",
        withdraw_csrf="withdraw-token",
        notice="",
    )
    return Page(html)


def test_every_item_type_renders_its_own_control(catalogues: Catalogues) -> None:
    page = render(catalogues)
    assert [e.get("value") for e in page.find_all("input", name="kleur")] == ["1", "2", "9"]
    assert {e.get("type") for e in page.find_all("input", name="kleur")} == {"radio"}
    select = page.find("select", name="lijst")
    assert [o.get("value") for o in select.children] == ["", "1", "2", "9"]
    assert {e.get("type") for e in page.find_all("input", name="meer")} == {"checkbox"}
    table = page.find("table")
    assert len(page.find_all("input", name="br_1")) == 3
    assert all(e.get("type") == "radio" for e in page.find_all("input", name="br_2"))
    assert "Rij een" in table.text
    jaren = page.find("input", name="jaren")
    assert (jaren.get("type"), jaren.get("inputmode")) == ("text", "numeric")
    assert page.find("input", name="uren").get("inputmode") == "decimal"
    assert not page.find_all("input", type="number")
    assert page.find("input", name="naam").get("maxlength") == "20"
    area = page.find("textarea", name="toelichting")
    assert area.get("maxlength") == "500"
    assert "Maximaal 500 tekens." in page.by_id("c-toelichting").text
    assert page.find("input", name="datum").get("type") == "date"
    consent = page.find_all("input", name="toestemming")
    assert [c.get("value") for c in consent] == ["1", "0"]
    assert page.label_for(consent[0].attrs["id"]) == "Ja, ik doe mee"


def test_every_input_has_exactly_one_label_and_ids_are_unique(catalogues: Catalogues) -> None:
    page = render(catalogues)
    ids = page.ids()
    assert len(ids) == len(set(ids))
    for element in page.find_all("input") + page.find_all("select") + page.find_all("textarea"):
        if element.get("type") == "hidden":
            continue
        assert page.label_for(element.attrs["id"])


def test_matrix_cell_labels_name_row_and_choice(catalogues: Catalogues) -> None:
    page = render(catalogues)
    first = page.find("input", name="br_2", value="9")
    assert page.label_for(first.attrs["id"]) == "Rij twee: Weet ik niet"


def test_choices_are_shown_in_the_order_the_service_gives(catalogues: Catalogues) -> None:
    study = every_type_study()
    shuffled = (EENS[2], EENS[0], EENS[1])
    page = render(catalogues, view_of(study, kleur=shuffled, br=shuffled))
    assert [e.get("value") for e in page.find_all("input", name="kleur")] == ["9", "1", "2"]
    assert [e.get("value") for e in page.find_all("input", name="br_1")] == ["9", "1", "2"]
    headers = [th.text for th in page.find("thead").children[0].children if th.tag == "th"]
    assert headers == ["Weet ik niet", "Oneens", "Eens"]


def test_errors_are_shown_next_to_their_fields_and_summarised(catalogues: Catalogues) -> None:
    errors = (
        ItemError("jaren", "above_max", {"max": 50}),
        ItemError("kleur", "required"),
        ItemError("br_2", "required"),
        ItemError("naam", "constraint", message="Geen cijfers, graag."),
    )
    page = render(catalogues, values={"jaren": "77", "naam": "R2D2"}, errors=errors)
    jaren = page.find("input", name="jaren")
    assert jaren.get("aria-invalid") == "true"
    assert "e-jaren" in (jaren.get("aria-describedby") or "")
    assert page.by_id("e-jaren").text.strip().endswith("Vul een waarde in van hoogstens 50.")
    assert jaren.get("value") == "77"
    assert page.by_id("e-naam").text.strip().endswith("Geen cijfers, graag.")
    fieldset = page.by_id("item-kleur")
    assert "e-kleur" in (fieldset.get("aria-describedby") or "")
    assert all(r.get("aria-invalid") == "true" for r in page.find_all("input", name="kleur"))
    row = page.find("input", name="br_2", value="1")
    assert "e-br_2" in (row.get("aria-describedby") or "")
    assert not page.find("input", name="br_1", value="1").get("aria-invalid")
    summary = page.by_id("error-summary")
    links = [a.get("href") for a in summary.children[1].children for a in a.children]
    # In page order, whatever the order of the errors.
    assert links == ["#f-kleur-1", "#f-br_2-1", "#f-jaren", "#f-naam"]
    for href in links:
        page.by_id(href[1:])


def test_typed_and_stored_answers_are_filled_in(catalogues: Catalogues) -> None:
    values = {
        "kleur": 2,
        "lijst": "9",
        "meer": [1, 9],
        "br_1": 2,
        "jaren": 12,
        "uren": 32.0,
        "naam": 'a "quoted" <name>',
        "toelichting": "regel\nregel",
        "datum": "2020-02-29",
        "toestemming": 1,
    }
    page = render(catalogues, values=values)
    assert page.find("input", name="kleur", value="2").get("checked") == ""
    assert page.find("input", name="kleur", value="1").get("checked") is None
    assert page.find("option", value="9").get("selected") == ""
    assert [
        e.get("value") for e in page.find_all("input", name="meer") if "checked" in e.attrs
    ] == [
        "1",
        "9",
    ]
    assert page.find("input", name="br_1", value="2").get("checked") == ""
    assert page.find("input", name="jaren").get("value") == "12"
    assert page.find("input", name="uren").get("value") == "32"
    assert page.find("input", name="naam").get("value") == 'a "quoted" <name>'
    assert page.find("textarea").text == "regel\nregel"
    assert page.find("input", name="datum").get("value") == "2020-02-29"
    assert page.find("input", name="toestemming", value="1").get("checked") == ""


def test_study_texts_are_escaped_and_split_into_paragraphs(catalogues: Catalogues) -> None:
    page = render(catalogues)
    note = page.by_id("item-uitleg")
    assert [c.tag for c in note.children] == ["p", "p"]
    assert not page.find_all("b") and "&lt;b&gt;" in page.html
    assert "Tweede <b>alinea</b>." in note.text


def test_pages_have_no_inline_styles_or_scripts(catalogues: Catalogues) -> None:
    page = render(catalogues, errors=(ItemError("kleur", "required"),))
    assert not [e for e in page.elements if "style" in e.attrs]
    assert not page.find_all("style")
    scripts = page.find_all("script")
    assert scripts and all((s.get("src") or "").startswith("/static/") for s in scripts)
    assert not [e for e in page.elements if any(a.startswith("on") for a in e.attrs)]


def test_english_page_uses_english_interface_and_study_texts(catalogues: Catalogues) -> None:
    page = render(catalogues, language="en")
    assert page.find("html").get("lang") == "en"
    assert "Page 1 of 2" in page.find("label", for_="progress").text
    consent = page.find_all("input", name="toestemming")
    assert page.label_for(consent[1].attrs["id"]) == "No, I do not take part"
    assert "Row one" in page.find("table").text
    assert page.find("button", class_="next").text.strip() == "Next"


def test_progress_bar_shows_position_and_last_page_says_finish(catalogues: Catalogues) -> None:
    study = every_type_study()
    page = render(catalogues, view_of(study, 1))
    progress = page.find("progress")
    assert (progress.get("value"), progress.get("max")) == ("2", "2")
    assert "Pagina 2 van 2" in page.find("label", for_="progress").text
    assert page.find("button", class_="next").text.strip() == "Afronden"
    assert page.find("form", class_="back-form").get("action") == "/s/alles/r/CODE/back"


def test_continue_later_box_shows_code_and_link(catalogues: Catalogues) -> None:
    page = render(catalogues)
    assert "ABCD-EFGH-JK" in page.find("p", class_="code").text
    assert page.find("a", href="http://testserver/s/alles/r/ABCD-EFGH-JK")


def test_environments_of_one_process_compile_a_template_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_environment().get_template("message.html")
    second = make_environment()
    compiled: list[str] = []
    compile_ = second.compile

    def counting(source: str, *args: Any, **kwargs: Any) -> Any:
        compiled.append(source)
        return compile_(source, *args, **kwargs)

    monkeypatch.setattr(second, "compile", counting)
    second.get_template("message.html")
    assert compiled == []  # the first environment's code
