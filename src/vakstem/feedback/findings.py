"""The main findings of the analysis plan in plain language (Dutch B1 and English), for the
public summary, from the latest stored analysis run (`vakstem analyse STUDY` stores it).

The plan runner is far too slow for a page request, so findings are only ever read from a
stored run. Disclosure: a run is only used when the responses it analysed number at least the
study's `k` (`disclosure.check_k`), and findings use whole-sample figures only (standardised
paths of the structural model, its indirect effects and reliability), never a subgroup.
Wording says "goes together with", never "causes": these are associations in survey data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from vakstem.feedback.data import FeedbackData
from vakstem.feedback.disclosure import Disclosure, check_k
from vakstem.feedback.summary import Finding
from vakstem.instrument.schema import Study, text_in
from vakstem.store.analysis_runs import latest_run

#: Latent variables and observed predictors of the structural model, by role. The names are
#: those of the klantmanager study's plan; a plan without them simply gives fewer findings.
ACTION = "PROF"
PERFORMANCE = "PERF"
HR_PRACTICES = ("SCH", "CO", "pa_1", "BEO")
DISCRETION = "BR"
WORKLOAD = "WD"
CASELOAD = "cl_2"
#: Below this many bootstrap draws an interval from them is too rough; the delta-method
#: interval is used instead (as in the methods text of the report).
MIN_BOOT_DRAWS = 200
#: Reliability (omega, else alpha) from which a scale counts as reliable enough.
RELIABLE = 0.70

_WORDS: dict[str, tuple[str, str]] = {
    "hr_some": (
        "Klantmanagers die meer {names} ervaren, handelen vaker professioneel ({figures}).",
        "Klantmanagers who experience more {names} act more often in a professional way "
        "({figures}).",
    ),
    "hr_none": (
        "Geen van de HR-maatregelen ({names}) hangt duidelijk samen met professioneel "
        "handelen ({figures}).",
        "None of the HR practices ({names}) clearly goes together with professional action "
        "({figures}).",
    ),
    "hr_rest": (
        " Bij {names} zien we geen duidelijke samenhang.",
        " For {names} we see no clear association.",
    ),
    "br_pos": (
        "Klantmanagers met meer beslisruimte handelen vaker professioneel ({figure}).",
        "Klantmanagers with more discretion act more often in a professional way ({figure}).",
    ),
    "br_neg": (
        "Klantmanagers met meer beslisruimte handelen minder vaak professioneel ({figure}).",
        "Klantmanagers with more discretion act less often in a professional way ({figure}).",
    ),
    "br_none": (
        "Beslisruimte hangt niet duidelijk samen met professioneel handelen ({figure}).",
        "Discretion does not clearly go together with professional action ({figure}).",
    ),
    "perf_pos": (
        "Wie vaker professioneel handelt, beoordeelt de eigen prestaties ook hoger ({figure}).",
        "Those who act more often in a professional way also rate their own performance "
        "higher ({figure}).",
    ),
    "perf_neg": (
        "Wie vaker professioneel handelt, beoordeelt de eigen prestaties lager ({figure}).",
        "Those who act more often in a professional way rate their own performance lower "
        "({figure}).",
    ),
    "perf_none": (
        "Professioneel handelen hangt niet duidelijk samen met de eigen prestaties ({figure}).",
        "Professional action does not clearly go together with one's own performance ({figure}).",
    ),
    "load": (
        "Werkdruk: {workload}. Caseload (per honderd klanten): {caseload}.",
        "Workload: {workload}. Caseload (per hundred clients): {caseload}.",
    ),
    "load_pos": (
        "gaat samen met meer professioneel handelen",
        "goes with more professional action",
    ),
    "load_neg": (
        "gaat samen met minder professioneel handelen",
        "goes with less professional action",
    ),
    "load_none": ("geen duidelijke samenhang", "no clear association"),
    "ind_some": (
        "Via professioneel handelen hangen {names} ook samen met de eigen prestaties "
        "(indirect: {figures}).",
        "Through professional action, {names} also go together with one's own performance "
        "(indirect: {figures}).",
    ),
    "ind_none": (
        "We zien geen duidelijke indirecte samenhang van HR-maatregelen met prestaties via "
        "professioneel handelen ({figures}).",
        "We see no clear indirect association of HR practices with performance through "
        "professional action ({figures}).",
    ),
    "reliability": (
        "{good} van de {total} schalen meten betrouwbaar genoeg (betrouwbaarheid 0,70 of "
        "hoger; van {low} tot {high}).",
        "{good} of the {total} scales measure reliably enough (reliability 0.70 or higher; "
        "from {low} to {high}).",
    ),
    "and": ("en", "and"),
    "ci": ("95%-BI", "95% CI"),
    "to": ("tot", "to"),
}


def _w(key: str, language: str) -> str:
    nl, en = _WORDS[key]
    return en if language == "en" else nl


def _number(value: float, language: str) -> str:
    # No "−0.00": a value that rounds to zero is shown without a sign.
    text = f"{value:.2f}" if round(value, 2) != 0 else "0.00"
    if language != "en":
        text = text.replace(".", ",")
    return text.replace("-", "\u2212")


def _join(names: Sequence[str], language: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {_w('and', language)} {names[-1]}"


class _Path:
    """A standardised path with its 95% interval."""

    def __init__(self, row: Mapping[str, Any], boot_ok: bool) -> None:
        self.name = str(row.get("rhs") if row.get("op") == "~" else row.get("lhs"))
        self.beta = float(row["std.all"])
        lower, upper = row.get("std.ci.lower"), row.get("std.ci.upper")
        if boot_ok and row.get("boot.std.lower") is not None:
            lower, upper = row.get("boot.std.lower"), row.get("boot.std.upper")
        self.lower = None if lower is None else float(lower)
        self.upper = None if upper is None else float(upper)

    @property
    def clear(self) -> bool:
        """Whether the interval leaves out zero (clearly different from zero)."""
        return (
            self.lower is not None and self.upper is not None and (self.lower > 0 or self.upper < 0)
        )

    def figure(self, language: str) -> str:
        beta = f"β = {_number(self.beta, language)}"
        if self.lower is None or self.upper is None:
            return beta
        return (
            f"{beta}; {_w('ci', language)} {_number(self.lower, language)} "
            f"{_w('to', language)} {_number(self.upper, language)}"
        )


def _label(study: Study, name: str, language: str) -> str:
    lowered = name.lower()
    for scale in study.scales:
        if scale.id == lowered:
            return text_in(scale.label, language, study.default_language).lower()
    try:
        item = study.item(name)
    except (KeyError, ValueError):
        item = None
    if item is None:
        return name
    return text_in(item.label or item.text, language, study.default_language).lower()


def _structural_model(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    step = results.get("steps", {}).get("structural", {})
    if step.get("status") != "ok":
        return None
    for model in step.get("models", []):
        if model.get("status") != "ok":
            continue
        outcomes = {r.get("lhs") for r in model.get("regressions", [])}
        if ACTION in outcomes:
            return model  # type: ignore[no-any-return]
    return None


def findings_from_results(
    study: Study, results: Mapping[str, Any], language: str, k: int
) -> tuple[Finding, ...] | None:
    """3–6 findings from `results` (`PlanResults.to_dict()`), or None when the run analysed
    fewer than `k` responses or gives nothing to say."""
    lang = "en" if language == "en" else "nl"
    k = check_k(k)
    quality = results.get("steps", {}).get("quality", {})
    analysed = quality.get("analysed") if quality.get("status") == "ok" else None
    if analysed is None:
        analysed = results.get("reproducibility", {}).get("rows_in_data", 0)
    if not isinstance(analysed, int) or analysed < k:
        return None
    found: list[str] = []
    model = _structural_model(results)
    if model is not None and int(model.get("nobs", 0)) >= k:
        boot = model.get("bootstrap", {})
        boot_ok = int(boot.get("successful", 0) or 0) >= MIN_BOOT_DRAWS
        paths = {
            str(r["rhs"]): _Path(r, boot_ok)
            for r in model.get("regressions", [])
            if r.get("lhs") == ACTION and r.get("std.all") is not None
        }
        found.extend(_hr_finding(study, paths, lang))
        if DISCRETION in paths:
            path = paths[DISCRETION]
            key = "br_none" if not path.clear else ("br_pos" if path.beta > 0 else "br_neg")
            found.append(_w(key, lang).format(figure=path.figure(lang)))
        perf = [
            _Path(r, boot_ok)
            for r in model.get("regressions", [])
            if r.get("lhs") == PERFORMANCE
            and r.get("rhs") == ACTION
            and r.get("std.all") is not None
        ]
        if perf:
            path = perf[0]
            key = "perf_none" if not path.clear else ("perf_pos" if path.beta > 0 else "perf_neg")
            found.append(_w(key, lang).format(figure=path.figure(lang)))
        if WORKLOAD in paths and CASELOAD in paths:
            found.append(
                _w("load", lang).format(
                    workload=_load_text(paths[WORKLOAD], lang),
                    caseload=_load_text(paths[CASELOAD], lang),
                )
            )
        found.extend(_indirect_finding(study, model, boot_ok, lang))
    found.extend(_reliability_finding(results, k, lang))
    if len(found) < 3:
        return None
    return tuple(Finding(text) for text in found[:6])


def _hr_finding(study: Study, paths: Mapping[str, _Path], language: str) -> list[str]:
    present = [paths[name] for name in HR_PRACTICES if name in paths]
    if not present:
        return []
    clear = sorted((p for p in present if p.clear and p.beta > 0), key=lambda p: -p.beta)
    rest = [p for p in present if p not in clear]
    if not clear:
        return [
            _w("hr_none", language).format(
                names=_join([_label(study, p.name, language) for p in present], language),
                figures="; ".join(
                    f"{_label(study, p.name, language)}: {p.figure(language)}" for p in present
                ),
            )
        ]
    text = _w("hr_some", language).format(
        names=_join([_label(study, p.name, language) for p in clear], language),
        figures="; ".join(
            f"{_label(study, p.name, language)}: {p.figure(language)}" for p in clear
        ),
    )
    if rest:
        text += _w("hr_rest", language).format(
            names=_join([_label(study, p.name, language) for p in rest], language)
        )
    return [text]


def _load_text(path: _Path, language: str) -> str:
    key = "load_none" if not path.clear else ("load_pos" if path.beta > 0 else "load_neg")
    return f"{_w(key, language)} ({path.figure(language)})"


def _indirect_finding(
    study: Study, model: Mapping[str, Any], boot_ok: bool, language: str
) -> list[str]:
    # The plan's single-practice indirect effects are named ind_<predictor>; the sums over
    # AMO dimensions (ind_A, ...) would repeat them.
    by_name = {name.lower(): name for name in HR_PRACTICES}
    paths = []
    for row in model.get("defined", []):
        name = str(row.get("lhs", ""))
        target = by_name.get(name.removeprefix("ind_").lower())
        if name.startswith("ind_") and target and row.get("std.all") is not None:
            path = _Path(row, boot_ok)
            path.name = target
            paths.append(path)
    if not paths:
        return []
    clear = [p for p in paths if p.clear]
    shown = clear or paths
    figures = "; ".join(f"{_label(study, p.name, language)}: {p.figure(language)}" for p in shown)
    if not clear:
        return [_w("ind_none", language).format(figures=figures)]
    names = _join([_label(study, p.name, language) for p in clear], language)
    return [_w("ind_some", language).format(names=names, figures=figures)]


def _reliability_finding(results: Mapping[str, Any], k: int, language: str) -> list[str]:
    step = results.get("steps", {}).get("reliability", {})
    if step.get("status") != "ok":
        return []
    values = []
    for scale in step.get("scales", []):
        if int(scale.get("n") or 0) < k:
            continue
        value = scale.get("omega_tot")
        if value is None:
            value = scale.get("raw_alpha")
        if value is not None:
            values.append(float(value))
    if not values:
        return []
    return [
        _w("reliability", language).format(
            good=sum(v >= RELIABLE for v in values),
            total=len(values),
            low=_number(min(values), language),
            high=_number(max(values), language),
        )
    ]


def stored_findings(
    engine: Engine,
) -> Callable[[FeedbackData, str, Disclosure], tuple[Finding, ...] | None]:
    """A findings source for `build_summary`: the latest stored run of the study, if any."""

    def source(
        data: FeedbackData, language: str, disclosure: Disclosure
    ) -> tuple[Finding, ...] | None:
        run = latest_run(engine, data.study.id)
        if run is None or run.n_used < data.k:
            return None
        return findings_from_results(data.study, run.results, language, data.k)

    return source
