"""The klantmanager study file: it loads, covers every construct of STUDY.md with its items,
is complete in Dutch and English, its plan names only numeric items, and its conditions hide
what does not apply."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from vakstem.analysis.sem.syntax import expression_names, parse_model
from vakstem.instrument.expressions import compile_expression, evaluate, is_true
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Item, ItemType, Study, Text
from vakstem.instrument.validate import check_file
from vakstem.studies.klantmanagers import STUDY_FILE
from vakstem.studies.klantmanagers.organisations import (
    OTHER_ORGANISATION,
    organisation_choices,
)

# Constructs and minimum item counts, copied from the table "Constructs (the questionnaire's
# scales)" in the design note STUDY.md (shared/design/STUDY.md), which tests may not read.
# id -> (block, items in the scale, extra single-item or numeric measures of the construct)
STUDY_MD_CONSTRUCTS: dict[str, tuple[str, int, int]] = {
    "kv": ("professional_action", 3, 0),
    "kb": ("professional_action", 4, 0),
    "kd": ("professional_action", 3, 0),
    "inn": ("professional_action", 3, 0),
    "kg": ("professional_action", 4, 0),
    "ver": ("professional_action", 3, 0),
    "sam_in": ("professional_action", 3, 0),
    "sam_ex": ("professional_action", 3, 0),
    "mw": ("professional_action", 4, 0),
    # six stakeholder weights (the scale) + how often their interests conflict (bel_7)
    "bel": ("professional_action", 6, 1),
    "sch": ("hrm_ability", 4, 0),
    # three items + sessions per month (co_4)
    "co": ("hrm_ability", 3, 1),
    # exist (pa_1, the gate) + monitored, consequences, pressure as the scale
    "pa": ("hrm_motivation", 4, 1),
    "beo": ("hrm_motivation", 3, 0),
    "br": ("hrm_opportunity", 5, 0),
    "wd": ("working_conditions", 4, 0),
    # two numbers (cl_2 total, cl_3 active) after the gate cl_1; no scale
    "cl": ("working_conditions", 0, 2),
    "pr": ("outcome", 4, 0),
}

NUMERIC_TYPES = {ItemType.SINGLE, ItemType.MATRIX, ItemType.INTEGER, ItemType.DECIMAL}
LANGUAGES = ("nl", "en")


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(STUDY_FILE)


def test_study_file_passes_the_validator_without_problems() -> None:
    study, problems = check_file(STUDY_FILE)
    assert study is not None
    assert [str(p) for p in problems] == []


def _item_of_variable(study: Study) -> dict[str, Item]:
    return {var: item for _page, item in study.items() for var in item.variables()}


def _is_numeric(study: Study, variable: str) -> bool:
    item = _item_of_variable(study).get(variable)
    return item is not None and item.type in NUMERIC_TYPES


def test_study_file_loads_with_its_id_and_both_languages(study: Study) -> None:
    assert study.id == "klantmanagers"
    assert study.languages == ("nl", "en")


def test_every_id_is_unique_across_items_rows_and_pages(study: Study) -> None:
    ids = [item.id for _p, item in study.items()]
    ids += [row.id for _p, item in study.items() for row in item.rows]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    pages = [page.id for page in study.pages]
    assert len(pages) == len(set(pages))


def test_every_construct_of_study_md_has_its_scale_and_items(study: Study) -> None:
    scales = {scale.id: scale for scale in study.scales}
    variables = study.variables()
    single_items = set(study.analysis.settings["single_items"])
    for construct, (block, scale_items, extra) in STUDY_MD_CONSTRUCTS.items():
        in_questionnaire = [v for v in variables if re.fullmatch(rf"{construct}_\d+", v)]
        assert len(in_questionnaire) >= scale_items + extra, construct
        if scale_items:
            scale = scales[construct]
            assert scale.block == block, construct
            assert len(scale.items) >= scale_items, construct
            assert set(scale.items) <= set(in_questionnaire), construct
        outside_scale = set(in_questionnaire) - set(scales[construct].items if scale_items else ())
        # the measures outside the scale are declared as single items of the plan, except a
        # gate question whose only job is to route (cl_1)
        declared = outside_scale & single_items
        assert len(declared) >= extra, construct


def test_every_scale_item_exists_and_is_numeric(study: Study) -> None:
    for scale in study.scales:
        for variable in scale.items:
            assert _is_numeric(study, variable), f"{scale.id}: {variable}"
        assert set(scale.reverse) <= set(scale.items), scale.id


def test_scales_of_three_items_or_more_have_a_reverse_keyed_item(study: Study) -> None:
    # bel is the documented exception: a weight given to a stakeholder has no opposite pole.
    without = [s.id for s in study.scales if len(s.items) >= 3 and not s.reverse]
    assert without == ["bel"]


def test_scales_score_as_a_mean_when_two_thirds_are_answered(study: Study) -> None:
    for scale in study.scales:
        assert scale.scoring == "mean"
        assert scale.min_answered == pytest.approx(2 / 3)


def test_likert_scales_use_the_right_answer_scale(study: Study) -> None:
    items = _item_of_variable(study)
    frequency = {"kv", "kb", "kd", "inn", "kg", "ver", "sam_in", "sam_ex", "mw"}
    agreement = {"sch", "co", "pa", "beo", "br", "wd", "pr"}
    for scale in study.scales:
        lists = {items[v].choices for v in scale.items}
        if scale.id in frequency:
            assert lists <= {"freq5", "freq5_nvt"}, scale.id
        elif scale.id in agreement:
            assert lists <= {"eens5", "eens5_wn"}, scale.id
    for name in ("freq5", "freq5_nvt", "eens5", "eens5_wn", "gewicht5"):
        substantive = [c.code for c in study.choice_lists[name] if not c.missing]
        assert substantive == [1, 2, 3, 4, 5], name
        assert all(c.code == 9 for c in study.choice_lists[name] if c.missing), name
    assert study.choice_lists["freq5"][0].label == {"nl": "Nooit", "en": "Never"}
    assert study.choice_lists["eens5"][-1].label == {"nl": "Helemaal eens", "en": "Strongly agree"}


def _texts(study: Study) -> Iterator[tuple[str, Text | None, bool]]:
    """Every text of the study: (where, text, whether a language-neutral plain string is
    acceptable). Plain strings are fine only for proper names (municipalities, provinces)."""
    yield "title", study.title, False
    yield "description", study.description, False
    yield "closing", study.closing, False
    for scale in study.scales:
        yield f"scale {scale.id} label", scale.label, False
    for model in study.analysis.models:
        yield f"model {model.id} label", model.label, False
    for page in study.pages:
        yield f"page {page.id} title", page.title, False
        for item in page.items:
            where = f"item {item.id}"
            yield f"{where} text", item.text, False
            if item.hint is not None:
                yield f"{where} hint", item.hint, False
            if item.constraint is not None:
                yield f"{where} constraint_message", item.constraint_message, False
            if item.type not in (ItemType.NOTE, ItemType.MATRIX):
                yield f"{where} label", item.label, False
            for row in item.rows:
                yield f"row {row.id} text", row.text, False
                yield f"row {row.id} label", row.label, False
    for name, choices in study.choice_lists.items():
        for choice in choices:
            proper_name = name in {"organisatie", "provincie"}
            yield f"choice {name}={choice.code}", choice.label, proper_name


def test_every_text_is_in_dutch_and_english(study: Study) -> None:
    problems = []
    for where, text, plain_ok in _texts(study):
        if isinstance(text, str) and plain_ok and text.strip():
            continue
        if not isinstance(text, dict) or any(not text.get(lang, "").strip() for lang in LANGUAGES):
            problems.append(where)
    assert problems == []


def test_english_texts_differ_from_dutch_ones(study: Study) -> None:
    # catches a Dutch text pasted into the English slot; short shared words are allowed
    same = [
        where
        for where, text, _ in _texts(study)
        if isinstance(text, dict) and text["nl"] == text["en"] and len(text["nl"]) > 12
    ]
    assert same == []


def test_the_plan_models_name_only_numeric_items_scales_dummies_and_latents(study: Study) -> None:
    settings = study.analysis.settings
    scale_scores = set(settings["model_variables"]["scale_scores"])
    assert scale_scores <= {s.id for s in study.scales}
    dummies = {
        name for spec in settings["model_variables"]["dummies"].values() for name in spec["names"]
    }
    for source, spec in settings["model_variables"]["dummies"].items():
        assert _is_numeric(study, source)
        codes = {c.code for c in study.choice_lists[source]}
        assert set(spec["codes"]) | {spec["reference"]} == codes
    for model in study.analysis.models:
        latents, observed, labels = _model_names(model.syntax)
        for name in observed - latents:
            assert name in scale_scores or name in dummies or _is_numeric(study, name), (
                f"{model.id}: {name}"
            )
        assert not latents & set(study.variables()), model.id
        if model.id == "sem_amo":
            assert {"a1", "a2", "m1", "m2", "o1", "b"} <= labels


def _model_names(syntax: str) -> tuple[set[str], set[str], set[str]]:
    """Latent names, other variable names and parameter labels of a lavaan model, read with
    the analysis engine's own parser (every defined parameter must use known labels)."""
    parsed = parse_model(syntax)
    latents = {f.lhs for f in parsed.formulas if f.op == "=~"}
    observed = {f.lhs for f in parsed.formulas if f.op != "=~"}
    observed |= {f.term.name for f in parsed.formulas if f.term.name != "1"}
    labels = {label for f in parsed.formulas for label in f.term.labels if label}
    for definition in parsed.definitions:
        assert set(expression_names(definition.expression)) <= labels, definition.text
    return latents, observed, labels


