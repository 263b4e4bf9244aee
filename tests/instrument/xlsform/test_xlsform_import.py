"""Importing XLSForm workbooks written to exercise the spec: multilingual columns, every
supported type, every expression form, groups as pages, table-list and likert groups, choice
names that become codes, settings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from xlsform_book import EN, NL, make_form

from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.expressions import evaluate, is_true, parse
from vakstem.instrument.loader import load_study_text
from vakstem.instrument.schema import Item, ItemType, Study
from vakstem.instrument.xlsform import ImportResult, read_xlsform

YES_NO = [
    ["list_name", "name", NL, EN],
    ["yn", "yes", "Ja", "Yes"],
    ["yn", "no", "Nee", "No"],
]


def imported(path: Path, **kwargs: bool) -> Study:
    result = read_xlsform(path, **kwargs)
    assert result.problems == [], [str(p) for p in result.problems]
    assert not result.refused
    assert result.study is not None
    # What is stored for an import is its canonical YAML: it must load back to the same study.
    assert load_study_text(dump_study_yaml(result.study)) == result.study
    return result.study


def item(study: Study, name: str) -> Item:
    found = study.item(name)
    assert found is not None, name
    return found


def test_multilingual_columns_become_texts_in_every_language(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "talen.xlsx",
        [
            [
                "type",
                "name",
                NL,
                EN,
                "hint::Nederlands (nl)",
                "hint::English (en)",
                "constraint",
                "constraint_message::Nederlands (nl)",
                "constraint_message::English (en)",
            ],
            [
                "integer",
                "leeftijd",
                "Leeftijd?",
                "Age?",
                "In jaren",
                "In years",
                ". >= 18",
                "Minstens 18",
                "At least 18",
            ],
            ["select_one yn", "lid", "Lid?", "Member?", "", "", "", "", ""],
        ],
        YES_NO,
        [
            ["form_title", "form_id", "version", "default_language"],
            ["Talen", "talen", "3", "Nederlands (nl)"],
        ],
    )
    study = imported(form)
    assert study.languages == ("nl", "en")
    assert (study.id, study.version, study.title) == ("talen", "3", "Talen")
    age = item(study, "leeftijd")
    assert age.text == {"nl": "Leeftijd?", "en": "Age?"}
    assert age.hint == {"nl": "In jaren", "en": "In years"}
    assert age.constraint_message == {"nl": "Minstens 18", "en": "At least 18"}
    assert study.choice_lists["yn"][0].label == {"nl": "Ja", "en": "Yes"}


def test_default_language_puts_plain_label_columns_first(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "plain.xlsx",
        [["type", "name", "label", EN], ["text", "naam", "Naam", "Name"]],
        None,
        [["form_id", "default_language"], ["plain", "Nederlands (nl)"]],
    )
    study = imported(form)
    assert study.languages == ("nl", "en")
    assert item(study, "naam").text == {"nl": "Naam", "en": "Name"}


def test_a_form_without_languages_is_one_language_with_plain_texts(tmp_path: Path) -> None:
    form = make_form(tmp_path / "een.xlsx", [["type", "name", "label"], ["date", "d", "Datum"]])
    study = imported(form)
    assert study.languages == ("nl",)
    assert study.id == "een"  # no settings sheet: the id comes from the file name
    assert item(study, "d").text == "Datum"


def test_every_supported_type_maps_onto_its_vakstem_type(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "types.xlsx",
        [
            ["type", "name", "label", "appearance", "parameters"],
            ["note", "uitleg", "Welkom", "", ""],
            ["select_one yn", "een", "Een", "", "randomize=true"],
            ["select_one yn", "lijst", "Dropdown", "minimal", ""],
            ["select_multiple yn", "meer", "Meer", "", ""],
            ["integer", "geheel", "Geheel", "", ""],
            ["decimal", "komma", "Komma", "", ""],
            ["text", "kort", "Kort", "", ""],
            ["text", "lang", "Lang", "multiline", ""],
            ["date", "datum", "Datum", "", ""],
            ["acknowledge", "ok", "Gelezen", "", ""],
            ["range", "schaal", "Schaal", "", "start=0 end=10 step=1"],
            ["range", "halve", "Halve", "", "start=0.5 end=5 step=0.5"],
        ],
        [["list_name", "name", "label"], ["yn", "yes", "Ja"], ["yn", "no", "Nee"]],
    )
    result = read_xlsform(form)
    study = imported(form)
    types = {i.id: i.type for _p, i in study.items()}
    assert types == {
        "uitleg": ItemType.NOTE,
        "een": ItemType.SINGLE,
        "lijst": ItemType.SINGLE,
        "meer": ItemType.MULTIPLE,
        "geheel": ItemType.INTEGER,
        "komma": ItemType.DECIMAL,
        "kort": ItemType.TEXT,
        "lang": ItemType.LONGTEXT,
        "datum": ItemType.DATE,
        "ok": ItemType.SINGLE,
        "schaal": ItemType.INTEGER,
        "halve": ItemType.DECIMAL,
    }
    assert item(study, "een").randomize
    assert item(study, "lijst").appearance.value == "dropdown"
    assert (item(study, "schaal").min, item(study, "schaal").max) == (0, 10)
    assert (item(study, "halve").min, item(study, "halve").max) == (0.5, 5)
    ack = item(study, "ok")
    assert [(c.code, c.label) for c in study.choices_of(ack)] == [(1, "OK")]
    notes = "\n".join(str(f) for f in result.report.notes)
    assert "row 11 (ok): acknowledge becomes a single choice" in notes
    assert "row 13 (halve): range becomes a number question from 0.5 to 5" in notes
    assert "step 0.5 is not enforced" in notes


def test_every_expression_form_is_imported_and_evaluates(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "expr.xlsx",
        [
            ["type", "name", "label", "relevant", "constraint", "required"],
            ["integer", "leeftijd", "Leeftijd", "", ". >= 16 and . < 100", "yes"],
            [
                "select_multiple dagen",
                "dagen",
                "Dagen",
                "",
                "not(selected(., '7') and count-selected(.) > 1)",
                "true()",
            ],
            [
                "text",
                "code",
                "Code",
                "${leeftijd} >= 18 or selected(${dagen}, '1')",
                "regex(., '^[A-Z]{2}[0-9]+$')",
                "false()",
            ],
            [
                "text",
                "extra",
                "Extra",
                "if(${leeftijd} > 65, 'oud', 'jong') = 'oud'",
                "",
                "string-length(${code}) = 0",
            ],
            [
                "integer",
                "uren",
                "Uren",
                "count-selected(${dagen}) >= 2 and not(${leeftijd} < 18)",
                "",
                "${leeftijd} > 20",
            ],
        ],
        [["list_name", "name", "label"], *[["dagen", str(k), f"dag {k}"] for k in range(1, 8)]],
    )
    study = imported(form)
    age, days, code, extra, hours = (
        item(study, n) for n in ("leeftijd", "dagen", "code", "extra", "uren")
    )

    def holds(source: str | None, values: dict[str, object], current: object = None) -> bool:
        assert source is not None
        return is_true(evaluate(parse(source), values, current, today=date(2026, 1, 1)))  # type: ignore[arg-type]

    assert age.required is True and days.required is True and code.required is False
    assert holds(extra.required, {"code": ""}) and not holds(extra.required, {"code": "AB1"})
    assert code.relevant == "${leeftijd} >= 18 or selected(${dagen}, '1')"
    assert hours.required == "${leeftijd} > 20"

    assert holds(age.constraint, {}, 40) and not holds(age.constraint, {}, 12)
    assert not holds(days.constraint, {}, "7 1") and holds(days.constraint, {}, "7")
    assert holds(code.relevant, {"leeftijd": 16, "dagen": "1 3"})
    assert not holds(code.relevant, {"leeftijd": 16, "dagen": "3"})
    assert holds(code.constraint, {}, "AB12") and not holds(code.constraint, {}, "ab12")
    assert holds(extra.relevant, {"leeftijd": 70}) and not holds(extra.relevant, {"leeftijd": 30})
    assert holds(hours.relevant, {"leeftijd": 30, "dagen": "1 2"})


def test_non_numeric_choice_names_get_codes_and_conditions_are_rewritten(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "codes.xlsx",
        [
            ["type", "name", "label", "relevant", "constraint"],
            ["select_one yn", "roker", "Rookt u?", "", ""],
            [
                "select_multiple kleur",
                "kleuren",
                "Kleuren",
                "",
                "not(selected(., 'geen') and count-selected(.) > 1)",
            ],
            ["integer", "sigaretten", "Hoeveel?", "${roker} = 'yes'", ""],
            ["text", "welke", "Welke?", "selected(${kleuren}, 'rood') or 'no' != ${roker}", ""],
            ["text", "los", "Los", "${roker} = 'no' and string-length('yes') = 3", ""],
        ],
        [
            ["list_name", "name", "label"],
            ["yn", "yes", "Ja"],
            ["yn", "no", "Nee"],
            ["kleur", "rood", "Rood"],
            ["kleur", "blauw", "Blauw"],
            ["kleur", "geen", "Geen"],
        ],
    )
    result = read_xlsform(form)
    study = imported(form)
    assert [(c.code, c.label) for c in study.choice_lists["yn"]] == [(1, "Ja"), (2, "Nee")]
    assert [c.code for c in study.choice_lists["kleur"]] == [1, 2, 3]
    assert item(study, "sigaretten").relevant == "${roker} = 1"
    assert item(study, "welke").relevant == "selected(${kleuren}, '1') or 2 != ${roker}"
    assert item(study, "kleuren").constraint == ("not(selected(., '3') and count-selected(.) > 1)")
    # A quoted 'yes' that is not compared with an item of the list stays text.
    assert item(study, "los").relevant == "${roker} = 2 and string-length('yes') = 3"
    lines = result.report.lines()
    assert "choice list 'yn' codes: 'yes' -> 1, 'no' -> 2" in lines
    assert "choice list 'kleur' codes: 'rood' -> 1, 'blauw' -> 2, 'geen' -> 3" in lines


def test_numeric_choice_names_are_kept_as_codes(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "num.xlsx",
        [["type", "name", "label"], ["select_one n", "q", "Q"]],
        [["list_name", "name", "label"], ["n", 1, "een"], ["n", "-1", "geen"], ["n", 99, "nvt"]],
    )
    result = read_xlsform(form)
    study = imported(form)
    assert [c.code for c in study.choice_lists["n"]] == [1, -1, 99]
    assert result.report.code_mappings == []


def test_names_that_are_not_vakstem_ids_are_renamed_with_their_references(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "names.xlsx",
        [
            ["type", "name", "label", "relevant"],
            ["integer", "Q1", "Vraag 1", ""],
            ["integer", "Q2.a", "Vraag 2", "${Q1} > 3"],
        ],
    )
    result = read_xlsform(form)
    study = imported(form)
    assert study.variables() == ["q1", "q2_a"]
    assert item(study, "q2_a").relevant == "${q1} > 3"
    assert result.report.renamed == {"Q1": "q1", "Q2.a": "q2_a"}


def _pages(study: Study) -> list[tuple[str, list[str]]]:
    return [(p.id, [i.id for i in p.items]) for p in study.pages]


GROUPED = [
    ["type", "name", "label", "relevant", "appearance"],
    ["integer", "a", "A", "", ""],
    ["integer", "b", "B", "", ""],
    ["begin group", "werk", "Uw werk", "${a} > 1", "field-list"],
    ["integer", "c", "C", "", ""],
    ["begin group", "sub", "Onderdeel", "${b} > 2", ""],
    ["integer", "d", "D", "${a} > 3", ""],
    ["end group", "", "", "", ""],
    ["end group", "", "", "", ""],
    ["integer", "e", "E", "", ""],
]


def test_groups_are_pages_and_loose_questions_share_a_page_without_style(tmp_path: Path) -> None:
    study = imported(make_form(tmp_path / "g.xlsx", GROUPED))
    assert _pages(study) == [("a", ["a", "b"]), ("werk", ["c", "sub", "d"]), ("e", ["e"])]
    page = study.pages[1]
    assert page.title == "Uw werk" and page.relevant == "${a} > 1"
    # A nested group is flattened: its label a note, its condition on each of its questions.
    assert item(study, "sub").type is ItemType.NOTE
    assert item(study, "sub").relevant == "${b} > 2"
    assert item(study, "d").relevant == "(${b} > 2) and (${a} > 3)"


def test_style_pages_gives_each_loose_question_its_own_page(tmp_path: Path) -> None:
    form = make_form(tmp_path / "p.xlsx", GROUPED, None, [["style"], ["pages"]])
    study = imported(form)
    assert [p for p, _ in _pages(study)] == ["a", "b", "werk", "e"]


def test_table_list_and_likert_groups_become_matrices(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "m.xlsx",
        [
            ["type", "name", NL, EN, "appearance", "required", "parameters"],
            ["begin group", "pagina", "Stellingen", "Statements", "field-list", "", ""],
            ["begin group", "br", "Eens?", "Agree?", "table-list", "", "randomize=true"],
            ["select_one eens", "br_kop", "", "", "label", "", ""],
            ["select_one eens", "br_1", "Ik beslis", "I decide", "", "yes", ""],
            ["select_one eens", "br_2", "Ik kies", "I choose", "", "yes", ""],
            ["end group", "", "", "", "", "", ""],
            ["end group", "", "", "", "", "", ""],
            ["begin group", "wd", "Werkdruk", "Workload", "field-list", "", ""],
            ["select_one eens", "wd_1", "Te veel", "Too much", "likert", "", ""],
            ["select_one eens", "wd_2", "Te snel", "Too fast", "likert", "", ""],
            ["end group", "", "", "", "", "", ""],
        ],
        [
            ["list_name", "name", NL, EN],
            ["eens", 1, "Oneens", "Disagree"],
            ["eens", 2, "Eens", "Agree"],
        ],
    )
    result = read_xlsform(form)
    study = imported(form)
    assert _pages(study) == [("pagina", ["br"]), ("wd", ["wd"])]
    br = item(study, "br")
    assert br.type is ItemType.MATRIX and br.choices == "eens" and br.randomize
    assert br.required is True
    assert br.text == {"nl": "Eens?", "en": "Agree?"}
    assert [(r.id, r.text) for r in br.rows] == [
        ("br_1", {"nl": "Ik beslis", "en": "I decide"}),
        ("br_2", {"nl": "Ik kies", "en": "I choose"}),
    ]
    assert item(study, "wd").type is ItemType.MATRIX
    assert study.variables() == ["br_1", "br_2", "wd_1", "wd_2"]
    assert any("row 4 (br_kop): header row" in str(f) for f in result.report.ignored)


def test_a_table_group_whose_rows_have_conditions_stays_separate_questions(
    tmp_path: Path,
) -> None:
    form = make_form(
        tmp_path / "t.xlsx",
        [
            ["type", "name", "label", "appearance", "relevant"],
            ["integer", "n", "N", "", ""],
            ["begin group", "tab", "Tabel", "table-list", ""],
            ["select_one eens", "t_1", "Een", "", ""],
            ["select_one eens", "t_2", "Twee", "", "${n} > 1"],
            ["end group", "", "", "", ""],
        ],
        [["list_name", "name", "label"], ["eens", 1, "Oneens"], ["eens", 2, "Eens"]],
    )
    result = read_xlsform(form)
    study = imported(form)
    assert [i.type for i in study.pages[1].items] == [ItemType.SINGLE, ItemType.SINGLE]
    assert any(
        "row 3 (tab): table group kept as separate questions: row 5 has its own relevant" in str(f)
        for f in result.report.notes
    )


def test_vakstem_columns_and_sheet_carry_what_xlsform_lacks(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "v.xlsx",
        [
            [
                "type",
                "name",
                "label",
                "vakstem_min",
                "vakstem_max",
                "vakstem_max_length",
                "vakstem_open_text",
                "vakstem_short_label",
                "vakstem_type",
            ],
            ["select_one janee", "mag", "Doet u mee?", "", "", "", "", "", "consent"],
            ["integer", "jaren", "Hoeveel jaar?", 0, 50, "", "", "Jaren", ""],
            ["text", "open", "Nog iets?", "", "", 500, "yes", "", ""],
        ],
        [
            ["list_name", "name", "label", "vakstem_missing"],
            ["janee", 1, "Ja", ""],
            ["janee", 0, "Nee", ""],
            ["jn9", 1, "Ja", ""],
            ["jn9", 9, "Weet niet", "yes"],
        ],
        None,
        vakstem=[
            ["key", "value"],
            ["closing", '"Dank u wel"'],
            ["scales", '[{"id": "s", "label": "S", "items": ["jaren"]}]'],
        ],
    )
    study = imported(form)
    assert item(study, "mag").type is ItemType.CONSENT and item(study, "mag").choices is None
    assert "janee" not in study.choice_lists  # only the consent item used it
    assert study.choice_lists["jn9"][1].missing
    jaren = item(study, "jaren")
    assert (jaren.min, jaren.max, jaren.label) == (0, 50, "Jaren")
    assert item(study, "open").max_length == 500 and item(study, "open").open_text
    assert study.closing == "Dank u wel"
    assert study.scales[0].items == ("jaren",)


def test_upload_bytes_import_like_a_file(tmp_path: Path) -> None:
    form = make_form(tmp_path / "b.xlsx", [["type", "name", "label"], ["text", "t", "T"]])
    result: ImportResult = read_xlsform(form.read_bytes(), filename="upload.xlsx")
    assert not result.refused and result.study is not None
    assert result.study.id == "upload"


def test_plain_columns_without_default_language_fill_in_every_language(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "fallback.xlsx",
        [
            ["type", "name", "label::english", "label::chinese"],
            ["select_one yn", "q", "Yes?", "是?"],
        ],
        [["list_name", "name", "label"], ["yn", 1, "Yes / 是"], ["yn", 0, "No / 否"]],
    )
    study = imported(form)
    assert study.languages == ("en", "zh")
    assert item(study, "q").text == {"en": "Yes?", "zh": "是?"}
    assert study.choice_lists["yn"][0].label == "Yes / 是"


def test_older_single_colon_language_columns_are_read(tmp_path: Path) -> None:
    form = make_form(
        tmp_path / "old.xlsx",
        [
            ["type", "name", "label:English", "label:Dutch"],
            ["integer", "n", "How many?", "Hoeveel?"],
        ],
    )
    study = imported(form)
    assert study.languages == ("en", "nl")
    assert item(study, "n").text == {"en": "How many?", "nl": "Hoeveel?"}
