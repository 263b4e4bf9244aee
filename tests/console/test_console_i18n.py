"""The console's interface catalogues: the template up to date with the sources, and every
message translated into Dutch (and English) with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from vakstem.web.console.i18n import CONSOLE_LOCALE_DIR, ConsoleCatalogues
from vakstem.web.i18n import Catalogues

WEB_DIR = CONSOLE_LOCALE_DIR.parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _ids(path: Path) -> dict[str, str]:
    with path.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def test_console_message_template_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "fresh.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "console/babel.cfg",
         "-k", "N_", "--no-location", "-o", str(out), "."],
        cwd=WEB_DIR,
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert set(_ids(out)) == set(_ids(CONSOLE_LOCALE_DIR / "messages.pot")), (
        "run the extract command in src/vakstem/web/console/babel.cfg and update the .po files"
    )


def test_every_console_message_is_translated_with_the_same_placeholders() -> None:
    template = set(_ids(CONSOLE_LOCALE_DIR / "messages.pot"))
    for lang in ("nl", "en"):
        messages = _ids(CONSOLE_LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po")
        assert set(messages) == template, lang
        for msgid, text in messages.items():
            assert text, f"{lang}: no translation for {msgid!r}"
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(msgid)), msgid


def test_console_texts_fall_back_to_the_respondent_catalogue() -> None:
    catalogues = ConsoleCatalogues(Catalogues())
    assert catalogues.gettext("nl", "My studies") == "Mijn onderzoeken"
    # "Skip to content" belongs to the shared base layout, translated by the respondent side.
    assert catalogues.gettext("nl", "Skip to content") == Catalogues().gettext(
        "nl", "Skip to content"
    )
    assert catalogues.gettext("nl", "Not a message at all") == "Not a message at all"
