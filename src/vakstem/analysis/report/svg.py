"""The report's figures as inline SVG: the structural model's path diagram (drawn by hand, so
that its layout and marks are ours) and the distributions of the scales by group (matplotlib's
svg backend). Every figure carries a `<title>` and a `<desc>` that says in words what it shows."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt

#: Significance level of the solid/bold paths in the diagram.
ALPHA = 0.05


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _node(name: str, x: float, y: float, w: float, h: float, latent: bool) -> str:
    label = escape(name)
    if latent:
        shape = (
            f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
            'fill="#ffffff" stroke="#1a1a1a" stroke-width="1.5"/>'
        )
    else:
        shape = (
            f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" '
            'fill="#ffffff" stroke="#1a1a1a" stroke-width="1.5"/>'
        )
    return (
        f'<g>{shape}<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
        f'font-size="12">{label}</text></g>'
    )


def _edge_end(
    x1: float, y1: float, x2: float, y2: float, rx: float, ry: float
) -> tuple[float, float]:
    """Where the line from (x1, y1) to the centre (x2, y2) meets an ellipse/box of radii rx, ry."""
    dx, dy = x1 - x2, y1 - y2
    length = math.hypot(dx / rx, dy / ry) or 1.0
    return x2 + dx / length, y2 + dy / length


def path_diagram(model: Mapping[str, Any], language: str = "nl") -> str:
    """The regressions of a structural model with standardised coefficients (std.all).

    Significant paths (p < .05) are solid and bold, the others thin and dashed, with a legend:
    the difference never rests on colour alone."""
    rows = [r for r in model.get("regressions", []) if r.get("op") == "~"]
    latent = {r["lhs"] for r in model.get("loadings", [])}
    outcomes = list(dict.fromkeys(r["lhs"] for r in rows))
    # Mediators first: an outcome that predicts another outcome sits in the middle.
    mediators = [o for o in outcomes if any(r["rhs"] == o for r in rows)]
    finals = [o for o in outcomes if o not in mediators]
    predictors = [p for p in dict.fromkeys(r["rhs"] for r in rows) if p not in outcomes]
    row_h = 34
    height = max(220, 70 + row_h * len(predictors))
    width = 820
    pos: dict[str, tuple[float, float]] = {}
    for i, name in enumerate(predictors):
        pos[name] = (95.0, 50.0 + i * row_h)
    for i, name in enumerate(mediators):
        pos[name] = (470.0, height * (i + 1) / (len(mediators) + 2))
    for i, name in enumerate(finals):
        pos[name] = (720.0, height * (i + 2) / (len(finals) + 2.5))
    size = {n: ((120.0, 26.0) if n not in latent else (90.0, 30.0)) for n in pos}
    for name in [*mediators, *finals]:
        size[name] = (110.0, 44.0)
    nl = language == "nl"
    edges = []
    words = []
    for r in rows:
        if r["lhs"] not in pos or r["rhs"] not in pos:
            continue
        x1, y1 = pos[r["rhs"]]
        x2, y2 = pos[r["lhs"]]
        sx, sy = _edge_end(x2, y2, x1, y1, size[r["rhs"]][0] / 2, size[r["rhs"]][1] / 2)
        ex, ey = _edge_end(x1, y1, x2, y2, size[r["lhs"]][0] / 2 + 2, size[r["lhs"]][1] / 2 + 2)
        p = r.get("pvalue")
        significant = p is not None and math.isfinite(p) and p < ALPHA
        style = (
            'stroke="#1a1a1a" stroke-width="2.2"'
            if significant
            else 'stroke="#555555" stroke-width="1" stroke-dasharray="5 4"'
        )
        edges.append(
            f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" {style} '
            'marker-end="url(#arrow)"/>'
        )
        # Labels sit at a fixed distance from their predictor (closer for paths to the
        # mediator), where the lines are still far enough apart not to overlap.
        if r["rhs"] in predictors and ex != sx:
            offset = 55.0 if r["lhs"] in mediators else 150.0
            share = min(0.9, offset / (ex - sx))
        else:
            share = 0.5
        lx, ly = sx + (ex - sx) * share, sy + (ey - sy) * share
        text = _num(r.get("std.all")) + ("*" if significant else "")
        edges.append(
            f'<rect x="{lx - 19:.1f}" y="{ly - 9:.1f}" width="38" height="14" fill="#ffffff" '
            f'opacity="0.9"/><text x="{lx:.1f}" y="{ly + 2:.1f}" text-anchor="middle" '
            f'font-size="10">{escape(text)}</text>'
        )
        words.append(
            f"{r['rhs']} → {r['lhs']}: β = {_num(r.get('std.all'))}"
            + (" (p < .05)" if significant else " (n.s.)")
        )
    nodes = [_node(n, x, y, *size[n], latent=n in latent) for n, (x, y) in pos.items()]
    legend_y = height + 10
    legend = (
        f'<g font-size="11"><line x1="20" y1="{legend_y + 8}" x2="70" y2="{legend_y + 8}" '
        'stroke="#1a1a1a" stroke-width="2.2"/>'
        f'<text x="78" y="{legend_y + 12}">'
        + (
            "significant (p &lt; .05), gemarkeerd met *"
            if nl
            else "significant (p &lt; .05), marked *"
        )
        + f'</text><line x1="330" y1="{legend_y + 8}" x2="380" y2="{legend_y + 8}" '
        'stroke="#555555" stroke-width="1" stroke-dasharray="5 4"/>'
        f'<text x="388" y="{legend_y + 12}">'
        + ("niet significant" if nl else "not significant")
        + f'</text><text x="530" y="{legend_y + 12}">'
        + (
            "ellips = latent, rechthoek = gemeten"
            if nl
            else "ellipse = latent, rectangle = observed"
        )
        + "</text></g>"
    )
    title = (
        "Padmodel met gestandaardiseerde coëfficiënten (β)"
        if nl
        else "Path diagram with standardised coefficients (β)"
    )
    desc = "; ".join(words)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} '
        f'{legend_y + 30}" width="100%" aria-labelledby="pd-title-{language} pd-desc-{language}">'
        f'<title id="pd-title-{language}">{escape(title)}</title>'
        f'<desc id="pd-desc-{language}">{escape(desc)}</desc>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#1a1a1a"/></marker></defs>'
        f'<g font-family="sans-serif">{"".join(edges)}{"".join(nodes)}{legend}</g></svg>'
    )


def _clean_svg(svg: str, title: str, desc: str) -> str:
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    head_end = svg.index(">") + 1
    head = svg[:head_end].replace("<svg ", '<svg role="img" ', 1)
    return head + f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>" + svg[head_end:]


def distribution_plot(
    scales: Sequence[Mapping[str, Any]], variable: str, language: str = "nl"
) -> str:
    """Box plots (from the five-number summaries) of each scale by group, small multiples."""
    shown = [s for s in scales if any("median" in g for g in s["groups"])]
    if not shown:
        return ""
    plt.rcParams["svg.hashsalt"] = "vakstem"
    plt.rcParams["svg.fonttype"] = "none"
    cols = 4
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.3 * rows), squeeze=False)
    words = []
    for ax, scale in zip(axes.flat, shown, strict=False):
        groups = [g for g in scale["groups"] if "median" in g]
        stats = [
            {
                "med": g["median"],
                "q1": g["q1"],
                "q3": g["q3"],
                "whislo": g["min"],
                "whishi": g["max"],
                "label": g["group"],
            }
            for g in groups
        ]
        ax.bxp(stats, showfliers=False, patch_artist=False)
        name = scale["label"].get(language) or scale["scale"]
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_ylim(0.8, 5.2)
        words.append(
            f"{name}: "
            + ", ".join(f"{g['group']} median {_num(g['median'])} (n = {g['n']})" for g in groups)
        )
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    nl = language == "nl"
    title = (
        f"Verdeling van de schaalscores per {variable}"
        if nl
        else f"Distribution of scale scores by {variable}"
    )
    return _clean_svg(buffer.getvalue(), title, "; ".join(words))