def test_the_plan_declares_cluster_groups_and_indirect_effects(study: Study) -> None:
    assert study.analysis.cluster == "organisatie"
    assert study.analysis.groups == ("org_type",)
    assert study.analysis.settings["invariance"]["groups"] == ["org_type", "language"]
    sem = next(m for m in study.analysis.models if m.id == "sem_amo")
    for effect in ("ind_A", "ind_M", "ind_O"):
        assert re.search(rf"^{effect} :=", sem.syntax, re.MULTILINE)
    assert sem.bootstrap >= 1000
    single_items = study.analysis.settings["single_items"]
    assert all(_is_numeric(study, v) for v in single_items)


def test_the_plan_uses_the_studys_missing_codes(study: Study) -> None:
    codes = study.analysis.settings["missing_codes"]
    assert codes == {"not_answered": -9, "not_applicable": -8, "dont_know": -7, "dropped_out": -6}
    all_choice_codes = {c.code for cl in study.choice_lists.values() for c in cl}
    assert not all_choice_codes & set(codes.values())


def test_organisation_is_a_code_from_the_municipality_list_never_a_name(study: Study) -> None:
    item = study.item("organisatie")
    assert item is not None and item.type is ItemType.SINGLE and item.appearance == "dropdown"
    listed = [c.model_dump() for c in study.choices_of(item)]
    assert listed == [{**c, "missing": False} for c in organisation_choices()]
    # no open text before the open questions: nothing that could name a small team
    free_text = [i.id for p, i in study.items() if i.type in (ItemType.TEXT, ItemType.LONGTEXT)]
    assert free_text == ["open_nodig", "open_organisatie", "open_overig"]


