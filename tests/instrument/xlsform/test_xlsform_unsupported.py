"""What Vakstem cannot ask is listed item by item with its row; the import refuses unless the
researcher chooses to leave it out (`skip_unsupported`), and then the study is built without it."""

from __future__ import annotations

from pathlib import Path

from xlsform_book import make_form

from vakstem.instrument.xlsform import read_xlsform

SURVEY = [
    ["type", "name", "label", "choice_filter", "default", "relevant"],
    ["start", "begin", "", "", "", ""],
    ["end", "einde", "", "", "", ""],
    ["deviceid", "toestel", "", "", "", ""],
    ["text", "naam", "Naam", "", "", ""],
    ["geopoint", "plek", "Waar bent u?", "", "", ""],
    ["image", "foto", "Foto", "", "", ""],
    ["calculate", "som", "", "", "", ""],
    ["barcode", "code", "Code", "", "", ""],
    ["select_one kleur or_other", "kleur", "Kleur", "", "", ""],
    ["select_one kleur", "tint", "Tint", "${naam} != ''", "", ""],
    ["integer", "aantal", "Aantal", "", "3", ""],
    ["begin repeat", "kinderen", "Kinderen", "", "", ""],
    ["text", "kind_naam", "Naam kind", "", "", ""],
    ["end repeat", "", "", "", "", ""],
    ["time", "tijd", "Hoe laat?", "", "", ""],
    ["text", "slot", "Slot", "", "", ""],
]
CHOICES = [["list_name", "name", "label"], ["kleur", "rood", "Rood"], ["kleur", "blauw", "Blauw"]]


def test_unsupported_features_are_listed_with_rows_and_the_import_refuses(tmp_path: Path) -> None:
    form = make_form(tmp_path / "f.xlsx", SURVEY, CHOICES)
    result = read_xlsform(form)
    assert result.refused
    assert result.problems == []  # nothing is wrong with the form itself
    listed = [str(f) for f in result.report.unsupported]
    assert listed == [
        "survey sheet, row 6 (plek): type 'geopoint': locations (GPS) are not asked in a web "
        "survey of professionals",
        "survey sheet, row 7 (foto): type 'image': file uploads (media) are not supported",
        "survey sheet, row 8 (som): type 'calculate': calculated fields are not supported; "
        "compute them after export",
        "survey sheet, row 9 (code): type 'barcode': barcode scanning is not supported",
        "survey sheet, row 10 (kleur): type 'select_one kleur or_other': 'or_other' is not "
        "supported: add an 'other' choice and a text question",
        "survey sheet, row 11 (tint): column 'choice_filter': cascading selects (choice_filter) "
        "are not supported",
        "survey sheet, row 12 (aantal): column 'default': default answers are not supported",
        "survey sheet, row 13 (kinderen): repeat groups are not supported (every variable is "
        "asked once)",
        "survey sheet, row 16 (tijd): type 'time': time questions are not supported (only dates)",
    ]
    ignored = [str(f) for f in result.report.ignored]
    assert (
        "survey sheet, row 2 (begin): metadata 'start': filled in by ODK, not asked (Vakstem "
        "records its own start and end times)"
    ) in ignored
    assert any("row 4 (toestel): metadata 'deviceid'" in line for line in ignored)


def test_skip_unsupported_leaves_them_out_and_builds_the_rest(tmp_path: Path) -> None:
    form = make_form(tmp_path / "f.xlsx", SURVEY, CHOICES)
    result = read_xlsform(form, skip_unsupported=True)
    assert not result.refused, [str(p) for p in result.problems]
    assert result.study is not None
    assert result.study.variables() == ["naam", "tint", "aantal", "slot"]
    # Pages of loose questions are named after their first question that is asked.
    assert [p.id for p in result.study.pages] == ["naam", "slot"]
    assert result.report.skipped
    assert result.report.lines()[0] == "9 unsupported feature(s), left out:"


def test_a_condition_on_a_left_out_question_says_why_it_is_unknown(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [
            ["type", "name", "label", "relevant", "calculation"],
            ["integer", "jaar", "Geboortejaar", "", ""],
            ["calculate", "leeftijd", "", "", "2026 - ${jaar}"],
            ["text", "baan", "Baan", "${leeftijd} >= 18", ""],
        ],
    )
    result = read_xlsform(form, skip_unsupported=True)
    assert [p.message for p in result.problems] == [
        "survey sheet, row 4: unknown variable ${leeftijd} in relevant '${leeftijd} >= 18' (it "
        "was left out: calculated fields are not supported; compute them after export)"
    ]
    assert result.refused
