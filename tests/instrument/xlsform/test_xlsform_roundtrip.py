"""Export -> import gives an equivalent study (variables, types, codes, labels, conditions and
texts in every language), for the example study and the klantmanager study; and the canonical
YAML of a study reads back to an equal model."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from xlsform_book import comparable

import vakstem
from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.loader import load_study_file, load_study_text
from vakstem.instrument.schema import ItemType
from vakstem.instrument.xlsform import read_xlsform, write_xlsform

STUDIES = Path(vakstem.__file__).parent / "studies"
SHIPPED = [STUDIES / "voorbeeld" / "study.yaml", STUDIES / "klantmanagers" / "study.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_export_then_import_gives_an_equivalent_study(path: Path, tmp_path: Path) -> None:
    study = load_study_file(path)
    form = tmp_path / "form.xlsx"
    write_xlsform(study, form)
    result = read_xlsform(form)
    assert result.problems == []
    assert not result.refused
    assert result.report.unsupported == []
    assert result.study is not None
    assert result.study.variables() == study.variables()
    assert comparable(result.study) == comparable(study)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_canonical_yaml_reads_back_to_an_equal_study(path: Path) -> None:
    study = load_study_file(path)
    assert load_study_text(dump_study_yaml(study)) == study


def test_dumped_yaml_quotes_texts_that_look_like_numbers_or_booleans() -> None:
    study = load_study_file(SHIPPED[0])
    page = study.pages[0]
    tricky = page.items[0].model_copy(update={"text": {"nl": "1e5", "en": "yes"}})
    changed = study.model_copy(
        update={
            "pages": (
                page.model_copy(update={"items": (tricky, *page.items[1:])}),
                *study.pages[1:],
            )
        }
    )
    text = dump_study_yaml(changed)
    assert "nl: '1e5'" in text and "en: 'yes'" in text
    assert load_study_text(text) == changed


def test_export_writes_language_columns_table_list_matrices_and_pages(tmp_path: Path) -> None:
    study = load_study_file(SHIPPED[0])
    form = tmp_path / "form.xlsx"
    write_xlsform(study, form)
    book = load_workbook(form)
    assert book.sheetnames == ["survey", "choices", "settings", "vakstem"]
    survey = [list(r) for r in book["survey"].iter_rows(values_only=True)]
    header = survey[0]
    assert header[:4] == ["type", "name", "label::Nederlands (nl)", "label::English (en)"]
    assert "hint::English (en)" in header and "constraint_message::Nederlands (nl)" in header
    rows = [dict(zip(header, r, strict=True)) for r in survey[1:]]
    by_name = {r["name"]: r for r in rows if r["type"] != "end group"}
    # Every page is a top-level group, every matrix a table-list group of select_one rows.
    assert [r["name"] for r in rows if r["type"] == "begin group"][:2] == ["welkom", "achtergrond"]
    assert by_name["br"]["type"] == "begin group"
    assert by_name["br"]["appearance"] == "table-list"
    assert by_name["br_1"]["type"] == "select_one eens5"
    assert by_name["provincie"]["appearance"] == "minimal"
    assert by_name["afspraken_detail"]["relevant"] == "${afspraken} = 1"
    matrix = next(i for _p, i in study.items() if i.type is ItemType.MATRIX)
    assert by_name[matrix.rows[0].id]["label::English (en)"] == matrix.rows[0].text["en"]  # type: ignore[index]
    settings = list(book["settings"].iter_rows(values_only=True))
    values = dict(zip(settings[0], settings[1], strict=True))
    assert values["style"] == "pages"
    assert values["form_id"] == "voorbeeld"
    assert values["default_language"] == "Nederlands (nl)"
    choices = list(book["choices"].iter_rows(values_only=True))
    assert ("janee", 9, "Weet ik niet", "Don't know", "yes") in choices


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_exported_names_are_unique_as_odk_requires(path: Path, tmp_path: Path) -> None:
    study = load_study_file(path)
    form = tmp_path / "form.xlsx"
    write_xlsform(study, form)
    survey = list(load_workbook(form)["survey"].iter_rows(values_only=True))
    header = survey[0]
    rows = [dict(zip(header, r, strict=True)) for r in survey[1:]]
    names = [r["name"] for r in rows if r["type"] != "end group"]
    assert len(names) == len(set(names))
    # A page named like one of its questions gets its own group name and keeps its id.
    renamed = [r for r in rows if r.get("vakstem_id")]
    if path.parent.name == "klantmanagers":
        assert {r["vakstem_id"] for r in renamed} >= {"toestemming", "organisatie"}
    for row in renamed:
        assert row["name"] == f"{row['vakstem_id']}_page"
