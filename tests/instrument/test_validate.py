"""Cross-reference validation: each concern reports a specific, located problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vakstem.instrument.loader import check_text
from vakstem.instrument.names import multiple_choice_column, name_problems
from vakstem.instrument.validate import check_file

EXAMPLE = Path(__file__).parents[2] / "src" / "vakstem" / "studies" / "voorbeeld" / "study.yaml"


def item(id: str, type: str = "integer", **fields: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "text": fields.pop("text", id.upper()), **fields}


def study(*pages: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    """A study document with one page per argument (page ids p1, p2, ...)."""
    document: dict[str, Any] = {
        "id": "s",
        "title": "S",
        "choice_lists": {
            "jn": [{"code": 1, "label": "Ja"}, {"code": 0, "label": "Nee"}],
            "eens5": [{"code": k, "label": str(k)} for k in range(1, 6)],
        },
        "pages": [{"id": f"p{n + 1}", "items": items} for n, items in enumerate(pages)],
    }
    document.update(top)
    return document


def messages(document: dict[str, Any]) -> list[str]:
    _study, problems = check_text(yaml.safe_dump(document, sort_keys=False), "s.yaml")
    return [p.message for p in problems]


def test_example_study_has_no_problems() -> None:
    study_, problems = check_file(EXAMPLE)
    assert problems == []
    assert study_ is not None and study_.id == "voorbeeld"


def test_valid_minimal_study_has_no_problems() -> None:
    assert messages(study([item("a"), item("b", relevant="${a} > 1")])) == []


# --- ids -------------------------------------------------------------------------------------


def test_duplicate_page_item_row_code_and_scale_ids() -> None:
    document = study(
        [item("a"), item("m", "matrix", choices="eens5", rows=[{"id": "a", "text": "r"}])],
        [item("m")],
        scales=[
            {"id": "sc", "label": "x", "items": ["a"]},
            {"id": "sc", "label": "y", "items": ["a"]},
            {"id": "a", "label": "z", "items": ["a"]},
        ],
    )
    document["pages"][1]["id"] = "p1"
    document["choice_lists"]["jn"].append({"code": 1, "label": "Nogmaals"})
    found = messages(document)
    assert "duplicate page id 'p1' (also page 1)" in found
    assert "duplicate id 'a' (already used by an item on page 'p1')" in found
    assert "duplicate id 'm' (already used by an item on page 'p1')" in found
    assert "choice list 'jn': duplicate code 1 (also choice 1)" in found
    assert "duplicate scale id 'sc'" in found
    assert any(m.startswith("scale id 'a' is also the id of an item") for m in found)


# --- item fields -----------------------------------------------------------------------------


def test_choice_list_rules() -> None:
    found = messages(
        study(
            [
                item("a", "single"),
                item("b", "single", choices="jnn"),
                item("c", "integer", choices="jn"),
                item("d", "consent", choices="jn"),
            ]
        )
    )
    assert "a single item needs a choice list: add choices: <list name>" in found
    assert "unknown choice list 'jnn' (did you mean 'jn'?)" in found
    assert "an integer item has no choice list; remove choices" in found
    assert (
        "a consent item has no choice list (its yes/no choices are built in); remove choices"
        in (found)
    )


def test_type_specific_fields() -> None:
    found = messages(
        study(
            [
                item("a", min=5, max=1),
                item("b", "text", min=1, max_length=10),
                item("c", "single", choices="jn", max_length=3, appearance="dropdown"),
                item("d", "multiple", choices="jn", appearance="dropdown"),
                item("e", "date", randomize=True),
                item("f", "matrix", choices="eens5"),
                item("g", "integer", rows=[{"id": "g_1", "text": "x"}]),
                item("h", "integer", min=0.5),
                item("n", "note", required=True, constraint=". > 1"),
                item("k", "integer", constraint_message="te groot"),
            ]
        )
    )
    assert "min (5) is larger than max (1)" in found
    assert "min is only for integer and decimal items, not text" in found
    assert "max_length is only for text and longtext items, not single" in found
    assert "appearance dropdown is only for single choice, not a multiple item" in found
    assert "randomize is for single, multiple and matrix items, not date" in found
    assert "a matrix needs rows" in found
    assert "only a matrix has rows, not an integer item" in found
    assert "min of an integer item must be a whole number" in found
    assert "a note has no answer, so it cannot be required" in found
    assert "a note has no answer, so it cannot have a constraint" in found
    assert "constraint_message without a constraint" in found


# --- expressions -----------------------------------------------------------------------------


def test_unknown_and_forward_references_name_item_and_expression() -> None:
    _study, problems = check_text(
        yaml.safe_dump(study([item("a", relevant="${b} = 1 or ${zz} = 2")], [item("b")])),
        "s.yaml",
    )
    found = {(p.page, p.item, p.message) for p in problems}
    assert (
        "p1",
        "a",
        "${b} in relevant '${b} = 1 or ${zz} = 2' is asked later, on page 'p2'; a condition "
        "can only use answers from this page or earlier pages",
    ) in found
    assert ("p1", "a", "unknown variable ${zz} in relevant '${b} = 1 or ${zz} = 2'") in found


def test_reference_to_note_or_matrix_is_refused() -> None:
    found = messages(
        study(
            [
                item("uitleg", "note"),
                item("m", "matrix", choices="eens5", rows=[{"id": "m_1", "text": "r"}]),
            ],
            [item("a", relevant="${uitleg} = 1 and ${m} > 2 and ${m_1} > 2")],
        )
    )
    assert "${uitleg} in relevant '${uitleg} = 1 and ${m} > 2 and ${m_1} > 2' is a note, " in (
        " ".join(found) + " "
    ).replace("which has no value", "")
    assert any("is a matrix; refer to one of its rows (m_1)" in m for m in found)
    assert len(found) == 2


def test_page_condition_may_not_use_its_own_page() -> None:
    document = study([item("a")], [item("b")])
    document["pages"][1]["relevant"] = "${b} = 1 and ${a} = 1"
    assert messages(document) == [
        "${b} in the page's relevant '${b} = 1 and ${a} = 1' is on the same page; whether a "
        "page is shown can only depend on earlier pages"
    ]


def test_dot_only_in_constraints() -> None:
    found = messages(study([item("a", relevant=". > 1", constraint=". > 1")]))
    assert found == [
        "'.' (this item's own value) is only allowed in a constraint, not in relevant; "
        "refer to an item as ${name}"
    ]


def test_parse_errors_are_reported_per_field() -> None:
    found = messages(study([item("a", relevant="${a} >", required="foo(1)")]))
    assert "relevant '${a} >': unexpected end of expression" in found
    assert any(m.startswith("required 'foo(1)': unknown function 'foo'") for m in found)


def test_self_reference_is_circular() -> None:
    assert messages(study([item("a", relevant="${a} > 1")])) == [
        "relevant of 'a' refers to its own answer (${a}): a circular condition"
    ]


def test_constraint_may_use_own_value_and_same_page_items() -> None:
    found = messages(study([item("a"), item("b", constraint=". <= ${a} and ${b} >= 0")]))
    assert found == []


def test_required_and_relevant_cycle_is_reported_once() -> None:
    found = messages(
        study(
            [
                item("a", relevant="${b} = 1"),
                item("b", required="${a} = 1"),
                item("c", relevant="${a} = 1"),
            ]
        )
    )
    assert found == [
        "circular condition: a -> b -> a; each item's relevant/required depends on the next, "
        "so none can be decided"
    ]


# --- translations ----------------------------------------------------------------------------


def test_every_text_in_every_language() -> None:
    document = study(
        [
            item("a", "single", choices="jn", text={"nl": "Vraag", "en": "Question"}),
            item("b", text={"nl": "B", "de": "B"}, hint={"nl": "Hint", "en": " "}),
        ],
        languages=["nl", "en"],
        title={"nl": "T", "en": "T"},
    )
    document["choice_lists"]["jn"][0]["label"] = {"nl": "Ja"}
    found = messages(document)
    assert "text is missing in en (the study's languages are nl, en)" in found
    assert "hint is missing in en (the study's languages are nl, en)" in found
    assert "text has a text in 'de', which is not one of the study's languages (nl, en)" in found
    assert (
        "choice list 'jn', code 1: label is missing in en (the study's languages are nl, en)"
        in (found)
    )
    assert len(found) == 4


def test_item_text_may_not_be_empty() -> None:
    assert messages(study([item("a", text="")])) == ["text is empty"]


# --- scales and analysis ---------------------------------------------------------------------


def test_scale_rules() -> None:
    found = messages(
        study(
            [
                item("a", "single", choices="eens5"),
                item("b"),
                item("t", "text"),
                item("m", "matrix", choices="eens5", rows=[{"id": "m_1", "text": "r"}]),
            ],
            scales=[
                {
                    "id": "sc",
                    "label": "Schaal",
                    "items": ["a", "b", "t", "x", "m_1", "a"],
                    "reverse": ["b", "m_1", "q"],
                }
            ],
        )
    )
    assert "scale 'sc': 't' is a text item; scale items must have a choice list or be " in (
        " ".join(found)
    ).replace("integer or decimal", "")
    assert "scale 'sc': unknown item 'x'" in found
    assert "scale 'sc' lists 'a' twice" in found
    assert "scale 'sc': reverse-keyed 'b' has no choice list, so its end points are unknown" in (
        found
    )
    assert "scale 'sc': reverse-keyed 'q' is not one of its items" in found
    assert len(found) == 5


def test_analysis_variables_exist() -> None:
    found = messages(
        study([item("org", "text")], analysis={"cluster": "orgg", "groups": ["org", "regio"]})
    )
    assert found == [
        "analysis cluster: unknown variable 'orgg' (did you mean 'org'?)",
        "analysis groups: unknown variable 'regio'",
    ]


def test_duplicate_sources_and_languages() -> None:
    assert messages(study([item("a")], sources=["web", "web"])) == ["duplicate source tag 'web'"]
    assert messages(study([item("a")], languages=["nl", "nl"])) == ["language 'nl' is listed twice"]


# --- names -----------------------------------------------------------------------------------


def test_reserved_and_long_names() -> None:
    found = messages(
        study(
            [
                item("with"),
                item("to"),
                item("float"),
                item("str12"),
                item("a" * 33),
            ]
        )
    )
    assert "variable name 'with' is a reserved word in SPSS and Stata" in found
    assert "variable name 'to' is a reserved word in SPSS" in found
    assert "variable name 'float' is a reserved word in Stata" in found
    assert "variable name 'str12' is a reserved word in Stata" in found
    assert f"variable name {'a' * 33!r} is 33 characters long; Stata allows at most 32" in found


def test_derived_multiple_choice_columns_are_checked() -> None:
    document = study(
        [
            item("keuze", "multiple", choices="codes"),
            item("keuze_2"),
            item("b" * 31, "multiple", choices="codes"),
        ]
    )
    document["choice_lists"]["codes"] = [
        {"code": 2, "label": "twee"},
        {"code": -1, "label": "geen"},
    ]
    found = messages(document)
    assert (
        "the column 'keuze_2' for choice 2 of 'keuze' collides with variable 'keuze_2'; "
        "rename one of them"
    ) in found
    assert any(m.startswith(f"the column for choice 2 of {'b' * 31!r}: ") for m in found)
    assert any(m.startswith(f"the column for choice -1 of {'b' * 31!r}: ") for m in found)


def test_name_rules_directly() -> None:
    assert multiple_choice_column("q", 3) == "q_3"
    assert multiple_choice_column("q", -9) == "q_m9"
    assert name_problems("leeftijd") == []
    assert name_problems("BY") == ["'BY' is a reserved word in SPSS"]
    assert name_problems("_cons") == ["'_cons' is a reserved word in Stata"]
    assert name_problems("strL") == ["'strL' is a reserved word in Stata"]
    assert name_problems("1a")[0].startswith("'1a' is not a legal variable name")
