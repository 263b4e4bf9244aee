"""Plain-text summary of a fit, laid out like lavaan's `summary(fit, standardized = TRUE)`: the
fit block first, then Latent Variables, Regressions, Covariances, Intercepts, Variances and
Defined Parameters, per group."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vakstem.analysis.sem.api import FitResult

WIDTH = 54


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    number = float(value)
    if math.isnan(number):
        return ""
    if float(number).is_integer() and digits == 0:
        return f"{int(number)}"
    return f"{number:.{digits}f}"


def _line(label: str, *values: str) -> str:
    text = f"  {label}"
    if len(values) == 1:
        return text.ljust(WIDTH - len(values[0])) + values[0]
    standard, scaled = values
    return text.ljust(WIDTH - len(standard)) + standard + scaled.rjust(12)


def render_summary(result: FitResult) -> str:
    m = result.fit_measures
    robust = result.estimator == "MLR"
    out: list[str] = []
    out.append("Vakstem SEM engine (lavaan 0.6.14 compatible) ended normally")
    out.append("")
    out.append(_line("Estimator", result.estimator))
    out.append(_line("Optimization method", "SCORING + BFGS"))
    out.append(_line("Number of model parameters", _number(m["npar"], 0)))
    out.append("")
    if result.group:
        out.append(_line("Number of observations per group:", ""))
        for label, n in zip(result.group_labels, result.n_obs, strict=True):
            out.append(_line(f"  {label}", str(n)))
    else:
        out.append(_line("Number of observations", str(result.n_obs[0])))
    if result.cluster is not None:
        # As lavaan prints it: the clusters per group, or of the single group.
        if result.group:
            out.append(_line(f"Number of clusters [{result.cluster}] per group:", ""))
            for label, count in zip(result.group_labels, result.n_clusters, strict=True):
                out.append(_line(f"  {label}", str(count)))
        else:
            out.append(_line(f"Number of clusters [{result.cluster}]", str(result.n_clusters[0])))
    if result.missing == "ml":
        out.append(_line("Missing data handling", "full information ML"))
    out.append("")

    def block(title: str, rows: list[tuple[str, str, str]]) -> None:
        out.append(title)
        if robust:
            out.append(_line("", "Standard", "Scaled"))
        for label, standard, scaled in rows:
            if robust:
                out.append(_line(label, standard, scaled))
            else:
                out.append(_line(label, standard))
        out.append("")

    def value(key: str, digits: int = 3) -> str:
        return _number(m.get(key), digits)

    test_rows = [
        ("Test Statistic", value("chisq"), value("chisq.scaled")),
        ("Degrees of freedom", value("df", 0), value("df.scaled", 0)),
        ("P-value (Chi-square)", value("pvalue"), value("pvalue.scaled")),
    ]
    if robust:
        test_rows.append(("Scaling correction factor", "", value("chisq.scaling.factor")))
        test_rows.append(("  Yuan-Bentler correction (Mplus variant)", "", ""))
    block("Model Test User Model:", test_rows)
    block(
        "Model Test Baseline Model:",
        [
            ("Test statistic", value("baseline.chisq"), value("baseline.chisq.scaled")),
            ("Degrees of freedom", value("baseline.df", 0), value("baseline.df.scaled", 0)),
            ("P-value", value("baseline.pvalue"), value("baseline.pvalue.scaled")),
        ],
    )
    block(
        "User Model versus Baseline Model:",
        [
            ("Comparative Fit Index (CFI)", value("cfi"), value("cfi.scaled")),
            ("Tucker-Lewis Index (TLI)", value("tli"), value("tli.scaled")),
        ]
        + (
            [
                ("Robust Comparative Fit Index (CFI)", "", value("cfi.robust")),
                ("Robust Tucker-Lewis Index (TLI)", "", value("tli.robust")),
            ]
            if robust
            else []
        ),
    )
    block(
        "Loglikelihood and Information Criteria:",
        [
            ("Loglikelihood user model (H0)", value("logl"), value("logl")),
            ("Loglikelihood unrestricted model (H1)", value("unrestricted.logl"), ""),
            ("Akaike (AIC)", value("aic"), value("aic")),
            ("Bayesian (BIC)", value("bic"), value("bic")),
        ],
    )
    block(
        "Root Mean Square Error of Approximation:",
        [
            ("RMSEA", value("rmsea"), value("rmsea.scaled")),
            (
                "90 Percent confidence interval - lower",
                value("rmsea.ci.lower"),
                value("rmsea.ci.lower.scaled"),
            ),
            (
                "90 Percent confidence interval - upper",
                value("rmsea.ci.upper"),
                value("rmsea.ci.upper.scaled"),
            ),
            ("P-value H_0: RMSEA <= 0.050", value("rmsea.pvalue"), value("rmsea.pvalue.scaled")),
        ]
        + (
            [
                ("Robust RMSEA", "", value("rmsea.robust")),
                ("90 Percent confidence interval - lower", "", value("rmsea.ci.lower.robust")),
                ("90 Percent confidence interval - upper", "", value("rmsea.ci.upper.robust")),
            ]
            if robust
            else []
        ),
    )
    block("Standardized Root Mean Square Residual:", [("SRMR", value("srmr"), value("srmr"))])
    out.append("Parameter Estimates:")
    out.append("")
    out.append(_line("Standard errors", "Sandwich" if robust else "Standard"))
    info = "Observed" if robust or result.missing == "ml" else "Expected"
    out.append(_line("Information", info))
    out.append("")
    out.extend(_parameter_blocks(result))
    for warning in result.warnings:
        out.append(f"Warning: {warning}")
    return "\n".join(out).rstrip() + "\n"


def _parameter_blocks(result: FitResult) -> list[str]:
    frame = result.parameters
    records: list[dict[str, Any]] = [
        {str(key): value for key, value in record.items()}
        for record in frame.to_dict(orient="records")
    ]
    header = (
        " " * 20
        + "Estimate".rjust(9)
        + "Std.Err".rjust(9)
        + "z-value".rjust(9)
        + "P(>|z|)".rjust(9)
        + "Std.lv".rjust(9)
        + "Std.all".rjust(9)
    )
    if result.bootstrap:
        header += "boot.lower".rjust(11) + "boot.upper".rjust(11)
    endogenous = {str(r["rhs"]) for r in records if r["op"] == "=~"} | {
        str(r["lhs"]) for r in records if r["op"] == "~"
    }
    lines: list[str] = []

    def fmt(record: dict[str, Any], name: str) -> str:
        label = f"({record['label']})" if record["label"] else ""
        text = f"    {name}".ljust(14) + label.rjust(6)
        free = float(record["se"]) > 0 or record["op"] == ":="
        text += _number(record["est"]).rjust(9)
        text += (_number(record["se"]) if free else "").rjust(9)
        text += (_number(record["z"]) if free else "").rjust(9)
        text += (_number(record["pvalue"]) if free else "").rjust(9)
        text += _number(record["std.lv"]).rjust(9)
        text += _number(record["std.all"]).rjust(9)
        if result.bootstrap and record["op"] == ":=":
            text += _number(record.get("boot.ci.lower")).rjust(11)
            text += _number(record.get("boot.ci.upper")).rjust(11)
        return text

    groups = sorted({int(r["group"]) for r in records if r["op"] != ":="})
    for g in groups:
        if len(groups) > 1:
            lines.append(f"Group {g} [{result.group_labels[g - 1]}]:")
            lines.append("")
        rows = [r for r in records if int(r["group"]) == g]
        sections: list[tuple[str, list[dict[str, Any]], bool]] = [
            ("Latent Variables:", [r for r in rows if r["op"] == "=~"], True),
            ("Regressions:", [r for r in rows if r["op"] == "~"], True),
            ("Covariances:", [r for r in rows if r["op"] == "~~" and r["lhs"] != r["rhs"]], True),
            ("Intercepts:", [r for r in rows if r["op"] == "~1"], False),
            ("Variances:", [r for r in rows if r["op"] == "~~" and r["lhs"] == r["rhs"]], False),
        ]
        for title, section, grouped in sections:
            if not section:
                continue
            lines.append(title)
            lines.append(header)
            current = None
            for record in section:
                if grouped:
                    if record["lhs"] != current:
                        current = record["lhs"]
                        prefix = "." if record["op"] == "~~" and current in endogenous else ""
                        lines.append(f"  {prefix}{current} {record['op']}")
                    name = str(record["rhs"])
                    if record["op"] == "~~" and name in endogenous:
                        name = "." + name
                else:
                    name = str(record["lhs"])
                    if name in endogenous:
                        name = "." + name
                lines.append(fmt(record, name))
            lines.append("")
    defined = [r for r in records if r["op"] == ":="]
    if defined:
        lines.append("Defined Parameters:")
        lines.append(header)
        for record in defined:
            lines.append(fmt({**record, "label": ""}, f"{record['lhs']}"))
        lines.append("")
    return lines
