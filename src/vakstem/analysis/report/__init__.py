"""The analysis report: one self-contained HTML file (inline CSS and SVG, no scripts, no
external requests) rendered from the results dictionary of `vakstem.analysis.plan`, so every
number in the report is a number of the JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from vakstem.analysis.report.svg import distribution_plot, path_diagram
from vakstem.analysis.text import methods_and_results, pvalue

_TEMPLATES = Path(__file__).resolve().parent


def fmt(value: Any, digits: int = 3) -> str:
    """A number as shown in the report's tables (the JSON holds it unrounded)."""
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    if isinstance(value, bool):
        return "ja/yes" if value else "nee/no"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(float(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["f"] = fmt
    env.filters["p"] = lambda v: pvalue(v)
    return env


def render_report(results: Mapping[str, Any]) -> str:
    """The report of one plan run as an HTML document."""
    steps = results["steps"]
    figures: dict[str, Any] = {"paths": {}, "distributions": {}}
    for model in steps.get("structural", {}).get("models", []):
        if model.get("status") == "ok":
            figures["paths"][model["id"]] = {
                lang: Markup(path_diagram(model, lang)) for lang in ("nl", "en")
            }
    dist = steps.get("open_answers", {}).get("distributions") or {}
    if dist.get("scales"):
        figures["distributions"] = Markup(
            distribution_plot(dist["scales"], str(dist.get("variable")), "nl")
        )
    text = {lang: methods_and_results(results, lang) for lang in ("nl", "en")}
    template = _environment().get_template("report.html")
    return template.render(r=results, s=steps, figures=figures, text=text)
