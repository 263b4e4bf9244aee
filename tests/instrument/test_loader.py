"""The loader: every bad study file gives located problems (message and line), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vakstem.instrument.loader import (
    check_text,
    content_hash,
    load_study_file,
    load_study_text,
)
from vakstem.instrument.problems import Problem, StudyFileError
from vakstem.instrument.schema import Study

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).parents[2] / "src" / "vakstem" / "studies" / "voorbeeld" / "study.yaml"


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("fixture", "line", "page", "item", "message"),
    [
        ("yaml_syntax_error.yaml", 8, None, None, "YAML syntax error"),
        ("duplicate_ids.yaml", 11, "p2", "leeftijd", "duplicate id 'leeftijd'"),
        ("duplicate_key.yaml", 10, "p1", "a", "duplicate key 'min' (first at line 9)"),
        ("unknown_choice_list.yaml", 12, "werk", "br", "unknown choice list 'eens6'"),
        ("unknown_reference.yaml", 12, "p1", "anders", "unknown variable ${functei}"),
        ("forward_reference.yaml", 9, "p1", "a", "${b} in relevant '${b} > 2' is asked later"),
        ("circular_condition.yaml", 9, "p1", "a", "circular condition: a -> c -> b -> a"),
        ("missing_translation.yaml", 12, "p1", "a", "hint is missing in en"),
        ("bad_spss_name.yaml", 9, "p1", "by", "'by' is a reserved word in SPSS"),
    ],
)
def test_bad_file_gives_located_problem(
    fixture: str, line: int, page: str | None, item: str | None, message: str
) -> None:
    problems = problems_of(FIXTURES / fixture)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert message in problem.message
    assert problem.line == line
    assert (problem.page, problem.item) == (page, item)
    assert str(problem).startswith(f"{FIXTURES / fixture}:{line}: ")


def test_all_problems_are_collected_not_only_the_first() -> None:
    problems = problems_of(FIXTURES / "wrong_type.yaml")
    assert [(p.line, p.message) for p in problems] == [
        (9, "min: expected a number, got the text 'nul'"),
        (10, "unknown field 'relevent' (did you mean 'relevant'?)"),
    ]


def test_problem_str_names_file_line_page_and_item() -> None:
    problem = Problem(
        "unknown choice list 'eens6'", page="werk", item="br_3", line=48, file="study.yaml"
    )
    assert str(problem) == "study.yaml:48: page 'werk', item 'br_3': unknown choice list 'eens6'"


def test_expression_problem_points_at_the_column_of_the_reference() -> None:
    problems = problems_of(FIXTURES / "unknown_reference.yaml")
    # `        relevant: ${functei} = 6`: the value starts at column 19.
    assert problems[0].column == 19


def test_parse_error_in_quoted_expression_points_into_the_string() -> None:
    text = """\
id: s
title: S
pages:
  - id: p
    items:
      - {id: a, type: integer, text: A}
      - id: b
        type: integer
        text: B
        relevant: "${a} > 1 )"
"""
    _study, problems = check_text(text, "s.yaml")
    assert len(problems) == 1
    assert "unexpected ')' at column 10" in problems[0].message
    assert (problems[0].line, problems[0].column) == (10, 20 + 9)


def test_missing_field_is_reported_at_its_parent() -> None:
    _study, problems = check_text("id: s\ntitle: S\npages:\n  - items: []\n", "s.yaml")
    assert [(p.line, p.page, p.message) for p in problems] == [
        (4, "#1", "missing required field 'id'")
    ]


def test_top_level_problems_name_their_path() -> None:
    text = (
        "id: s\ntitle: S\nversion: 2\npages: []\nchoice_lists:\n  l:\n    - {code: x, label: a}\n"
    )
    _study, problems = check_text(text, "s.yaml")
    assert [(p.line, p.message) for p in problems] == [
        (3, 'version: expected text, got the number 2 (put it in quotes: "2")'),
        (7, "choice_lists.l[0].code: expected a whole number, got the text 'x'"),
    ]


def test_text_union_error_is_one_clear_message() -> None:
    _study, problems = check_text("id: s\ntitle: [a]\npages: []\n", "s.yaml")
    assert [p.message for p in problems] == [
        "title: expected text: a string, or one text per language (nl: ..., en: ...), got a list"
    ]


def test_yaml_12_booleans_keep_english_labels_as_text() -> None:
    text = """\
id: s
languages: [nl, en]
title: S
choice_lists:
  jn:
    - {code: 1, label: {nl: Ja, en: Yes}}
    - {code: 0, label: {nl: Nee, en: No}}
pages:
  - id: p
    items:
      - {id: a, type: single, choices: jn, text: A, required: true}
