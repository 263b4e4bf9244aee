"""The published JSON Schema of the study-file format, for editors (YAML language servers) and
other tools: pydantic's schema of `Study`, with a description of every field for researchers."""

from __future__ import annotations

from typing import Any

from vakstem.instrument.schema import Study

SCHEMA_ID = "https://vakstem.nl/schema/study.json"

_TEXT = "A string (the same in every language) or one text per language: {nl: ..., en: ...}."
_CONDITION = (
    "A condition in the XLSForm expression language, e.g. ${functie} = 6 and "
    "selected(${overleg}, 2)."
)

#: model -> field -> description (shown by editors as hover help).
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Study": {
        "id": "The study's id: lowercase letters, digits and _, used in links (/s/<id>).",
        "version": "The author's version label (the stored version is the content hash).",
        "languages": "The study's languages; the first is the default. Every text must exist "
        "in each of them.",
        "title": "Title shown on every page. " + _TEXT,
        "description": "Short description for the researcher console. " + _TEXT,
        "sources": "Source tags accepted on the anonymous link (?bron=nieuwsbrief).",
        "settings": "Anonymity and feedback thresholds.",
        "choice_lists": "Named answer lists; items refer to them by name in `choices`.",
        "pages": "The pages in the order respondents see them.",
        "scales": "Scale scores of the analysis plan.",
        "analysis": "The analysis plan: grouping and clustering variables and models.",
        "closing": "Text on the closing page. " + _TEXT,
        "privacy": "The privacy statement shown at /s/<id>/privacy; required before the study "
        "opens.",
    },
    "Privacy": {
        "controllers": "The institutions responsible for the data (joint controllers).",
        "collected": "What is collected. " + _TEXT,
        "purpose": "Why: the purpose of the study. " + _TEXT,
        "legal_basis": "The legal basis under the AVG/GDPR (e.g. public interest). " + _TEXT,
        "retention": "How long the data are kept, and what happens then. " + _TEXT,
        "rights": "The respondent's rights; left out, the standard AVG/GDPR text is shown. "
        + _TEXT,
        "contact": "Whom respondents write to about their data.",
    },
    "PrivacyController": {
        "name": "The institution's name. " + _TEXT,
        "contact": "Where to find the institution's own privacy information. " + _TEXT,
    },
    "PrivacyContact": {
        "email": "A role-based address of the research team (not a personal one).",
        "dpo": "The data-protection officer (functionaris gegevensbescherming). " + _TEXT,
    },
    "Page": {
        "id": "The page's id.",
        "title": "Heading of the page. " + _TEXT,
        "relevant": "Show the page only when this is true; may use answers from earlier pages "
        "only. " + _CONDITION,
        "items": "The questions and notes on the page.",
    },
    "Item": {
        "id": "The variable name: lowercase letters, digits and _, at most 32 characters, "
        "not a reserved word of SPSS or Stata.",
        "type": "note, single, multiple, matrix, integer, decimal, text, longtext, date or "
        "consent.",
        "text": "The question. " + _TEXT,
        "hint": "Help shown under the question. " + _TEXT,
        "required": "true, or a condition under which an answer is required.",
        "relevant": "Show the item only when this is true. " + _CONDITION,
        "constraint": "An answer is accepted only when this is true; `.` is the answer. "
        + _CONDITION,
        "constraint_message": "Shown when the constraint is false. " + _TEXT,
        "choices": "Name of a choice list (single, multiple, matrix).",
        "appearance": "dropdown shows a single-choice item as a drop-down list.",
        "randomize": "Shuffle the choices (single, multiple) or rows (matrix) per response.",
        "rows": "The rows of a matrix; each row is a variable.",
        "min": "Smallest accepted number (integer, decimal).",
        "max": "Largest accepted number (integer, decimal).",
        "max_length": "Longest accepted answer in characters (text, longtext).",
        "label": "Short variable label for exports and the codebook. " + _TEXT,
        "open_text": "The answer may identify people: left out of exports unless asked.",
    },
    "MatrixRow": {
        "id": "The row's variable name.",
        "text": "The statement of the row. " + _TEXT,
        "hint": "Help shown with the row. " + _TEXT,
        "label": "Short variable label for exports and the codebook. " + _TEXT,
    },
    "Choice": {
        "code": "The number stored and exported for this choice.",
        "label": "The choice's label. " + _TEXT,
        "missing": "A substantive non-answer (weet ik niet, n.v.t.): stored, missing in analysis.",
    },
    "Scale": {
        "id": "The scale score's column name.",
        "label": "Name of the scale. " + _TEXT,
        "description": "What the scale measures. " + _TEXT,
        "items": "The variables of the scale (choice-list or numeric items).",
        "reverse": "Items scored in reverse (they need a choice list).",
        "scoring": "mean or sum of the items after reverse keying.",
        "min_answered": "Smallest share of items answered for a score.",
        "block": "Group of scales this one belongs to in reports.",
    },
    "AnalysisPlan": {
        "cluster": "Variable identifying the organisation (for multilevel models).",
        "groups": "Variables to compare groups by.",
        "models": "Models in lavaan syntax.",
        "settings": "Settings of later analysis steps.",
    },
    "ModelSpec": {
        "id": "The model's id.",
        "label": "Name of the model. " + _TEXT,
        "syntax": "The model in lavaan syntax (=~, ~, ~~, :=).",
        "estimator": "ML or MLR (robust).",
        "missing": "listwise deletion or full-information ml.",
        "std_lv": "Fix latent variances to 1 instead of the first loading.",
        "bootstrap": "Bootstrap draws for defined parameters (0: none).",
        "cluster": "Standard errors, test and bootstrap robust to the nesting in the plan's "
        "cluster variable (lavaan's cluster =); needs estimator MLR and analysis.cluster.",
    },
    "StudySettings": {
        "anonymous": "Whether responses are anonymous.",
        "k_min": "Smallest group shown on any feedback page.",
        "mirror_min": "Completed responses before the personal feedback is shown.",
        "min_seconds_per_answer": "Seconds per question shown below which a completed "
        "response is flagged too_fast (0: off).",
    },
}


def study_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a study file."""
    schema = Study.model_json_schema()
    definitions = schema.get("$defs", {})
    for model, fields in DESCRIPTIONS.items():
        target = schema if model == "Study" else definitions.get(model)
        if not isinstance(target, dict):
            continue
        properties = target.get("properties", {})
        for field, description in fields.items():
            if field in properties:
                properties[field]["description"] = description
    schema["title"] = "Vakstem study file"
    schema["description"] = (
        "A questionnaire with its choice lists, conditions and analysis plan. "
        "See docs/questionnaire-format.md."
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
