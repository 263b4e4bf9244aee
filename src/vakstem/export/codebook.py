"""The codebook of a study: every variable with its question, short label, type, values and codes,
missing codes, condition (as written and, where simple, in words), scale membership with
reverse-keying, and page; plus the scales, the analysis plan and an estimate of completion time.

A plain library (`build_codebook`, `render_markdown`, `render_html`) with no web dependency, so it
works from a notebook as well as from `vakstem codebook`. The HTML is one self-contained page
(inline CSS, no scripts, no external requests) that a researcher can read without the YAML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vakstem.export.missing import missing_codes_of
from vakstem.instrument.expressions import (
    Binary,
    Call,
    Expr,
    ExpressionError,
    Number,
    String,
    Var,
    compile_expression,
)
from vakstem.instrument.names import multiple_choice_column
from vakstem.instrument.schema import Item, ItemType, Page, Study, Text, text_in
from vakstem.instrument.textformat import plain_text

LANGUAGES = ("nl", "en")

#: Completion-time rule (see `estimate_duration`): reading speed and seconds per answer.
WORDS_PER_MINUTE = 200
SECONDS_PER_CHOICE = 3.0
SECONDS_PER_DROPDOWN = 10.0
SECONDS_PER_NUMBER = 8.0
SECONDS_PER_OPEN_ANSWER = 60.0
SECONDS_PER_PAGE = 2.0


class CodebookError(ValueError):
    """A codebook request that cannot be met (unknown language or study); says what to do."""


_UI: dict[str, dict[str, str]] = {
    "nl": {
        "codebook": "Codebook",
        "overview": "Overzicht",
        "study": "Onderzoek",
        "version": "Versie",
        "languages": "Talen",
        "variables": "Variabelen",
        "pages": "Pagina's",
        "duration": "Geschatte invultijd",
        "missing_codes": "Ontbrekende waarden",
        "code": "Code",
        "meaning": "Betekenis",
        "scales": "Schalen",
        "scale": "Schaal",
        "block": "Blok",
        "items": "Items",
        "reverse": "Omgepoold",
        "scoring": "Score",
        "variable": "Variabele",
        "label": "Label",
        "type": "Type",
        "question": "Vraag",
        "hint": "Toelichting",
        "values": "Waarden",
        "range": "Bereik",
        "max_length": "Maximale lengte",
        "required": "Verplicht",
        "condition": "Voorwaarde",
        "constraint": "Controle",
        "page": "Pagina",
        "in_scale": "Schaal",
        "reversed": "omgepoold",
        "possible_missing": "Mogelijke ontbrekende codes",
        "open_text": (
            "Open antwoord: kan personen herkenbaar maken; alleen in exports met --open-text. "
            "In csv krijgt een tekst die begint met = + - of @ een ' ervoor (geen formule in "
            "een spreadsheet; --raw-text laat dat weg)."
        ),
        "missing_choice": "ontbrekend; in exports als {code}",
        "plan": "Analyseplan",
        "cluster": "Clustervariabele",
        "groups": "Groepsvariabelen",
        "model": "Model",
        "estimator": "Schatter",
        "yes": "ja",
        "no": "nee",
        "always": "altijd gevraagd",
        "mean_rule": "gemiddelde van de items na ompolen, als minstens {share} beantwoord is",
        "sum_rule": "som van de items na ompolen, als minstens {share} beantwoord is",
        "missing_intro": (
            "Elke variabele kan deze codes hebben. Antwoordopties die als ontbrekend gemarkeerd "
            "zijn (zoals weet ik niet / n.v.t.) tellen niet als schaalpunt. Een datum- of "
            "tekstvariabele blijft leeg; de code staat dan in de kolom <naam>_mis ernaast. "
            "Een schaalscore die niet te berekenen is krijgt de reden van zijn lege items."
        ),
        "duration_text": (
            "{minutes} minuten als alle vragen getoond worden en de open vragen leeg blijven; "
            "{minutes_open} minuten met alle open vragen ingevuld. Regel: {words} woorden "
            "gelezen met {wpm} woorden per minuut, {choices} keuzes × {s_choice} s, "
            "{dropdowns} keuzelijsten × {s_dropdown} s, {numbers} getallen × {s_number} s, "
            "{pages} pagina's × {s_page} s, open antwoorden × {s_open} s."
        ),
        "asked_if": "Alleen gevraagd als {words}.",
    },
    "en": {
        "codebook": "Codebook",
        "overview": "Overview",
        "study": "Study",
        "version": "Version",
        "languages": "Languages",
        "variables": "Variables",
        "pages": "Pages",
        "duration": "Estimated completion time",
        "missing_codes": "Missing values",
        "code": "Code",
        "meaning": "Meaning",
        "scales": "Scales",
        "scale": "Scale",
        "block": "Block",
        "items": "Items",
        "reverse": "Reverse-keyed",
        "scoring": "Score",
        "variable": "Variable",
        "label": "Label",
        "type": "Type",
        "question": "Question",
        "hint": "Hint",
        "values": "Values",
        "range": "Range",
        "max_length": "Maximum length",
        "required": "Required",
        "condition": "Condition",
        "constraint": "Check",
        "page": "Page",
        "in_scale": "Scale",
        "reversed": "reverse-keyed",
        "possible_missing": "Possible missing codes",
        "open_text": (
            "Open answer: may identify people; in exports only with --open-text. In csv a "
            "text starting with = + - or @ gets a ' in front (no formula in a spreadsheet; "
            "--raw-text leaves it out)."
        ),
        "missing_choice": "missing; exported as {code}",
        "plan": "Analysis plan",
        "cluster": "Cluster variable",
        "groups": "Grouping variables",
        "model": "Model",
        "estimator": "Estimator",
        "yes": "yes",
        "no": "no",
        "always": "always asked",
        "mean_rule": "mean of the items after reverse-keying, when at least {share} are answered",
        "sum_rule": "sum of the items after reverse-keying, when at least {share} are answered",
        "missing_intro": (
            "Any variable can hold these codes. Answer options marked as missing (such as "
            "don't know / not applicable) are not scale points. A date or text variable stays "
            "empty; its code is then in the column <name>_mis beside it. A scale score that "
            "cannot be computed gets the reason of its empty items."
        ),
        "duration_text": (
            "{minutes} minutes when every question is shown and the open questions are left "
            "empty; {minutes_open} minutes with every open question answered. Rule: {words} "
            "words read at {wpm} words a minute, {choices} choices × {s_choice} s, "
            "{dropdowns} drop-down lists × {s_dropdown} s, {numbers} numbers × {s_number} s, "
            "{pages} pages × {s_page} s, open answers × {s_open} s."
        ),
        "asked_if": "Asked only if {words}.",
    },
}

_TYPE_NAMES: dict[str, dict[ItemType, str]] = {
    "nl": {
        ItemType.SINGLE: "enkele keuze",
        ItemType.MULTIPLE: "meerkeuze (0/1 per optie)",
        ItemType.MATRIX: "Likert-rij",
        ItemType.INTEGER: "geheel getal",
        ItemType.DECIMAL: "getal",
        ItemType.TEXT: "korte tekst",
        ItemType.LONGTEXT: "lange tekst",
        ItemType.DATE: "datum (JJJJ-MM-DD)",
        ItemType.CONSENT: "toestemming",
    },
    "en": {
        ItemType.SINGLE: "single choice",
        ItemType.MULTIPLE: "multiple choice (0/1 per option)",
        ItemType.MATRIX: "Likert row",
        ItemType.INTEGER: "whole number",
        ItemType.DECIMAL: "number",
        ItemType.TEXT: "short text",
        ItemType.LONGTEXT: "long text",
        ItemType.DATE: "date (YYYY-MM-DD)",
        ItemType.CONSENT: "consent",
    },
}

_OPERATOR_WORDS: dict[str, dict[str, str]] = {
    "nl": {
        "=": "is",
        "!=": "is niet",
        "<": "is kleiner dan",
        "<=": "is hoogstens",
        ">": "is groter dan",
        ">=": "is minstens",
        "and": "en",
        "or": "of",
    },
    "en": {
        "=": "is",
        "!=": "is not",
        "<": "is less than",
        "<=": "is at most",
        ">": "is greater than",
        ">=": "is at least",
        "and": "and",
        "or": "or",
    },
}


@dataclass(frozen=True)
class Value:
    """One code of a variable with its label; `missing` marks a substantive non-answer."""

    code: int
    label: str
    missing: bool = False


@dataclass(frozen=True)
class ScaleMembership:
    scale_id: str
    scale_label: str
    reverse: bool


@dataclass(frozen=True)
class Variable:
    """One column of the response table, described for a reader of the codebook."""

    name: str
    label: str
    question: str
    type: ItemType
    type_name: str
    item_id: str
    page_id: str
    page_title: str
    values: tuple[Value, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    required: str = ""
    hint: str = ""
    condition: str | None = None
    condition_words: str | None = None
    constraint: str | None = None
    scales: tuple[ScaleMembership, ...] = ()
    missing_codes: tuple[int, ...] = ()
    open_text: bool = False


@dataclass(frozen=True)
class ScaleInfo:
    id: str
    label: str
    block: str
    items: tuple[str, ...]
    reverse: tuple[str, ...]
    rule: str


@dataclass(frozen=True)
class ModelInfo:
    id: str
    label: str
    estimator: str
    syntax: str


@dataclass(frozen=True)
class DurationEstimate:
    """Completion time on the longest path (every page and item shown); the rule in its fields."""

    words: int
    choices: int
    dropdowns: int
    numbers: int
    open_questions: int
    pages: int

    @property
    def seconds(self) -> float:
        """Without open answers."""
        return (
            self.words / WORDS_PER_MINUTE * 60
            + self.choices * SECONDS_PER_CHOICE
            + self.dropdowns * SECONDS_PER_DROPDOWN
            + self.numbers * SECONDS_PER_NUMBER
            + self.pages * SECONDS_PER_PAGE
        )

    @property
    def seconds_with_open_answers(self) -> float:
        return self.seconds + self.open_questions * SECONDS_PER_OPEN_ANSWER


@dataclass(frozen=True)
class Codebook:
    study_id: str
    version: str
    title: str
    language: str
    languages: tuple[str, ...]
    variables: tuple[Variable, ...]
    missing_codes: tuple[Value, ...]
    scales: tuple[ScaleInfo, ...]
    models: tuple[ModelInfo, ...]
    cluster: str | None
    groups: tuple[str, ...]
    pages: int
    duration: DurationEstimate
    #: The export code of a substantive non-answer (a choice marked missing).
    dont_know_code: int
    ui: dict[str, str] = field(repr=False, default_factory=dict)


# --- building ---------------------------------------------------------------------------------


def build_codebook(study: Study, language: str | None = None) -> Codebook:
    """Describe every variable of `study` in `language` (default: the study's first language)."""
    lang = language or study.default_language
    if lang not in study.languages:
        raise CodebookError(
            f"study {study.id!r} has no language {lang!r}; choose one of "
            f"{', '.join(study.languages)}"
        )
    ui = _UI["nl" if lang == "nl" else "en"]
    codes = missing_codes_of(study)
    memberships = _memberships(study, lang)
    variables: list[Variable] = []
    for page, item in study.items():
        variables.extend(_variables_of(study, page, item, lang, ui, codes.all(), memberships))
    scales = tuple(
        ScaleInfo(
            id=s.id,
            label=text_in(s.label, lang),
            block=s.block or "",
            items=s.items,
            reverse=s.reverse,
            rule=ui["mean_rule" if s.scoring == "mean" else "sum_rule"].format(
                share=_share(s.min_answered, len(s.items))
            ),
        )
        for s in study.scales
    )
    models = tuple(
        ModelInfo(m.id, text_in(m.label, lang) if m.label else m.id, m.estimator, m.syntax)
        for m in study.analysis.models
    )
    return Codebook(
        study_id=study.id,
        version=study.version,
        title=text_in(study.title, lang),
        language=lang,
        languages=study.languages,
        variables=tuple(variables),
        missing_codes=tuple(Value(code, label, True) for code, label in codes.labels(lang).items()),
        scales=scales,
        models=models,
        cluster=study.analysis.cluster,
        groups=study.analysis.groups,
        pages=len(study.pages),
        duration=estimate_duration(study, lang),
        dont_know_code=codes.dont_know,
        ui=ui,
    )


def _share(min_answered: float, n: int) -> str:
    needed = max(1, math.ceil(min_answered * n - 1e-9))
    return f"{needed}/{n}"


def _memberships(study: Study, lang: str) -> dict[str, list[ScaleMembership]]:
    result: dict[str, list[ScaleMembership]] = {}
    for scale in study.scales:
        for name in scale.items:
            result.setdefault(name, []).append(
                ScaleMembership(scale.id, text_in(scale.label, lang), name in scale.reverse)
            )
    return result


def _t(text: Text | None, lang: str) -> str:
    # The codebook shows plain text: formatting markers (**bold**, links) are stripped.
    return plain_text(text_in(text, lang, fallback=lang))


def _variables_of(
    study: Study,
    page: Page,
    item: Item,
    lang: str,
    ui: dict[str, str],
    missing_codes: tuple[int, ...],
    memberships: dict[str, list[ScaleMembership]],
) -> list[Variable]:
    if item.type is ItemType.NOTE:
        return []
    not_answered, not_applicable, dont_know, dropped_out = missing_codes
    conditions = [c for c in (page.relevant, item.relevant) if c]
    condition = " and ".join(f"({c})" if len(conditions) > 1 else c for c in conditions) or None
    described = [describe_condition(c, study, lang) for c in conditions]
    words = [w for w in described if w is not None]
    condition_words = (
        ui["asked_if"].format(words=f" {_OPERATOR_WORDS[_ui_lang(lang)]['and']} ".join(words))
        if conditions and len(words) == len(conditions)
        else None
    )
    choices = study.choices_of(item)
    values = tuple(Value(c.code, _t(c.label, lang), c.missing) for c in choices)
    if item.type is ItemType.CONSENT:
        values = (Value(1, ui["yes"]), Value(0, ui["no"]))
    possible = [not_answered]
    if condition:
        possible.append(not_applicable)
    if any(c.missing for c in choices):
        possible.append(dont_know)
    possible.append(dropped_out)
    required = (
        item.required
        if isinstance(item.required, str)
        else (ui["yes"] if item.required else ui["no"])
    )
    base = Variable(
        name=item.id,
        label=_t(item.label, lang) if item.label is not None else _t(item.text, lang),
        question=_t(item.text, lang),
        type=item.type,
        type_name=_TYPE_NAMES[_ui_lang(lang)][item.type],
        item_id=item.id,
        page_id=page.id,
        page_title=_t(page.title, lang) if page.title else page.id,
        values=values,
        minimum=item.min,
        maximum=item.max,
        max_length=item.max_length,
        required=required,
        hint=_t(item.hint, lang),
        condition=condition,
        condition_words=condition_words,
        constraint=item.constraint,
        scales=tuple(memberships.get(item.id, ())),
        missing_codes=tuple(possible),
        open_text=item.open_text,
    )
    if item.type is ItemType.MATRIX:
        return [
            replace(
                base,
                name=row.id,
                label=_t(row.label, lang) if row.label is not None else _t(row.text, lang),
                question=f"{base.question} {_t(row.text, lang)}".strip(),
                hint=_t(row.hint, lang) if row.hint else base.hint,
                scales=tuple(memberships.get(row.id, ())),
            )
            for row in item.rows
        ]
    if item.type is ItemType.MULTIPLE:
        return [
            replace(
                base,
                name=multiple_choice_column(item.id, choice.code),
                label=f"{base.label}: {_t(choice.label, lang)}",
                values=(Value(1, ui["yes"]), Value(0, ui["no"])),
            )
            for choice in choices
        ]
    return [base]


def _ui_lang(lang: str) -> str:
    return "nl" if lang == "nl" else "en"


def describe_condition(source: str, study: Study, language: str) -> str | None:
    """A simple condition in words (`Heeft eigen caseload (cl_1) is Ja`), or None when the
    expression is not a comparison of variables with values joined by and/or."""
    try:
        expr = compile_expression(source)
    except ExpressionError:
        return None
    return _describe(expr, study, _ui_lang(language), language)


def _describe(expr: Expr, study: Study, ui_lang: str, lang: str) -> str | None:
    words = _OPERATOR_WORDS[ui_lang]
    if isinstance(expr, Binary) and expr.op in ("and", "or"):
        left = _describe(expr.left, study, ui_lang, lang)
        right = _describe(expr.right, study, ui_lang, lang)
        if left is None or right is None:
            return None
        return f"{left} {words[expr.op]} {right}"
    if isinstance(expr, Binary) and expr.op in ("=", "!=", "<", "<=", ">", ">="):
        if isinstance(expr.left, Var) and isinstance(expr.right, Number | String):
            return _comparison(expr.left.name, expr.op, expr.right.value, study, words, lang)
        return None
    if isinstance(expr, Call) and expr.name == "selected" and len(expr.args) == 2:
        var, value = expr.args
        if isinstance(var, Var) and isinstance(value, Number | String):
            verb = "bevat" if ui_lang == "nl" else "includes"
            shown = _value(var.name, value.value, study, lang)
            return f"{_variable_name(var.name, study, lang)} {verb} {shown}"
    return None


def _comparison(
    name: str, op: str, value: float | str, study: Study, words: dict[str, str], lang: str
) -> str:
    return f"{_variable_name(name, study, lang)} {words[op]} {_value(name, value, study, lang)}"


def _variable_name(name: str, study: Study, lang: str) -> str:
    for _page, item in study.items():
        for row in item.rows:
            if row.id == name:
                return f"{_t(row.label or row.text, lang)} ({name})"
        if item.id == name:
            return f"{_t(item.label or item.text, lang)} ({name})"
    return name


def _value(name: str, value: float | str, study: Study, lang: str) -> str:
    shown = _number(value)
    for _page, item in study.items():
        if name == item.id or name in (row.id for row in item.rows):
            for choice in study.choices_of(item):
                if str(choice.code) == shown:
                    return f"{_t(choice.label, lang)} ({shown})"
    return shown


def _number(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- completion time --------------------------------------------------------------------------


def _words(text: str) -> int:
    return len(text.replace("**", "").split())


def estimate_duration(study: Study, language: str | None = None) -> DurationEstimate:
    """Completion time on the longest path: every word read at `WORDS_PER_MINUTE`, plus a fixed
    time per answer (choice, drop-down, number) and per page; open answers counted apart."""
    lang = language or study.default_language
    words = choices = dropdowns = numbers = open_questions = 0
    for page in study.pages:
        words += _words(_t(page.title, lang))
        for item in page.items:
            words += _words(_t(item.text, lang)) + _words(_t(item.hint, lang))
            options = study.choices_of(item)
            if item.type is ItemType.MATRIX:
                # the answer scale is read once per matrix, each row once
                words += sum(_words(_t(c.label, lang)) for c in options)
                words += sum(_words(_t(row.text, lang)) for row in item.rows)
                choices += len(item.rows)
            elif item.type in (ItemType.SINGLE, ItemType.MULTIPLE):
                if item.appearance == "dropdown":
                    dropdowns += 1
                else:
                    words += sum(_words(_t(c.label, lang)) for c in options)
                    choices += 1
            elif item.type is ItemType.CONSENT:
                choices += 1
            elif item.type in (ItemType.INTEGER, ItemType.DECIMAL, ItemType.DATE):
                numbers += 1
            elif item.type in (ItemType.TEXT, ItemType.LONGTEXT):
                open_questions += 1
    words += _words(_t(study.closing, lang))
    return DurationEstimate(words, choices, dropdowns, numbers, open_questions, len(study.pages))


def _duration_text(cb: Codebook) -> str:
    d = cb.duration
    return cb.ui["duration_text"].format(
        minutes=round(d.seconds / 60),
        minutes_open=round(d.seconds_with_open_answers / 60),
        words=d.words,
        wpm=WORDS_PER_MINUTE,
        choices=d.choices,
        s_choice=_number(SECONDS_PER_CHOICE),
        dropdowns=d.dropdowns,
        s_dropdown=_number(SECONDS_PER_DROPDOWN),
        numbers=d.numbers,
        s_number=_number(SECONDS_PER_NUMBER),
        pages=d.pages,
        s_page=_number(SECONDS_PER_PAGE),
        s_open=_number(SECONDS_PER_OPEN_ANSWER),
    )


# --- rendering --------------------------------------------------------------------------------


def _value_text(cb: Codebook, v: Variable, value: Value) -> str:
    if not value.missing:
        return f"{value.code} = {value.label}"
    note = cb.ui["missing_choice"].format(code=cb.dont_know_code)
    return f"{value.code} = {value.label} ({note})"


def _range_text(v: Variable) -> str:
    if v.minimum is None and v.maximum is None:
        return ""
    low = _number(v.minimum) if v.minimum is not None else "…"
    high = _number(v.maximum) if v.maximum is not None else "…"
    return f"{low} – {high}"


def _scale_text(cb: Codebook, v: Variable) -> str:
    return "; ".join(
        f"{m.scale_id} ({m.scale_label})" + (f", {cb.ui['reversed']}" if m.reverse else "")
        for m in v.scales
    )


def _fields(cb: Codebook, v: Variable) -> list[tuple[str, str]]:
    """The label/value pairs shown for one variable, in reading order (empty ones left out)."""
    ui = cb.ui
    rows = [
        (ui["label"], v.label),
        (ui["question"], v.question),
        (ui["hint"], v.hint),
        (ui["type"], v.type_name),
        (ui["range"], _range_text(v)),
        (ui["max_length"], str(v.max_length) if v.max_length else ""),
        (ui["required"], v.required),
        (ui["condition"], (v.condition_words + f" [{v.condition}]") if v.condition_words
         else (v.condition or ui["always"])),
        (ui["constraint"], v.constraint or ""),
        (ui["in_scale"], _scale_text(cb, v)),
        (ui["possible_missing"], ", ".join(str(c) for c in v.missing_codes)),
        (ui["page"], f"{v.page_title} ({v.page_id})"),
    ]  # fmt: skip
    if v.open_text:
        rows.append(("", ui["open_text"]))
    return [(k, val) for k, val in rows if val]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(cb: Codebook) -> str:
    """The codebook as Markdown: overview, missing codes, scales, variables per page, plan."""
    ui = cb.ui
    out: list[str] = [f"# {ui['codebook']}: {cb.title}", ""]
    out += [
        f"## {ui['overview']}",
        "",
        f"- {ui['study']}: `{cb.study_id}`",
        f"- {ui['version']}: {cb.version}",
        f"- {ui['languages']}: {', '.join(cb.languages)}",
        f"- {ui['variables']}: {len(cb.variables)}",
        f"- {ui['pages']}: {cb.pages}",
        f"- {ui['duration']}: {_duration_text(cb)}",
        "",
        f"## {ui['missing_codes']}",
        "",
        ui["missing_intro"],
        "",
        f"| {ui['code']} | {ui['meaning']} |",
        "| ---: | --- |",
    ]
    out += [f"| {v.code} | {_md_cell(v.label)} |" for v in cb.missing_codes]
    if cb.scales:
        out += [
            "",
            f"## {ui['scales']}",
            "",
            f"| {ui['scale']} | {ui['label']} | {ui['block']} | {ui['items']} | "
            f"{ui['reverse']} | {ui['scoring']} |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        out += [
            f"| `{s.id}` | {_md_cell(s.label)} | {s.block} | {', '.join(s.items)} | "
            f"{', '.join(s.reverse)} | {_md_cell(s.rule)} |"
            for s in cb.scales
        ]
    out += ["", f"## {ui['variables']}"]
    page = None
    for v in cb.variables:
        if v.page_id != page:
            page = v.page_id
            out += ["", f"### {ui['page']}: {v.page_title} (`{v.page_id}`)"]
        out += ["", f"#### `{v.name}`", ""]
        out += [
            f"- {k}: {_md_cell(val)}" if k else f"- {_md_cell(val)}" for k, val in _fields(cb, v)
        ]
        if v.values:
            out += [f"- {ui['values']}:"]
            out += [f"    - {_md_cell(_value_text(cb, v, value))}" for value in v.values]
    out += _plan_markdown(cb)
    return "\n".join(out) + "\n"


def _plan_markdown(cb: Codebook) -> list[str]:
    ui = cb.ui
    if not cb.models and not cb.cluster and not cb.groups:
        return []
    out = ["", f"## {ui['plan']}", ""]
    if cb.cluster:
        out.append(f"- {ui['cluster']}: `{cb.cluster}`")
    if cb.groups:
        out.append(f"- {ui['groups']}: {', '.join(f'`{g}`' for g in cb.groups)}")
    for m in cb.models:
        out += [
            "",
            f"### {ui['model']} `{m.id}`: {m.label}",
            "",
            f"{ui['estimator']}: {m.estimator}",
        ]
        out += ["", "```", m.syntax.rstrip(), "```"]
    return out


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.45;margin:0;
color:#1b1b1b;background:#fff}
main{max-width:60rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:2px solid #2a5d84;padding-bottom:.2rem}
h3{margin-top:1.8rem;color:#2a5d84}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
th,td{border:1px solid #c9d3dc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef3f7}
.var{border:1px solid #c9d3dc;border-radius:6px;padding:.6rem .9rem;margin:.8rem 0;
page-break-inside:avoid}
.var h4{margin:.1rem 0 .4rem;font-family:ui-monospace,monospace;font-size:1.05rem}
.var dl{display:grid;grid-template-columns:minmax(9rem,max-content) 1fr;gap:.15rem .8rem;margin:0}
.var dt{color:#555}.var dd{margin:0}
.missing{color:#8a4b00}.note{color:#8a4b00;font-size:.9rem}
code,pre{font-family:ui-monospace,monospace}pre{background:#f5f7f9;padding:.7rem;overflow:auto}
ul.values{margin:0;padding-left:1.1rem}
@media print{main{max-width:none}}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def render_html(cb: Codebook) -> str:
    """The codebook as one self-contained HTML page (inline CSS, no scripts)."""
    ui = cb.ui
    parts: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(cb.language)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(ui['codebook'])}: {_e(cb.title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(ui['codebook'])}: {_e(cb.title)}</h1>",
        f"<h2>{_e(ui['overview'])}</h2><table>",
    ]
    overview = [
        (ui["study"], f"<code>{_e(cb.study_id)}</code>"),
        (ui["version"], _e(cb.version)),
        (ui["languages"], _e(", ".join(cb.languages))),
        (ui["variables"], str(len(cb.variables))),
        (ui["pages"], str(cb.pages)),
        (ui["duration"], _e(_duration_text(cb))),
    ]
    parts += [f'<tr><th scope="row">{_e(k)}</th><td>{v}</td></tr>' for k, v in overview]
    parts += [
        "</table>",
        f"<h2>{_e(ui['missing_codes'])}</h2><p>{_e(ui['missing_intro'])}</p>",
        f"<table><tr><th>{_e(ui['code'])}</th><th>{_e(ui['meaning'])}</th></tr>",
    ]
    parts += [f"<tr><td>{v.code}</td><td>{_e(v.label)}</td></tr>" for v in cb.missing_codes]
    parts.append("</table>")
    if cb.scales:
        heads = ("scale", "label", "block", "items", "reverse", "scoring")
        parts += [
            f"<h2>{_e(ui['scales'])}</h2><table><tr>",
            "".join(f"<th>{_e(ui[h])}</th>" for h in heads),
            "</tr>",
        ]
        parts += [
            f"<tr><td><code>{_e(s.id)}</code></td><td>{_e(s.label)}</td><td>{_e(s.block)}</td>"
            f"<td>{_e(', '.join(s.items))}</td><td>{_e(', '.join(s.reverse))}</td>"
            f"<td>{_e(s.rule)}</td></tr>"
            for s in cb.scales
        ]
        parts.append("</table>")
    parts.append(f"<h2>{_e(ui['variables'])}</h2>")
    page = None
    for v in cb.variables:
        if v.page_id != page:
            page = v.page_id
            parts.append(
                f"<h3>{_e(ui['page'])}: {_e(v.page_title)} (<code>{_e(v.page_id)}</code>)</h3>"
            )
        parts.append(f'<section class="var" id="var-{_e(v.name)}"><h4>{_e(v.name)}</h4><dl>')
        for k, val in _fields(cb, v):
            if k:
                parts.append(f"<dt>{_e(k)}</dt><dd>{_e(val)}</dd>")
            else:
                parts.append(f'<dt></dt><dd class="note">{_e(val)}</dd>')
        if v.values:
            items = "".join(
                f'<li class="missing">{_e(_value_text(cb, v, value))}</li>'
                if value.missing
                else f"<li>{_e(_value_text(cb, v, value))}</li>"
                for value in v.values
            )
            parts.append(f'<dt>{_e(ui["values"])}</dt><dd><ul class="values">{items}</ul></dd>')
        parts.append("</dl></section>")
    parts += _plan_html(cb)
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _plan_html(cb: Codebook) -> list[str]:
    ui = cb.ui
    if not cb.models and not cb.cluster and not cb.groups:
        return []
    out = [f"<h2>{_e(ui['plan'])}</h2><ul>"]
    if cb.cluster:
        out.append(f"<li>{_e(ui['cluster'])}: <code>{_e(cb.cluster)}</code></li>")
    if cb.groups:
        groups = ", ".join(f"<code>{_e(g)}</code>" for g in cb.groups)
        out.append(f"<li>{_e(ui['groups'])}: {groups}</li>")
    out.append("</ul>")
    for m in cb.models:
        out.append(f"<h3>{_e(ui['model'])} <code>{_e(m.id)}</code>: {_e(m.label)}</h3>")
        out.append(f"<p>{_e(ui['estimator'])}: {_e(m.estimator)}</p><pre>{_e(m.syntax)}</pre>")
    return out


# --- finding a study --------------------------------------------------------------------------

#: Folder of the studies shipped with Vakstem (`<id>/study.yaml`).
SHIPPED_STUDIES = Path(__file__).resolve().parent.parent / "studies"


def shipped_study_ids() -> list[str]:
    return sorted(p.parent.name for p in SHIPPED_STUDIES.glob("*/study.yaml"))


def find_study_file(reference: str) -> Path:
    """The study file for `reference`: a path to a file, or the id of a shipped study."""
    path = Path(reference)
    if path.is_file():
        return path
    shipped = SHIPPED_STUDIES / reference / "study.yaml"
    if "/" not in reference and "\\" not in reference and shipped.is_file():
        return shipped
    known = ", ".join(shipped_study_ids()) or "none"
    raise CodebookError(
        f"no study file {reference!r}: give a path to a study file or the id of a shipped "
        f"study ({known})"
    )


def codebook_formats() -> Iterable[str]:
    return ("md", "html")


def render(cb: Codebook, fmt: str) -> str:
    """The codebook in `fmt` (`md` or `html`)."""
    if fmt == "md":
        return render_markdown(cb)
    if fmt == "html":
        return render_html(cb)
    raise CodebookError(f"unknown codebook format {fmt!r}; choose md or html")
