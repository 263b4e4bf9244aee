"""Small, hand-built SVG plots of scores on a 1-5 scale: interquartile bars, median ticks and
own-score dots, one row per scale.

Written by hand rather than with matplotlib: the marks are few, the file stays a few kB, text
stays text (selectable, found by pdftotext), and only presentation attributes are used (no
`style`), so the plots pass the web app's strict Content-Security-Policy. Marks differ in
shape, not only in colour: a bar for the middle half, a vertical tick for the median, a round
dot for the respondent's own score, a diamond for an organisation's median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 420
LEFT, RIGHT = 14, 14
INK = "#1b1b1b"
BRAND = "#0b4f8a"
GREY = "#7d8ca3"


@dataclass(frozen=True)
class Series:
    """One mark set in a row: `style` is "all" (grey bar, black tick), "org" (filled bar,
    diamond) or "others" (open bar, tick). `own` adds a dot for the respondent's own score."""

    style: str
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    own: float | None = None
    label: str = ""


@dataclass(frozen=True)
class PlotRow:
    label: str
    series: tuple[Series, ...]


def _x(value: float, low: float, high: float) -> float:
    span = (WIDTH - LEFT - RIGHT) / (high - low)
    return round(LEFT + (min(max(value, low), high) - low) * span, 1)


def _attrs(**attrs: object) -> str:
    # Python names to SVG names: stroke_width -> stroke-width, class_ -> class.
    return " ".join(
        f'{k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items()
    )


def _el(tag: str, text: str | None = None, **attrs: object) -> str:
    if text is None:
        return f"<{tag} {_attrs(**attrs)}/>"
    return f"<{tag} {_attrs(**attrs)}>{escape(text)}</{tag}>"


def _series(series: Series, y: float, low: float, high: float) -> list[str]:
    out: list[str] = []
    if series.q1 is not None and series.q3 is not None:
        x1, x3 = _x(series.q1, low, high), _x(series.q3, low, high)
        width = max(x3 - x1, 2.0)
        if series.style == "org":
            out.append(_el("rect", x=x1, y=y - 7, width=width, height=14, fill=BRAND))
        elif series.style == "others":
            out.append(
                _el(
                    "rect", x=x1, y=y - 6, width=width, height=12, fill="#ffffff", stroke=INK,
                    stroke_width=2,
                )
            )  # fmt: skip
        else:
            out.append(_el("rect", x=x1, y=y - 7, width=width, height=14, fill=GREY))
    if series.median is not None:
        xm = _x(series.median, low, high)
        if series.style == "org":
            points = f"{xm},{y - 10} {xm + 8},{y} {xm},{y + 10} {xm - 8},{y}"
            out.append(_el("polygon", points=points, fill="#ffffff", stroke=INK, stroke_width=2))
        else:
            out.append(_el("line", x1=xm, x2=xm, y1=y - 11, y2=y + 11, stroke=INK, stroke_width=3))
    if series.own is not None:
        xo = _x(series.own, low, high)
        out.append(_el("circle", cx=xo, cy=y, r=7, fill=BRAND, stroke="#ffffff", stroke_width=2))
    return out


def score_plot(
    rows: Sequence[PlotRow],
    *,
    title: str,
    description: str,
    low: float = 1.0,
    high: float = 5.0,
    plot_id: str = "plot",
) -> Markup:
    """An SVG with one labelled row per scale; each series of a row on its own line."""
    line_h = 24
    label_h = 8
    y = 38.0
    body: list[str] = []
    for row in rows:
        body.append(_el("text", row.label, x=LEFT, y=y, font_size=15, fill=INK))
        y += label_h - 4
        for series in row.series:
            centre = y + line_h / 2
            body.append(
                _el(
                    "line", x1=LEFT, x2=WIDTH - RIGHT, y1=centre, y2=centre, stroke="#d5d9e0",
                    stroke_width=1,
                )
            )  # fmt: skip
            body.extend(_series(series, centre, low, high))
            y += line_h
        y += 18
    height = y
    axis: list[str] = []
    steps = int(high - low)
    for i in range(steps + 1):
        value = low + i
        xv = _x(value, low, high)
        axis.append(_el("line", x1=xv, x2=xv, y1=18, y2=height - 8, stroke="#e6e8ec"))
        axis.append(
            _el("text", f"{value:g}", x=xv, y=14, font_size=13, fill=INK, text_anchor="middle")
        )
    title_id, desc_id = f"{plot_id}-title", f"{plot_id}-desc"
    root = _attrs(
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {WIDTH} {height:g}",
        width="100%",
        role="img",
        aria_labelledby=f"{title_id} {desc_id}",
        font_family="system-ui, sans-serif",
        class_="plot",
    )
    svg = (
        f"<svg {root}>"
        + _el("title", title, id=title_id)
        + _el("desc", description, id=desc_id)
        + "".join(axis)
        + "".join(body)
        + "</svg>"
    )
    return Markup(svg)
