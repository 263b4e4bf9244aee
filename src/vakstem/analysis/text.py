"""The methods-and-results text of the analysis report, in Dutch and in English, written from
the results dictionary of `vakstem.analysis.plan` with APA-style numbers (χ²(df) = …,
CFI = …, β = …, 95% CI […, …]) so that a researcher can paste it into a paper."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Languages the text is written in.
LANGUAGES = ("nl", "en")


def num(value: Any, digits: int = 2, zero: bool = True) -> str:
    """A number with `digits` decimals; without the leading zero when `zero` is False (for
    values that cannot exceed 1, as APA style asks); a dash for a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    text = f"{float(value):.{digits}f}"
    if not zero:
        text = text.replace("0.", ".", 1)
    return text.replace("-", "−")


def pvalue(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "p = –"
    if float(value) < 0.001:
        return "p < .001"
    return f"p = {num(value, 3, zero=False)}"


def _ci(low: Any, high: Any, digits: int = 2) -> str:
    return f"[{num(low, digits)}, {num(high, digits)}]"


def _label(entry: Mapping[str, Any], lang: str, fallback: str) -> str:
    labels = entry.get("label") or {}
    return str(labels.get(lang) or fallback)


def _step(results: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    step: Mapping[str, Any] = results["steps"].get(name, {})
    return step


def _quality(results: Mapping[str, Any], nl: bool) -> str:
    q = _step(results, "quality")
    if "responses" not in q:
        return ""
    flags = q["flags"]
    rate = q.get("completion_rate")
    rate_text = num(100 * rate, 1) if rate is not None else "–"
    rule = ", ".join(q.get("exclusion_rule", [])) or ("geen" if nl else "none")
    if nl:
        return (
            f"Van de {q['responses']} gestarte responsen waren er {q['completed']} volledig "
            f"ingevuld ({rate_text}%). Volgens de vooraf vastgelegde uitsluitingsregel ({rule}) "
            f"zijn {q['excluded']} responsen uitgesloten: snelle invullers (minder dan een derde "
            f"van de mediane invultijd; {flags['speeder']}), rechtlijnige invullers (geen variatie "
            f"over een blok van 10 of meer items; {flags['straightliner']}), dubbele responsen "
            f"({flags['duplicate']}) en testresponsen ({flags['test']}). De analyses gebruiken "
            f"N = {q['analysed']} respondenten."
        )
    return (
        f"Of the {q['responses']} responses started, {q['completed']} were completed "
        f"({rate_text}%). Following the pre-registered exclusion rule ({rule}), {q['excluded']} "
        f"responses were excluded: speeders (under one third of the median completion time; "
        f"{flags['speeder']}), straightliners (no variance across a block of 10 or more items; "
        f"{flags['straightliner']}), duplicates ({flags['duplicate']}) and test responses "
        f"({flags['test']}). The analyses use N = {q['analysed']} respondents."
    )


def _reliability(results: Mapping[str, Any], nl: bool) -> str:
    rel = [r for r in _step(results, "reliability").get("scales", []) if r.get("problem") is None]
    if not rel:
        return ""
    alphas = sorted(rel, key=lambda r: r["raw_alpha"] if r["raw_alpha"] is not None else -9)
    omegas = sorted(
        (r for r in rel if r.get("omega_tot") is not None), key=lambda r: r["omega_tot"]
    )
    low, high = alphas[0], alphas[-1]
    if nl:
        text = (
            "Schaalscores zijn het gemiddelde van de beantwoorde items na omcoderen van de "
            "tegengesteld geformuleerde items, als ten minste twee derde van de items is "
            f"beantwoord. Cronbachs α varieerde van {num(low['raw_alpha'], 2, False)} "
            f"({low['scale']}) tot {num(high['raw_alpha'], 2, False)} ({high['scale']})"
        )
        if omegas:
            text += (
                f", McDonalds ω (totaal) van {num(omegas[0]['omega_tot'], 2, False)} "
                f"({omegas[0]['scale']}) tot {num(omegas[-1]['omega_tot'], 2, False)} "
                f"({omegas[-1]['scale']})"
            )
        return text + " (paarsgewijze berekening, zoals psych::alpha)."
    text = (
        "Scale scores are the mean of the answered items after reverse-keying, given when at "
        f"least two thirds of the items were answered. Cronbach's α ranged from "
        f"{num(low['raw_alpha'], 2, False)} ({low['scale']}) to "
        f"{num(high['raw_alpha'], 2, False)} ({high['scale']})"
    )
    if omegas:
        text += (
            f" and McDonald's ω (total) from {num(omegas[0]['omega_tot'], 2, False)} "
            f"({omegas[0]['scale']}) to {num(omegas[-1]['omega_tot'], 2, False)} "
            f"({omegas[-1]['scale']})"
        )
    return text + " (pairwise computation, as psych::alpha)."


def fit_text(fit: Mapping[str, Any], nl: bool) -> str:
    """χ²(df) = …, p …, CFI = …, TLI = …, RMSEA = … 90% CI […], SRMR = …, plus the scaled χ²."""
    text = (
        f"χ²({num(fit.get('df'), 0)}) = {num(fit.get('chisq'))}, {pvalue(fit.get('pvalue'))}, "
        f"CFI = {num(fit.get('cfi'), 3, False)}, TLI = {num(fit.get('tli'), 3, False)}, "
        f"RMSEA = {num(fit.get('rmsea'), 3, False)}, 90% "
        + ("BI" if nl else "CI")
        + f" [{num(fit.get('rmsea.ci.lower'), 3, False)}, "
        f"{num(fit.get('rmsea.ci.upper'), 3, False)}], "
        f"SRMR = {num(fit.get('srmr'), 3, False)}"
    )
    if fit.get("chisq.scaled") is not None:
        text += (
            "; "
            + ("geschaald (MLR)" if nl else "scaled (MLR)")
            + f" χ²({num(fit.get('df'), 0)}) = {num(fit.get('chisq.scaled'))}, "
            f"{pvalue(fit.get('pvalue.scaled'))}"
        )
        cfi = fit.get("cfi.robust") if fit.get("cfi.robust") is not None else fit.get("cfi.scaled")
        if cfi is not None:
            text += f", CFI = {num(cfi, 3, False)}"
    return text


def _measurement(results: Mapping[str, Any], nl: bool, lang: str) -> list[str]:
    out = []
    for model in _step(results, "measurement").get("models", []):
        name = _label(model, lang, model["id"])
        if model.get("status") != "ok":
            out.append(
                f"{name}: "
                + ("niet geschat" if nl else "not estimated")
                + f" ({model.get('message')})."
            )
            continue
        if nl:
            out.append(
                f"{name} (N = {model['nobs']}, ML met robuuste MLR-toets, ontbrekende waarden "
                f"met FIML): {fit_text(model['fit'], nl)}."
                if model.get("missing") == "ml"
                else f"{name} (N = {model['nobs']}): {fit_text(model['fit'], nl)}."
            )
        else:
            out.append(
                f"{name} (N = {model['nobs']}, ML with the robust MLR test, missing values by "
                f"FIML): {fit_text(model['fit'], nl)}."
                if model.get("missing") == "ml"
                else f"{name} (N = {model['nobs']}): {fit_text(model['fit'], nl)}."
            )
    return out


#: Fewer successful bootstrap draws than this give no percentile interval in the text (the
#: 2.5th and 97.5th percentiles of a handful of draws say little); the delta-method one is used.
MIN_BOOTSTRAP_FOR_TEXT = 200


def _std_interval(row: Mapping[str, Any], use_boot: bool) -> tuple[Any, Any, str]:
    """The interval of a standardised value: the bootstrap percentile one when enough draws
    were made, else the delta-method (Wald) one."""
    if use_boot and row.get("boot.std.lower") is not None:
        return row["boot.std.lower"], row.get("boot.std.upper"), "bootstrap"
    return row.get("std.ci.lower"), row.get("std.ci.upper"), "delta"


def _beta(row: Mapping[str, Any], nl: bool) -> str:
    low, high, _kind = _std_interval(row, use_boot=False)
    ci = "BI" if nl else "CI"
    interval = f", 95% {ci} {_ci(low, high)}" if low is not None else ""
    return f"β = {num(row.get('std.all'))}{interval}, {pvalue(row.get('pvalue'))}"


def _indirect(d: Mapping[str, Any], nl: bool, use_boot: bool) -> str:
    low, high, kind = _std_interval(d, use_boot)
    name = (
        ("bootstrap-BI" if nl else "bootstrap CI")
        if kind == "bootstrap"
        else ("BI" if nl else "CI")
    )
    text = f"{d['lhs']}: β = {num(d.get('std.all'), 3)}, 95% {name} {_ci(low, high, 3)}"
    if kind == "bootstrap" and d.get("boot.ci.lower") is not None:
        text += (
            f" (b = {num(d.get('est'), 3)}, 95% {name} "
            f"{_ci(d.get('boot.ci.lower'), d.get('boot.ci.upper'), 3)})"
        )
    return text


def _structural(results: Mapping[str, Any], nl: bool, lang: str) -> list[str]:
    out = []
    for model in _step(results, "structural").get("models", []):
        name = _label(model, lang, model["id"])
        if model.get("status") != "ok":
            out.append(
                f"{name}: "
                + ("niet geschat" if nl else "not estimated")
                + f" ({model.get('message')})."
            )
            continue
        regs = model.get("regressions", [])
        outcomes = list(dict.fromkeys(r["lhs"] for r in regs))
        parts = []
        for outcome in outcomes:
            rows = [r for r in regs if r["lhs"] == outcome]
            listed = "; ".join(f"{r['rhs']}: {_beta(r, nl)}" for r in rows)
            r2 = model.get("r2", {}).get(outcome)
            r2_text = f", R² = {num(r2, 2, False)}" if r2 is not None else ""
            parts.append(f"{outcome} ({listed}{r2_text})")
        boot = model.get("bootstrap", {})
        if nl:
            text = (
                f"{name} (N = {model['nobs']}, schatter {model['estimator']}): "
                f"{fit_text(model['fit'], nl)}. Gestandaardiseerde regressiecoëfficiënten met 95%-"
                "betrouwbaarheidsintervallen (deltamethode): " + "; ".join(parts) + "."
            )
        else:
            text = (
                f"{name} (N = {model['nobs']}, estimator {model['estimator']}): "
                f"{fit_text(model['fit'], nl)}. Standardised regression coefficients with 95% "
                "confidence intervals (delta method): " + "; ".join(parts) + "."
            )
        out.append(text)
        defined = model.get("defined", [])
        if defined:
            lead = (
                "Indirecte effecten via het mediërende construct: "
                if nl
                else "Indirect effects through the mediator: "
            )
            use_boot = boot.get("successful", 0) >= MIN_BOOTSTRAP_FOR_TEXT
            note = ""
            if not use_boot:
                note = (
                    f" (deltamethode; {boot.get('successful', 0)} bootstraptrekkingen is te weinig "
                    "voor een percentielinterval)"
                    if nl
                    else f" (delta method; {boot.get('successful', 0)} bootstrap draws are too "
                    "few for a percentile interval)"
                )
            out.append(lead + "; ".join(_indirect(d, nl, use_boot) for d in defined) + note + ".")
    return out


def _multilevel(results: Mapping[str, Any], nl: bool) -> list[str]:
    step = _step(results, "multilevel")
    iccs = [r for r in step.get("icc", []) if r.get("icc") is not None]
    out = []
    if iccs:
        ordered = sorted(iccs, key=lambda r: r["icc"])
        low, high = ordered[0], ordered[-1]
        if nl:
            out.append(
                f"Respondenten zijn genest in {step.get('clusters')} organisaties "
                f"({step.get('cluster')}). De intraclasscorrelaties (REML) varieerden van "
                f"{num(low['icc'], 3, False)} ({low['outcome']}) tot "
                f"{num(high['icc'], 3, False)} ({high['outcome']})."
            )
        else:
            out.append(
                f"Respondents are nested in {step.get('clusters')} organisations "
                f"({step.get('cluster')}). Intraclass correlations (REML) ranged from "
                f"{num(low['icc'], 3, False)} ({low['outcome']}) to "
                f"{num(high['icc'], 3, False)} ({high['outcome']})."
            )
    for model in step.get("models", []):
        mixed = model.get("random_intercept")
        robust = model.get("cluster_robust")
        if not mixed or not robust:
            continue
        terms = [c for c in mixed["coefficients"] if c["term"] != "(Intercept)"]
        listed = "; ".join(
            f"{c['term']}: b = {num(c['Estimate'], 3)}, SE = {num(c['Std. Error'], 3)}, "
            f"{pvalue(c['Pr(>|z|)'])}"
            + (
                f" ({'clusterrobuuste' if nl else 'cluster-robust'} SE = "
                f"{num(robust['se'].get(c['term']), 3)})"
            )
            for c in terms
        )
        if nl:
            out.append(
                f"Random-interceptmodel {model['formula']} (N = {mixed['nobs']}, "
                f"{mixed['ngroups']} clusters, ICC gegeven de voorspellers "
                f"{num(mixed['icc_adjusted'], 3, False)}): {listed}."
            )
        else:
            out.append(
                f"Random-intercept model {model['formula']} (N = {mixed['nobs']}, "
                f"{mixed['ngroups']} clusters, ICC given the predictors "
                f"{num(mixed['icc_adjusted'], 3, False)}): {listed}."
            )
    return out


def _invariance(results: Mapping[str, Any], nl: bool) -> list[str]:
    out = []
    for test in _step(results, "invariance").get("tests", []):
        if test.get("status") != "ok":
            out.append(
                (
                    f"Meetinvariantie van {test['model']} over {test['group']}: niet getoetst ("
                    if nl
                    else f"Measurement invariance of {test['model']} across {test['group']}: "
                    "not tested ("
                )
                + f"{test.get('message')})."
            )
            continue
        steps = test["steps"]
        parts = [
            ("configuraal " if nl else "configural ")
            + f"χ²({num(steps[0]['fit'].get('df'), 0)}) = {num(steps[0]['fit'].get('chisq'))}, "
            f"CFI = {num(steps[0]['fit'].get('cfi'), 3, False)}"
        ]
        for s in steps[1:]:
            name = (
                {"metric": "metrisch", "scalar": "scalair"}.get(s["step"], s["step"])
                if nl
                else s["step"]
            )
            parts.append(
                f"{name} Δχ²({num(s['df_diff'], 0)}) = {num(s['chisq_diff'])}, "
                f"{pvalue(s['pvalue_diff'])}, CFI = {num(s['fit'].get('cfi'), 3, False)}"
            )
        groups = ", ".join(
            f"{k}: n = {v}"
            for k, v in test["group_sizes"].items()
            if k not in test.get("left_out", {})
        )
        out.append(
            (
                f"Meetinvariantie van {test['model']} over {test['group']} ({groups}): "
                if nl
                else f"Measurement invariance of {test['model']} across {test['group']} "
                f"({groups}): "
            )
            + "; ".join(parts)
            + "."
        )
    return out


def _open(results: Mapping[str, Any], nl: bool) -> str:
    step = _step(results, "open_answers")
    questions = [q for q in step.get("questions", []) if "answered" in q]
    if not questions:
        return ""
    listed = ", ".join(f"{q['item']} {q['answered']}" for q in questions)
    if nl:
        return (
            f"Open antwoorden (aantal beantwoord per vraag: {listed}) zijn ingedeeld in thema's "
            "met trefwoorden; antwoorden worden nooit getoond voor groepen kleiner dan "
            f"{step.get('k_min')}."
        )
    return (
        f"Open answers (answered per question: {listed}) were coded into themes by keywords; "
        f"answers are never shown for groups smaller than {step.get('k_min')}."
    )


def methods_and_results(results: Mapping[str, Any], language: str) -> list[str]:
    """The text as paragraphs in `language` (nl or en)."""
    nl = language == "nl"
    paragraphs: Sequence[str] = [
        _quality(results, nl),
        _reliability(results, nl),
        *_measurement(results, nl, language),
        *_structural(results, nl, language),
        *_multilevel(results, nl),
        *_invariance(results, nl),
        _open(results, nl),
    ]
    return [p for p in paragraphs if p]
