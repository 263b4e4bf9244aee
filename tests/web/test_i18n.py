"""The interface catalogues: complete Dutch, the template up to date with the code, and
placeholders that survive translation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from vakstem.service.types import ItemError
from vakstem.web.i18n import ERROR_MESSAGES, LOCALE_DIR, Catalogues

WEB_DIR = LOCALE_DIR.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _ids(path: Path) -> dict[str, str]:
    with path.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def test_message_template_is_up_to_date_with_the_sources(tmp_path: Path) -> None:
    out = tmp_path / "fresh.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "t",
            "--no-location",
            "-o",
            str(out),
            ".",
        ],
        cwd=WEB_DIR,
        check=True,
        capture_output=True,
    )
    assert set(_ids(out)) == set(_ids(LOCALE_DIR / "messages.pot")), (
        "run the extract command in src/vakstem/web/babel.cfg and update the .po files"
    )


def test_every_message_has_a_dutch_translation_with_the_same_placeholders() -> None:
    template = set(_ids(LOCALE_DIR / "messages.pot"))
    for lang in ("nl", "en"):
        messages = _ids(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po")
        assert set(messages) == template, lang
        for msgid, text in messages.items():
            assert text, f"{lang}: no translation for {msgid!r}"
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(msgid)), msgid


def test_every_validation_code_of_the_service_has_a_message() -> None:
    codes = {
        "required",
        "not_integer",
        "not_number",
        "below_min",
        "above_max",
        "not_a_choice",
        "too_long",
        "not_a_date",
        "not_text",
        "constraint",
        "unknown_item",
        "not_relevant",
    }
    assert codes <= set(ERROR_MESSAGES)
    catalogues = Catalogues()
    for code in codes:
        nl = catalogues.item_error("nl", ItemError("x", code, {"min": 1, "max": 5}), None)
        en = catalogues.item_error("en", ItemError("x", code, {"min": 1, "max": 5}), None)
        assert nl != en and "%" not in nl and "%" not in en


def test_author_constraint_message_wins_over_the_catalogue() -> None:
    error = ItemError("x", "constraint", message="Niet in de toekomst.")
    assert Catalogues().item_error("en", error, None) == "Niet in de toekomst."


def test_unsupported_language_falls_back_to_dutch() -> None:
    catalogues = Catalogues()
    assert catalogues.language("de") == "nl"
    assert catalogues.translator("de")("Next") == "Volgende"


_PO = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Next"
msgstr "{text}"
"""


def test_a_catalogue_file_is_read_once_per_process_until_it_changes(tmp_path: Path) -> None:
    for lang in ("nl", "en"):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text(_PO.format(text=f"Verder-{lang}"), "utf-8")
    first, second = Catalogues(directory=tmp_path), Catalogues(directory=tmp_path)
    assert first.gettext("nl", "Next") == second.gettext("nl", "Next") == "Verder-nl"
    assert first._messages["nl"] is second._messages["nl"]  # read once, shared
    (tmp_path / "nl" / "LC_MESSAGES" / "messages.po").write_text(
        _PO.format(text="Volgende vraag"), "utf-8"
    )
    assert Catalogues(directory=tmp_path).gettext("nl", "Next") == "Volgende vraag"
    assert first.gettext("nl", "Next") == "Verder-nl"  # an app keeps what it read
