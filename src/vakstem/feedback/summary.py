"""The public summary of a study: how many took part, their spread over organisation types and
size classes, the distribution of every scale, the main findings, and the themes of the open
answers (counts only). Every count and statistic goes through `vakstem.feedback.disclosure`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from vakstem.feedback import texts
from vakstem.feedback.data import SIZE, TEXT, TYPE, FeedbackData
from vakstem.feedback.disclosure import Count, Disclosure, Quartiles
from vakstem.feedback.plots import PlotRow, Series, score_plot
from vakstem.feedback.render import render
from vakstem.feedback.themes import THEMES, Theme, mentions
from vakstem.instrument.schema import Scale, Study, text_in

#: Scale blocks in the order the summary shows them, with their heading keys.
SUMMARY_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("all_professional_action", ("professional_action",)),
    ("all_hrm", ("hrm_ability", "hrm_motivation", "hrm_opportunity")),
    ("block_working_conditions", ("working_conditions",)),
    ("block_outcome", ("outcome",)),
)

#: The key of the "not answered / don't know" cell of a breakdown.
NONE = "none"


@dataclass(frozen=True)
class BreakdownRow:
    key: str
    label: str
    count: Count


@dataclass(frozen=True)
class Breakdown:
    title_key: str
    rows: tuple[BreakdownRow, ...]


@dataclass(frozen=True)
class ScaleRow:
    scale: Scale
    quartiles: Quartiles | None


@dataclass(frozen=True)
class ScaleGroup:
    heading_key: str
    rows: tuple[ScaleRow, ...]


@dataclass(frozen=True)
class ThemeRow:
    theme: Theme
    count: Count


@dataclass(frozen=True)
class OpenQuestion:
    item_id: str
    label: str
    answered: Count
    themes: tuple[ThemeRow, ...]


@dataclass(frozen=True)
class Finding:
    """One main finding in plain words, with the figure it rests on."""

    text: str


@dataclass(frozen=True)
class Summary:
    study: Study
    language: str
    k: int
    n: Count
    breakdowns: tuple[Breakdown, ...]
    scales: tuple[ScaleGroup, ...]
    open_questions: tuple[OpenQuestion, ...]
    findings: tuple[Finding, ...] | None
    disclosure: Disclosure

    @property
    def available(self) -> bool:
        return self.n.value is not None and self.n.true_size >= self.k


def _choice_labels(study: Study, variable: str | None, language: str) -> list[tuple[int, str]]:
    if variable is None:
        return []
    item = study.item(variable)
    if item is None:
        return []
    return [
        (c.code, text_in(c.label, language, study.default_language))
        for c in study.choices_of(item)
        if not c.missing
    ]


def _breakdown(
    disclosure: Disclosure,
    parent: Count,
    data: FeedbackData,
    column: str,
    labels: Sequence[tuple[int, str]],
    title_key: str,
    language: str,
) -> Breakdown:
    values = data.frame[column]
    known = {code for code, _label in labels}
    cells: dict[str, list[str]] = {str(code): [] for code, _label in labels}
    cells[NONE] = []
    for rid, value in values.items():
        code = int(value) if isinstance(value, float) and not math.isnan(value) else None
        cells[str(code) if code in known else NONE].append(str(rid))
    counts = disclosure.line(parent, cells)
    rows = [BreakdownRow(str(code), label, counts[str(code)]) for code, label in labels]
    rows.append(BreakdownRow(NONE, texts.t("not_answered", language), counts[NONE]))
    return Breakdown(title_key, tuple(rows))


def _open_question(
    disclosure: Disclosure, parent: Count, data: FeedbackData, item_id: str, language: str
) -> OpenQuestion:
    study = data.study
    column = data.frame[TEXT + item_id]
    answered = [str(rid) for rid, text in column.items() if isinstance(text, str)]
    silent = [str(rid) for rid, text in column.items() if not isinstance(text, str)]
    line = disclosure.line(parent, {"answered": answered, "silent": silent}, shown=["answered"])
    themes = []
    for theme in THEMES:
        hit = [
            str(rid)
            for rid, text in column.items()
            if isinstance(text, str) and mentions(theme, text)
        ]
        hit_set = set(hit)
        rest = [rid for rid in answered if rid not in hit_set]
        counts = disclosure.line(line["answered"], {"yes": hit, "no": rest}, shown=["yes"])
        themes.append(ThemeRow(theme, counts["yes"]))
    item = study.item(item_id)
    label = ""
    if item is not None:
        label = text_in(item.label or item.text, language, study.default_language)
    return OpenQuestion(item_id, label, line["answered"], tuple(themes))


#: Gives plain-language main findings for the summary, or None while there are none. The
#: analysis plan runner is far too slow for a page request (it fits SEM models with bootstrap
#: draws), so findings come from stored results: the web page passes
#: `vakstem.feedback.findings.stored_findings` (the latest stored run); without one the summary
#: says that findings follow after the analysis.
FindingsSource = Callable[[FeedbackData, str, Disclosure], "tuple[Finding, ...] | None"]


def no_findings(data: FeedbackData, language: str, disclosure: Disclosure) -> None:
    """The default source: no findings yet."""
    return None


def build_summary(
    data: FeedbackData, language: str, *, findings: FindingsSource = no_findings
) -> Summary:
    """The public summary of `data` in `language`, with every number through disclosure."""
    lang = "en" if language == "en" else "nl"
    study = data.study
    disclosure = Disclosure(data.k)
    n = disclosure.total(data.ids)
    enough = len(data.ids) >= data.k
    breakdowns: list[Breakdown] = []
    groups: list[ScaleGroup] = []
    questions: list[OpenQuestion] = []
    if enough:
        profile = data.profile
        type_labels = _choice_labels(study, profile.type_variable, lang)
        if type_labels:
            breakdowns.append(_breakdown(disclosure, n, data, TYPE, type_labels, "by_type", lang))
        size_labels = _choice_labels(study, profile.size_variable, lang)
        if size_labels:
            breakdowns.append(_breakdown(disclosure, n, data, SIZE, size_labels, "by_size", lang))
        for key, blocks in SUMMARY_BLOCKS:
            rows = tuple(
                ScaleRow(scale, disclosure.quartiles(data.scores(scale.id)))
                for scale in study.scales
                if scale.block in blocks
            )
            if rows:
                groups.append(ScaleGroup(key, rows))
        for item_id in profile.open_items:
            questions.append(_open_question(disclosure, n, data, item_id, lang))
    disclosure.finalize()
    found = findings(data, lang, disclosure) if enough else None
    return Summary(
        study=study,
        language=lang,
        k=data.k,
        n=n,
        breakdowns=tuple(breakdowns),
        scales=tuple(groups),
        open_questions=tuple(questions),
        findings=found,
        disclosure=disclosure,
    )


def render_summary(summary: Summary) -> Markup:
    """The summary as an HTML section (plots with tables as their text alternative)."""
    lang = summary.language
    study = summary.study
    plots = [
        score_plot(
            [
                PlotRow(
                    texts.scale_label(study, row.scale, lang),
                    (
                        Series(
                            "all",
                            q1=row.quartiles.q1 if row.quartiles else None,
                            median=row.quartiles.median if row.quartiles else None,
                            q3=row.quartiles.q3 if row.quartiles else None,
                        ),
                    ),
                )
                for row in group.rows
            ],
            title=texts.t(group.heading_key, lang),
            description=f"{texts.t('legend_median', lang)} {texts.t('legend_iqr', lang)} "
            + texts.t("plot_alt", lang),
            plot_id=f"summary-{i}",
        )
        for i, group in enumerate(summary.scales)
    ]
    return render(
        "summary.html",
        language=lang,
        study=study,
        summary=summary,
        plots=plots,
        count=lambda c: texts.count_text(c.value, lang),
        label=lambda scale: texts.scale_label(study, scale, lang),
        explain=lambda scale: texts.explanation(study, scale, lang),
        theme_label=lambda theme: theme.label(lang),
    )
