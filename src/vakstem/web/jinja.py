"""The Jinja2 environment of the respondent pages (autoescaped; interface texts through `_()`,
questionnaire texts escaped, then formatted) and the cache-busting URLs of the static files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.bccache import Bucket, BytecodeCache
from markupsafe import Markup

from vakstem.instrument.textformat import plain_text, to_html, to_html_inline
from vakstem.web.i18n import Catalogues

WEB_DIR = Path(__file__).parent
TEMPLATE_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


def paragraphs(text: str | None) -> Markup:
    """Questionnaire text as HTML blocks with the formatting subset of
    `vakstem.instrument.textformat` (escaped first: study authors write text, not HTML)."""
    return to_html(text)


def _static_versions() -> dict[str, str]:
    """A short content hash per static file, appended to its URL so browsers may cache it long."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


class _SharedBytecode(BytecodeCache):
    """Compiled templates kept for every environment of the process: each app (each test
    makes its own) compiled the same templates again. Jinja checks each template's source
    against the checksum stored with its code, so an edited template is compiled anew."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _SharedBytecode()


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        bytecode_cache=_BYTECODE,
        autoescape=select_autoescape(("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # A misspelt variable must fail the tests, not render as an empty string.
        undefined=StrictUndefined,
        # Templates ship with the package and change only with a new release (and restart);
        # checking their modification time on every render was a measurable part of a page.
        auto_reload=False,
    )
    env.filters["paragraphs"] = paragraphs
    env.filters["inline"] = to_html_inline
    env.filters["plain"] = plain_text
    versions = _static_versions()

    def static_url(name: str) -> str:
        return f"/static/{name}?v={versions.get(name, '0')}"

    env.globals["static_url"] = static_url
    return env


def render_template(
    env: Environment, catalogues: Catalogues, name: str, *, language: str, **context: Any
) -> str:
    """A page in `language`: `_` in the template translates through the interface catalogues."""
    lang = catalogues.language(language)
    context.setdefault("header_title", "Vakstem")
    context.setdefault("switch", [])
    context.setdefault("page_title", context.get("header_title"))
    # The footer links to the study's privacy statement on pages that belong to a study.
    context.setdefault("privacy_url", "")
    return env.get_template(name).render(lang=lang, _=catalogues.translator(lang), **context)
