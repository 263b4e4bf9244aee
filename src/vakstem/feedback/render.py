"""The Jinja2 environment of the feedback templates (autoescaped; `t` gives feedback texts in
the page's language, `num` writes a number the way that language does)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from vakstem.feedback import texts
from vakstem.instrument.schema import Study

TEMPLATE_DIR = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )


def render(name: str, *, language: str, study: Study, **context: Any) -> Markup:
    """A feedback template rendered in `language` (Dutch unless English is asked for). The
    texts speak of klantmanagers; for another study they speak of participants."""
    lang = "en" if language == "en" else "nl"
    people = texts.people(study, lang)

    def t(key: str, **params: Any) -> str:
        return texts.t(key, lang, **params).replace("klantmanagers", people)

    def num(value: float | None, digits: int = 1) -> str:
        return "" if value is None else texts.number(value, lang, digits)

    html = environment().get_template(name).render(lang=lang, t=t, num=num, **context)
    return Markup(html)
