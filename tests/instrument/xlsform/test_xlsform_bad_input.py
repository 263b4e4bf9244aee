"""Every bad XLSForm is refused with a clear problem naming its sheet and row (never a
traceback): unknown types, broken expressions, missing sheets and columns, unknown lists,
duplicate names, unbalanced groups, files that are no workbook."""

from __future__ import annotations

from pathlib import Path

import pytest
from xlsform_book import make_form

from vakstem.instrument.xlsform import read_xlsform

CHOICES = [["list_name", "name", "label"], ["yn", "yes", "Ja"], ["yn", "no", "Nee"]]


def messages(path: Path | bytes) -> list[str]:
    result = read_xlsform(path, filename="form.xlsx")
    assert result.refused
    assert result.problems
    return [p.message for p in result.problems]


def test_unknown_type_names_its_row_and_suggests_the_near_type(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["text", "a", "A"], ["integr", "b", "B"]],
    )
    assert messages(form) == [
        "survey sheet, row 3, column 'type': unknown type 'integr' (did you mean 'integer'?)"
    ]


def test_broken_expression_names_row_column_and_position(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [
            ["type", "name", "label", "relevant", "constraint"],
            ["integer", "a", "A", "", ". >"],
            ["integer", "b", "B", "${a} > 1 AND ${a} < 5", ""],
            ["integer", "c", "C", "${onbekend} = 1", ""],
        ],
    )
    found = messages(form)
    assert found[0].startswith(
        "survey sheet, row 2: constraint '. >': unexpected end of expression"
    )
    assert found[1].startswith("survey sheet, row 3: relevant '${a} > 1 AND ${a} < 5': ")
    assert "write 'and' in lowercase" in found[1]
    assert found[2] == (
        "survey sheet, row 4: unknown variable ${onbekend} in relevant '${onbekend} = 1'"
    )


def test_problems_carry_sheet_row_and_column_as_location(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [["type", "name", "label", "relevant"], ["integer", "a", "A", "${a} >"]],
    )
    [problem] = read_xlsform(form, filename="form.xlsx").problems
    assert (problem.file, problem.line, problem.column) == ("form.xlsx", 2, 4)
    assert str(problem).startswith("form.xlsx:2: page 'a', item 'a': survey sheet, row 2:")


def test_missing_survey_sheet_lists_the_sheets_found(tmp_path: Path) -> None:
    form = make_form(tmp_path / "f.xlsx", None, CHOICES, None, vragen=[["type"], ["text"]])  # type: ignore[arg-type]
    assert messages(form) == [
        "the workbook has no 'survey' sheet (sheets found: 'choices', 'vragen'); an XLSForm "
        "needs a survey sheet, and a choices sheet for select questions"
    ]


def test_missing_choices_sheet_names_the_row_that_needs_it(tmp_path: Path) -> None:
    form = make_form(tmp_path / "f.xlsx", [["type", "name", "label"], ["select_one yn", "q", "Q"]])
    assert messages(form) == [
        "survey sheet, row 2, column 'type': uses choice list 'yn', but the workbook has no "
        "choices sheet"
    ]


def test_list_name_that_does_not_exist_names_its_row(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["select_one yn", "q", "Q"], ["select_multiple ynn", "r", "R"]],
        CHOICES,
    )
    assert messages(form) == [
        "survey sheet, row 3, column 'type': choice list 'ynn' is not in the choices sheet "
        "(did you mean 'yn'?)"
    ]


def test_duplicate_names_name_both_rows(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["text", "a", "A"], ["integer", "b", "B"], ["date", "a", "C"]],
    )
    assert "survey sheet, row 4, column 'name': duplicate name 'a' (also row 2)" in messages(form)


def test_duplicate_choice_names_in_a_list_name_both_rows(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["select_one yn", "q", "Q"]],
        [*CHOICES, ["yn", "yes", "Jazeker"]],
    )
    assert messages(form) == [
        "choices sheet, row 4, column 'name': duplicate choice name 'yes' in list 'yn' (also row 2)"
    ]