def _relevant(study: Study, item_id: str) -> str | None:
    for page, item in study.items():
        if item.id == item_id:
            return item.relevant or page.relevant
    raise AssertionError(item_id)


def _shown(study: Study, item_id: str, answers: dict[str, int]) -> bool:
    condition = _relevant(study, item_id)
    if condition is None:
        return True
    return is_true(evaluate(compile_expression(condition), answers))


@pytest.mark.parametrize("has_agreements, shown", [(1, True), (0, False), (9, False)])
def test_target_items_only_for_those_with_performance_agreements(
    study: Study, has_agreements: int, shown: bool
) -> None:
    assert _shown(study, "pa_1", {}) is True
    assert _shown(study, "blok_pa", {"pa_1": has_agreements}) is shown


@pytest.mark.parametrize("has_caseload, shown", [(1, True), (0, False)])
def test_caseload_numbers_only_for_those_with_a_caseload(
    study: Study, has_caseload: int, shown: bool
) -> None:
    for item_id in ("cl_2", "cl_3"):
        assert _shown(study, item_id, {"cl_1": has_caseload}) is shown


@pytest.mark.parametrize("organisation, shown", [(363, False), (OTHER_ORGANISATION, True)])
def test_size_province_and_code_asked_only_for_other_organisations(
    study: Study, organisation: int, shown: bool
) -> None:
    for item_id in ("org_code", "grootte", "provincie"):
        assert _shown(study, item_id, {"organisatie": organisation}) is shown


