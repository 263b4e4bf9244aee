"""Any workbook built from XLSForm's vocabulary (good, bad or nonsensical rows) imports without
an exception: either refused with located problems, or a study whose canonical YAML loads back
to the same study."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xlsform_book import make_form

from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.loader import load_study_text
from vakstem.instrument.xlsform import read_xlsform

TYPES = [
    "text",
    "integer",
    "decimal",
    "date",
    "note",
    "acknowledge",
    "range",
    "select_one yn",
    "select_multiple yn",
    "select_one kleur",
    "select_one nope",
    "begin group",
    "end group",
    "begin repeat",
    "end repeat",
    "geopoint",
    "calculate",
    "start",
    "integr",
    "",
    "select_one",
    "select_one yn or_other",
]
NAMES = ["a", "b", "c", "Q1", "a b", "", "1x", "grp"]
EXPRESSIONS = [
    "",
    "${a} > 1",
    "${b} = 'yes'",
    "selected(${c}, 'rood')",
    ". > 0",
    "${zz} = 1",
    "${a} >",
    "count-selected(${b}) > 1",
    "yes",
    "true()",
    "string-length(.) < 5",
    "${Q1} = 2",
]
APPEARANCES = ["", "minimal", "multiline", "table-list", "field-list", "likert", "label"]

rows = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.sampled_from(NAMES),
        st.sampled_from(["", "Vraag", "Question", "1"]),
        st.sampled_from(EXPRESSIONS),
        st.sampled_from(EXPRESSIONS),
        st.sampled_from(["", "yes", "no", "${a} = 1"]),
        st.sampled_from(APPEARANCES),
    ),
    max_size=12,
)
CHOICES = [
    ["list_name", "name", "label::Nederlands (nl)"],
    ["yn", "yes", "Ja"],
    ["yn", "no", "Nee"],
    ["kleur", "rood", "Rood"],
    ["kleur", 2, "Blauw"],
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows, skip=st.booleans(), with_choices=st.booleans())
def test_any_form_imports_or_is_refused_with_located_problems(
    rows: list[tuple[str, ...]], skip: bool, with_choices: bool
) -> None:
    survey = [
        [
            "type",
            "name",
            "label::Nederlands (nl)",
            "relevant",
            "constraint",
            "required",
            "appearance",
        ],
        *[list(r) for r in rows],
    ]
    with tempfile.TemporaryDirectory() as folder:
        form = make_form(Path(folder) / "f.xlsx", survey, CHOICES if with_choices else None)
        result = read_xlsform(form, skip_unsupported=skip)
    if result.problems or result.study is None:
        assert result.refused
        for problem in result.problems:
            assert "sheet" in problem.message or problem.line is None
        return
    assert load_study_text(dump_study_yaml(result.study)) == result.study


GOOD_TYPES = [
    "text",
    "integer",
    "decimal",
    "date",
    "select_one yn",
    "select_multiple kleur",
    "select_one kleur",
    "range",
    "acknowledge",
]
CONDITIONS = {
    "text": "string-length(${%s}) > 2",
    "integer": "${%s} > 3",
    "decimal": "${%s} <= 2.5",
    "date": "${%s} < today()",
    "select_one yn": "${%s} = 'yes'",
    "select_multiple kleur": "selected(${%s}, 'rood')",
    "select_one kleur": "${%s} != 2",
    "range": "${%s} >= 5",
    "acknowledge": "${%s} = 'OK'",
}

good_rows = st.lists(
    st.tuples(st.sampled_from(GOOD_TYPES), st.booleans(), st.booleans(), st.integers(0, 20)),
    min_size=1,
    max_size=10,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=good_rows, style_pages=st.booleans())
def test_any_well_formed_form_imports_with_every_question(
    rows: list[tuple[str, bool, bool, int]], style_pages: bool
) -> None:
    survey: list[list[str]] = [["type", "name", "label", "relevant", "required"]]
    names: list[str] = []
    open_group = False
    for k, (kind, grouped, required, pick) in enumerate(rows):
        if grouped != open_group:
            survey.append(["begin group" if grouped else "end group", f"g{k}", "", "", ""])
            open_group = grouped
        name = f"q{k}"
        relevant = ""
        if names and pick % 3 == 0:
            # Only refer to earlier pages: a question in the same group would be on the
            # same page, which a condition may use, but keep the rule simple.
            earlier, earlier_kind = names[pick % len(names)], rows[pick % len(names)][0]
            relevant = CONDITIONS[earlier_kind] % earlier
        survey.append([kind, name, f"Vraag {k}", relevant, "yes" if required else ""])
        names.append(name)
    if open_group:
        survey.append(["end group", "", "", "", ""])
    settings_sheet = [["style"], ["pages" if style_pages else ""]]
    with tempfile.TemporaryDirectory() as folder:
        form = make_form(Path(folder) / "f.xlsx", survey, CHOICES, settings_sheet)
        result = read_xlsform(form)
    assert result.problems == [], [str(p) for p in result.problems]
    assert result.study is not None and not result.refused
    assert result.study.variables() == names
    assert load_study_text(dump_study_yaml(result.study)) == result.study