@pytest.mark.parametrize("column", ["name", "type"])
def test_missing_name_or_type_column_is_named(tmp_path: Path, column: str) -> None:
    header = [c for c in ["type", "name", "label"] if c != column]
    form = make_form(tmp_path / "f.xlsx", [header, ["text", "A"]])
    assert messages(form) == [
        f"survey sheet, row 1: no {column!r} column (the survey sheet needs type, name and "
        "label columns)"
    ]


def test_select_without_a_list_name_says_so(tmp_path: Path) -> None:
    form = make_form(tmp_path / "f.xlsx", [["type", "name", "label"], ["select_one", "q", "Q"]])
    assert messages(form) == [
        "survey sheet, row 2, column 'type': select_one needs a list name: write 'select_one LIST'"
    ]


def test_row_without_name_or_type_is_named(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["text", "", "Naamloos"], ["", "x", "Zonder type"]],
    )
    assert messages(form) == [
        "survey sheet, row 2, column 'name': type 'text' needs a name",
        "survey sheet, row 3, column 'type': a row without a type: give it a type or delete "
        "the row",
    ]


def test_unbalanced_groups_are_named(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [
            ["type", "name", "label"],
            ["end group", "", ""],
            ["begin group", "g", "G"],
            ["text", "a", "A"],
        ],
    )
    assert messages(form) == [
        "survey sheet, row 2, column 'type': end group without a matching begin",
        "survey sheet, row 3, column 'type': begin group 'g' has no end group",
    ]


def test_missing_label_and_translation_are_named_by_row(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [
            ["type", "name", "label::Nederlands (nl)", "label::English (en)"],
            ["text", "a", "A", "A"],
            ["text", "b", "B", ""],
            ["integer", "c", "", ""],
        ],
    )
    assert messages(form) == [
        "survey sheet, row 3: text is missing in en (the study's languages are nl, en)",
        "survey sheet, row 4: text is empty",
    ]


def test_language_that_cannot_be_told_is_named(tmp_path: Path) -> None:
    form = make_form(tmp_path / "f.xlsx", [["type", "name", "label::Klingon"], ["text", "a", "A"]])
    assert messages(form)[0] == (
        "survey sheet, row 1: cannot tell the language of column 'label::Klingon': write it as "
        "'label::Klingon (code)', for example 'label::Nederlands (nl)'"
    )


def test_choice_name_in_a_condition_that_is_not_in_the_list_is_named(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [
            ["type", "name", "label", "relevant"],
            ["select_one yn", "q", "Q", ""],
            ["text", "t", "T", "${q} = 'misschien'"],
        ],
        CHOICES,
    )
    assert messages(form) == [
        "survey sheet, row 3, column 'relevant': 'misschien' is not a choice of ${q} (list "
        "'yn': 'yes', 'no')"
    ]


def test_bad_parameters_are_named(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "f.xlsx",
        [["type", "name", "label", "parameters"], ["range", "r", "R", "start=a end=5"]],
    )
    assert messages(form) == [
        "survey sheet, row 2, column 'parameters': range parameter start='a' is not a number"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"type,name,label\ntext,a,A\n", "not an Excel workbook (.xlsx)"),
        (b"PK\x03\x04 broken zip", "not an Excel workbook (.xlsx)"),
    ],
    ids=["empty", "csv", "broken-zip"],
)
def test_files_that_are_not_workbooks_are_refused_clearly(content: bytes, expected: str) -> None:
    [message] = messages(content)
    assert message.startswith(expected)


def test_missing_file_and_directory_are_refused_clearly(tmp_path: Path) -> None:
    assert messages(tmp_path / "nope.xlsx") == ["file not found"]
    assert messages(tmp_path) == ["this is a directory, not an XLSForm workbook"]