def test_active_clients_cannot_exceed_the_caseload(study: Study) -> None:
    item = study.item("cl_3")
    assert item is not None and item.constraint is not None
    rule = compile_expression(item.constraint)
    assert is_true(evaluate(rule, {"cl_2": 80}, current=60))
    assert is_true(evaluate(rule, {"cl_2": 80}, current=80))
    assert not is_true(evaluate(rule, {"cl_2": 80}, current=81))
    cl_2 = study.item("cl_2")
    assert cl_2 is not None and cl_2.type is ItemType.INTEGER
    assert (cl_2.min, cl_2.max) == (1, 1500)


def test_open_questions_are_optional_long_texts_of_at_most_2000_characters(study: Study) -> None:
    for item_id in ("open_nodig", "open_organisatie", "open_overig"):
        item = study.item(item_id)
        assert item is not None
        assert item.type is ItemType.LONGTEXT and item.max_length == 2000
        assert item.open_text is True and item.required is False


def test_consent_comes_before_any_question(study: Study) -> None:
    first_questions = [i for p in study.pages[:2] for i in p.items]
    assert [i.type for i in first_questions] == [ItemType.NOTE, ItemType.CONSENT]
    assert first_questions[1].required is True


def test_information_letter_names_institutions_duration_and_marked_contact(study: Study) -> None:
    letter = study.pages[0].items[0].text
    assert isinstance(letter, dict)
    for institution in ("Universiteit Utrecht (USBO)", "Hogeschool Rotterdam", "Hanzehogeschool"):
        assert institution in letter["nl"]
    assert "15 minuten" in letter["nl"] and "15 minutes" in letter["en"]
    assert "[VUL IN:" in letter["nl"] and "[FILL IN:" in letter["en"]


def test_every_variable_has_a_short_label(study: Study) -> None:
    for _page, item in study.items():
        labels = [row.label for row in item.rows] if item.rows else [item.label]
        if item.type is ItemType.NOTE:
            continue
        for label in labels:
            assert isinstance(label, dict), item.id
            assert all(0 < len(label[lang]) <= 60 for lang in LANGUAGES), (item.id, label)


def test_dutch_item_texts_use_short_sentences(study: Study) -> None:
    # B1: short sentences. No sentence of an item, row or hint is longer than 22 words.
    long_sentences = []
    for where, text, _ in _texts(study):
        if not isinstance(text, dict) or where.startswith(("choice", "model", "scale")):
            continue
        for sentence in re.split(r"(?<=[.?!:])\s+", text["nl"]):
            if len(sentence.split()) > 22:
                long_sentences.append((where, sentence))
    assert long_sentences == []
