"""The small formatting subset of questionnaire texts: paragraphs, `**bold**`, `*italic*`,
bulleted lists with `- `, links `[text](https://...)` and bare e-mail addresses.

`to_html` escapes the text first and only then applies the subset, so no HTML written by a study
author ever reaches a page; `to_html_inline` does the same for one-line texts (labels, hints).
`plain_text` strips the markers for places that show plain text (codebook, exports).
"""

from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import Markup, escape

# Applied to already escaped text: `<`, `>`, `"` and `'` cannot occur in a match, so a URL can
# neither close the href attribute nor open a tag.
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(((?:https?://|mailto:)[^\s()]+)\)")
_EMAIL = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)
_BOLD = re.compile(r"\*\*(?!\s)(.+?)(?<!\s)\*\*")
# A single asterisk with a space after it ("5 * 3") is not emphasis.
_ITALIC = re.compile(r"(?<!\*)\*(?![\s*])(.+?)(?<![\s*])\*(?!\*)")
_BULLET = re.compile(r"^\s*- (.*)$")
#: Texts formatted and remembered per process: a page shows the same few hundred study texts to
#: every respondent, and formatting them again on every view cost more than the database.
_CACHED = 8192


def _emphasis(escaped: str) -> str:
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


def _without_links(escaped: str) -> str:
    """E-mail addresses and emphasis in escaped text that holds no `[text](url)` link."""
    parts = _EMAIL.split(escaped)
    # re.split with one group: odd positions are the addresses.
    return "".join(
        f'<a href="mailto:{part}">{part}</a>' if i % 2 else _emphasis(part)
        for i, part in enumerate(parts)
    )


@lru_cache(maxsize=_CACHED)
def _inline(text: str) -> str:
    escaped = str(escape(text))
    out: list[str] = []
    pos = 0
    for match in _LINK.finditer(escaped):
        out.append(_without_links(escaped[pos : match.start()]))
        label, url = match.group(1), match.group(2)
        out.append(f'<a href="{url}">{_emphasis(label)}</a>')
        pos = match.end()
    out.append(_without_links(escaped[pos:]))
    return "".join(out)


def to_html_inline(text: str | None) -> Markup:
    """A one-line text (label, hint) with bold, italic, links and e-mail addresses."""
    if not text:
        return Markup("")
    return Markup(_inline(str(text)))


@lru_cache(maxsize=_CACHED)
def to_html(text: str | None) -> Markup:
    """A text as HTML blocks: blank lines separate paragraphs, single newlines break lines, and
    consecutive lines starting with `- ` form a bulleted list."""
    if not text:
        return Markup("")
    html: list[str] = []
    blocks = re.split(r"\n[ \t]*\n", str(text).replace("\r\n", "\n"))
    for block in blocks:
        lines = [line for line in block.split("\n") if line.strip()]
        i = 0
        while i < len(lines):
            if _BULLET.match(lines[i]):
                items: list[str] = []
                while i < len(lines) and (m := _BULLET.match(lines[i])):
                    items.append(f"<li>{_inline(m.group(1).strip())}</li>")
                    i += 1
                html.append(f"<ul>{''.join(items)}</ul>")
            else:
                para: list[str] = []
                while i < len(lines) and not _BULLET.match(lines[i]):
                    para.append(_inline(lines[i].strip()))
                    i += 1
                html.append(f"<p>{'<br>'.join(para)}</p>")
    return Markup("".join(html))


@lru_cache(maxsize=_CACHED)
def plain_text(text: str | None) -> str:
    """The text without formatting markers: links become `text (url)`, emphasis is dropped."""
    if not text:
        return ""
    out = re.sub(r"\[([^\[\]\n]+)\]\(((?:https?://|mailto:)[^\s()]+)\)", r"\1 (\2)", str(text))
    out = _BOLD.sub(r"\1", out)
    return _ITALIC.sub(r"\1", out)