"""
    study = load_study_text(text)
    assert study.choice_lists["jn"][1].label == {"nl": "Nee", "en": "No"}
    assert study.pages[0].items[0].required is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "a study file must be a mapping"),
        ("a: 1\n---\nb: 2\n", "YAML syntax error"),
        ("a: &x [*x]\n", "alias refers to itself"),
        ("a: !!python/object:os.system x\n", "YAML syntax error"),
        ("a: \x07\n", "not allowed in a YAML file"),
    ],
)
def test_unreadable_yaml_is_a_problem(text: str, message: str) -> None:
    study, problems = check_text(text, "x.yaml")
    assert study is None
    assert any(message in p.message for p in problems), problems


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for k in range(1, 8):
        prev = f"*a{k - 1}"
        lines.append(f"a{k}: &a{k} [{', '.join([prev] * 10)}]")
    study, problems = check_text("\n".join(lines) + "\n", "bomb.yaml")
    assert study is None
    assert "expands to more than" in problems[0].message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(StudyFileError, match="file not found"):
        load_study_file(tmp_path / "missing.yaml")
    with pytest.raises(StudyFileError, match="is a directory"):
        load_study_file(tmp_path)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("id: s\ntitle: caf\xe9\n".encode("latin-1"))
    with pytest.raises(StudyFileError) as caught:
        load_study_file(latin1)
    assert "not UTF-8" in caught.value.problems[0].message
    assert caught.value.problems[0].line == 2


def test_study_file_error_lists_every_problem() -> None:
    with pytest.raises(StudyFileError) as caught:
        load_study_file(FIXTURES / "wrong_type.yaml")
    text = str(caught.value)
    assert text.startswith("2 problems in the study file")
    assert "wrong_type.yaml:9:" in text and "wrong_type.yaml:10:" in text


# --- content hash ----------------------------------------------------------------------------


def test_content_hash_ignores_formatting_but_not_content() -> None:
    study = load_study_file(EXAMPLE)
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    reformatted = yaml.safe_dump(data, default_flow_style=True, width=1000, sort_keys=True)
    assert content_hash(load_study_text(reformatted)) == content_hash(study)
    data["pages"][1]["items"][0]["text"]["nl"] += "!"
    changed = yaml.safe_dump(data, allow_unicode=True)
    assert content_hash(load_study_text(changed)) != content_hash(study)
    assert len(content_hash(study)) == 64


def test_spelling_out_a_default_is_not_a_new_version() -> None:
    base = "id: s\ntitle: S\npages:\n  - id: p\n    items:\n      - {id: a, type: integer, text: A"
    plain = load_study_text(base + "}\n")
    explicit = load_study_text(base + ", randomize: false, required: false}\n")
    assert content_hash(plain) == content_hash(explicit)


# --- robustness ------------------------------------------------------------------------------

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["p", "a", "b", "single", "matrix", "integer", "nl", "${a} = 1", "l", "x"]),
    st.text(max_size=8),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "type",
                    "text",
                    "title",
                    "pages",
                    "items",
                    "choices",
                    "choice_lists",
                    "rows",
                    "relevant",
                    "required",
                    "constraint",
                    "code",
                    "label",
                    "languages",
                    "scales",
                    "min",
                    "max",
                    "nl",
                    "en",
                ]
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_random_yaml_documents_give_a_study_or_study_file_error(document: object) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        study = load_study_text(text, "random.yaml")
    except StudyFileError as exc:
        assert exc.problems
        assert all(isinstance(p, Problem) and p.message for p in exc.problems)
    else:
        assert isinstance(study, Study)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=120))
def test_random_text_gives_a_study_or_study_file_error(text: str) -> None:
    try:
        load_study_text(text, "random.yaml")
    except StudyFileError as exc:
        assert exc.problems


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_mutated_example_study_gives_a_study_or_study_file_error(data: st.DataObject) -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    index = data.draw(st.integers(0, len(lines) - 1))
    replacement = data.draw(st.sampled_from(["", "  - x", "foo: [", "      id: br_1", "\t"]))
    lines[index] = replacement
    try:
        load_study_text("\n".join(lines), "mutated.yaml")
    except StudyFileError as exc:
        assert all(p.line is None or 1 <= p.line <= len(lines) + 1 for p in exc.problems)


def test_content_hash_is_the_stored_version_hash() -> None:
    from vakstem.store.studies import version_hash

    study = load_study_file(EXAMPLE)
    assert content_hash(study) == version_hash(study)


def test_python_and_libyaml_readers_locate_problems_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vakstem.instrument.loader as loader

    def located(path: Path) -> list[tuple[int | None, int | None, str]]:
        _study, problems = check_text(path.read_text(encoding="utf-8"), path.name)
        return [(p.line, p.column, p.message.split(":")[0]) for p in problems]

    files = [*sorted(FIXTURES.glob("*.yaml")), EXAMPLE]
    fast = [located(path) for path in files]
    monkeypatch.setattr(loader, "_Loader", loader._PyLoader)
    assert [located(path) for path in files] == fast
    study, problems = check_text(EXAMPLE.read_text(encoding="utf-8"), "study.yaml")
    assert problems == [] and study is not None
