"""Interface translations for the respondent pages and the JSON API.

The Babel `.po` catalogues under `web/locales/` are read once per process (no compiled `.mo`
files in the repository); message ids are English, Dutch is the default language. Questionnaire
texts are not translated here: they carry their own languages in the study file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel.messages.pofile import read_po

from vakstem.instrument.schema import Item
from vakstem.service.types import ItemError

LOCALE_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"

#: A translate function as used in templates: `_("Page %(n)s of %(total)s", n=2, total=6)`.
Translate = Callable[..., str]


def N_(message: str) -> str:
    """Mark a message for extraction without translating it (it is translated when shown)."""
    return message


#: Validation error codes of the service (see `vakstem.service.types.ItemError`) and messages.
ERROR_MESSAGES: dict[str, str] = {
    "required": N_("Please answer this question."),
    "not_integer": N_("Enter a whole number, for example 12."),
    "not_number": N_("Enter a number, for example 3.5."),
    "below_min": N_("Enter a value of at least %(min)s."),
    "above_max": N_("Enter a value of at most %(max)s."),
    "not_a_choice": N_("Choose one of the options shown."),
    "too_long": N_("Use at most %(max_length)s characters."),
    "not_a_date": N_("Enter a date as day, month and year."),
    "not_text": N_("Enter text."),
    "constraint": N_("This answer is not possible; please check it."),
    "unknown_item": N_("This question is not part of this page."),
    "not_relevant": N_("This question does not apply to you, so it cannot be answered."),
}

#: Messages of the service's `DomainError` codes, shown on friendly error pages and in the API.
DOMAIN_MESSAGES: dict[str, str] = {
    "study_not_found": N_("This survey does not exist. Please check the link."),
    "response_not_found": N_(
        "We could not find answers with this code. Please check the code or the link."
    ),
    "study_closed": N_("This survey is closed; no more answers can be given."),
    "response_finished": N_("This questionnaire has already been finished."),
    "already_withdrawn": N_(
        "The answers given with this code have already been withdrawn; nothing of them is kept."
    ),
    "stale_page": N_("This page was already submitted; here is where you are now."),
    "error": N_("Something went wrong with this request."),
}


#: (path, modification time, size) → its messages: every app of a process (each test makes
#: its own, with four catalogues) reads a file once.
_READ: dict[tuple[str, int, int], Mapping[str, str]] = {}


def _read_messages(path: Path, lang: str) -> Mapping[str, str]:
    """The translated messages of one `.po` file, by message id."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    found = _READ.get(key)
    if found is not None:
        return found
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    table: dict[str, str] = {}
    for message in catalog:
        # Fuzzy entries are unreviewed guesses: better the English id than a wrong text.
        msgid, text = message.id, message.string
        if message.fuzzy or not isinstance(msgid, str) or not isinstance(text, str):
            continue
        if msgid and text:
            table[msgid] = text
    found = _READ[key] = MappingProxyType(table)
    return found


class Catalogues:
    """Message catalogues per language, read from `.po` files."""

    def __init__(
        self,
        directory: Path = LOCALE_DIR,
        languages: tuple[str, ...] = LANGUAGES,
        default: str = DEFAULT_LANGUAGE,
    ) -> None:
        self.languages = languages
        self.default = default
        self._messages: dict[str, Mapping[str, str]] = {
            lang: _read_messages(directory / lang / "LC_MESSAGES" / "messages.po", lang)
            for lang in languages
        }

    def language(self, requested: str | None) -> str:
        """A supported interface language for `requested`, else the default."""
        if requested and requested in self._messages:
            return requested
        return self.default

    def gettext(self, language: str, message: str) -> str:
        return self._messages.get(language, {}).get(message, message)

    def translator(self, language: str) -> Translate:
        lang = self.language(language)

        def translate(message: str, **params: Any) -> str:
            text = self.gettext(lang, message)
            return text % params if params else text

        return translate

    def item_error(self, language: str, error: ItemError, item: Item | None) -> str:
        """The message for one validation error, in `language`.

        A constraint message written by the study author wins; otherwise the catalogue text,
        filled with the service's parameters and, as a fallback, the item's own limits.
        """
        if error.message:
            return error.message
        template = ERROR_MESSAGES.get(error.code, ERROR_MESSAGES["constraint"])
        params: dict[str, Any] = {}
        if item is not None:
            params.update(
                {"min": _number(item.min), "max": _number(item.max), "max_length": item.max_length}
            )
        params.update({k: _number(v) for k, v in error.params.items()})
        return self.gettext(language, template) % _Defaulting(params)

    def domain_message(self, language: str, code: str) -> str:
        return self.gettext(language, DOMAIN_MESSAGES.get(code, DOMAIN_MESSAGES["error"]))


def _number(value: Any) -> Any:
    """Show 10.0 as 10: limits are floats in the schema but usually whole numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Defaulting(dict[str, Any]):
    """Parameters for `%` formatting where a missing one shows as `?` instead of raising."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return "?"

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key) if key in self else self.__missing__(key)
        return "?" if value is None else value
