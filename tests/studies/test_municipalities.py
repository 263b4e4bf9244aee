"""The shipped municipality list and the organisatie choice list built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vakstem.studies.klantmanagers import STUDY_FILE
from vakstem.studies.klantmanagers.organisations import (
    OTHER_ORGANISATION,
    PROVINCES,
    SIZE_CLASSES,
    MunicipalityDataError,
    load_municipalities,
    main,
    municipality,
    organisation_choices,
    render_choice_block,
    sync_study_text,
)

HEADER = "code,name,province,size_class\n"


def test_the_list_has_every_municipality_of_2025_once() -> None:
    items = load_municipalities()
    assert len(items) == 342
    assert len({m.code for m in items}) == 342
    assert len({m.name for m in items}) == 342
    assert {m.province for m in items} == set(PROVINCES)
    assert {m.size_class for m in items} <= set(SIZE_CLASSES)


def test_the_four_largest_cities_are_the_g4_with_their_cbs_codes() -> None:
    g4 = {m.code: m.name for m in load_municipalities() if m.size_class == "G4"}
    assert g4 == {363: "Amsterdam", 599: "Rotterdam", 518: "'s-Gravenhage", 344: "Utrecht"}


def test_province_and_size_class_follow_from_the_code() -> None:
    groningen = municipality(14)
    assert (groningen.province_code, groningen.size_code) == (20, 2)
    assert municipality(1783).size_class == "100k+"
    with pytest.raises(KeyError, match="no municipality with code 9999"):
        municipality(OTHER_ORGANISATION)


def test_choice_list_is_sorted_by_name_with_other_organisation_last() -> None:
    choices = organisation_choices()
    assert len(choices) == 343
    assert choices[-1]["code"] == OTHER_ORGANISATION
    names = [str(c["label"]) for c in choices[:-1]]
    assert names[0] == "Aa en Hunze"
    # 's-Gravenhage is found under G, with the name people search for beside it
    assert "'s-Gravenhage (Den Haag)" in names
    assert names.index("'s-Gravenhage (Den Haag)") > names.index("Goes")


def test_study_file_holds_the_list_built_from_the_data() -> None:
    text = STUDY_FILE.read_text(encoding="utf-8")
    assert sync_study_text(text, render_choice_block()) == text
    assert main(["--check"]) == 0


def test_a_stale_block_is_replaced_and_everything_else_kept() -> None:
    stale = "choice_lists:\n" + render_choice_block()[:200] + "\n  # END organisatie\npages: []\n"
    fresh = sync_study_text(stale, render_choice_block())
    assert fresh.startswith("choice_lists:\n")
    assert fresh.endswith("  # END organisatie\npages: []\n")
    assert fresh.count('{code: 363, label: "Amsterdam"}') == 1


def test_a_study_text_without_markers_is_a_clear_error() -> None:
    with pytest.raises(MunicipalityDataError, match="exactly one organisatie block"):
        sync_study_text("pages: []\n", render_choice_block())


@pytest.mark.parametrize(
    "rows, message",
    [
        ("363,Amsterdam,Noord-Holland,G4\n363,Amsterdam2,Noord-Holland,G4\n", "also on line 2"),
        ("abc,Amsterdam,Noord-Holland,G4\n", "'abc' is not a municipality code"),
        ("9999,Nergens,Noord-Holland,G4\n", "'9999' is not a municipality code"),
        ("363,Amsterdam,Holland,G4\n", "unknown province 'Holland'"),
        ("363,Amsterdam,Noord-Holland,huge\n", "unknown size class 'huge'"),
        ("363,,Noord-Holland,G4\n", "the name is empty"),
    ],
)
def test_a_malformed_municipality_file_names_the_line_and_problem(
    tmp_path: Path, rows: str, message: str
) -> None:
    path = tmp_path / "gemeenten.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(MunicipalityDataError, match=message):
        load_municipalities(path)


def test_a_wrong_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gemeenten.csv"
    path.write_text("code;name\n363;Amsterdam\n", encoding="utf-8")
    with pytest.raises(MunicipalityDataError, match="header must be code,name,province"):
        load_municipalities(path)
