"""The tables that map XLSForm onto Vakstem and back: question types, appearances, column
headers (with their `::Language (code)` part), yes/no cells and names.

Kept apart from the reader and writer so that the supported-feature table of `docs/xlsform.md`
has one place in the code to agree with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale, UnknownLocaleError, localedata

from vakstem.instrument.names import MAX_NAME_LENGTH
from vakstem.instrument.schema import ItemType

#: XLSForm question types with a direct Vakstem type. `select_one`/`select_multiple` take a
#: list name and `range`/`acknowledge` are rebuilt (see the reader), so they are not here.
SIMPLE_TYPES: dict[str, ItemType] = {
    "integer": ItemType.INTEGER,
    "int": ItemType.INTEGER,
    "decimal": ItemType.DECIMAL,
    "text": ItemType.TEXT,
    "string": ItemType.TEXT,
    "date": ItemType.DATE,
    "note": ItemType.NOTE,
}

SELECT_TYPES: dict[str, ItemType] = {
    "select_one": ItemType.SINGLE,
    "select one": ItemType.SINGLE,
    "select_multiple": ItemType.MULTIPLE,
    "select multiple": ItemType.MULTIPLE,
}

#: `trigger` is ODK's older name of `acknowledge`.
ACKNOWLEDGE_TYPES = frozenset({"acknowledge", "trigger"})

BEGIN_GROUP = frozenset({"begin group", "begin_group"})
END_GROUP = frozenset({"end group", "end_group"})
BEGIN_REPEAT = frozenset({"begin repeat", "begin_repeat"})
END_REPEAT = frozenset({"end repeat", "end_repeat"})

#: Form metadata that ODK collects by itself: nothing for a respondent to answer, and Vakstem
#: records its own start and end times, so these rows are noted and left out.
METADATA_TYPES = frozenset(
    {
        "start",
        "end",
        "today",
        "deviceid",
        "subscriberid",
        "simserial",
        "phonenumber",
        "username",
        "email",
        "audit",
        "start-geopoint",
    }
)

#: Question types Vakstem cannot ask, with why (shown in the import report).
UNSUPPORTED_TYPES: dict[str, str] = {
    "geopoint": "locations (GPS) are not asked in a web survey of professionals",
    "geotrace": "locations (GPS) are not asked in a web survey of professionals",
    "geoshape": "locations (GPS) are not asked in a web survey of professionals",
    "image": "file uploads (media) are not supported",
    "audio": "file uploads (media) are not supported",
    "video": "file uploads (media) are not supported",
    "file": "file uploads (media) are not supported",
    "background-audio": "audio recording is not supported",
    "barcode": "barcode scanning is not supported",
    "calculate": "calculated fields are not supported; compute them after export",
    "hidden": "hidden fields are not supported",
    "time": "time questions are not supported (only dates)",
    "datetime": "date-and-time questions are not supported (only dates)",
    "rank": "ranking questions are not supported",
    "xml-external": "external data instances are not supported",
    "csv-external": "external data instances are not supported",
    "select_one_from_file": "choice lists from external files are not supported",
    "select_one_external": "choice lists from external files are not supported",
    "osm": "OpenStreetMap questions are not supported",
    "select_multiple_from_file": "choice lists from external files are not supported",
    "begin repeat": "repeat groups are not supported (every variable is asked once)",
    "begin_repeat": "repeat groups are not supported (every variable is asked once)",
}

#: Survey columns whose presence (non-empty) on a question is a feature Vakstem lacks.
UNSUPPORTED_COLUMNS: dict[str, str] = {
    "choice_filter": "cascading selects (choice_filter) are not supported",
    "default": "default answers are not supported",
    "calculation": "calculations are not supported",
    "read_only": "read-only questions are not supported",
    "repeat_count": "repeat groups are not supported",
    "trigger": "triggered recalculation is not supported",
}

#: Survey columns that only change ODK's presentation or bookkeeping: noted, then ignored.
IGNORED_COLUMNS = frozenset(
    {
        "required_message",
        "guidance_hint",
        "media",
        "image",
        "audio",
        "video",
        "big-image",
        "autoplay",
        "note",
        "comment",
        "comments",
    }
)

#: Column-name spellings that pyxform accepts for the same column.
COLUMN_ALIASES: dict[str, str] = {
    "constraint message": "constraint_message",
    "constraint_msg": "constraint_message",
    "required message": "required_message",
    "list name": "list_name",
    "caption": "label",
    "choice filter": "choice_filter",
    "read only": "read_only",
    "repeat count": "repeat_count",
}

#: Prefix of the columns (`vakstem_min`), and the name of the sheet, in which Vakstem keeps
#: what XLSForm has no column for. pyxform and ODK ignore columns and sheets they do not know
#: (a `vakstem::min` column would be read by pyxform as a translation, and refused).
VAKSTEM = "vakstem"

#: Appearances that ODK shows differently but that ask the same question: noted and ignored.
PRESENTATION_APPEARANCES = frozenset(
    {
        "horizontal",
        "horizontal-compact",
        "compact",
        "quick",
        "quickcompact",
        "columns",
        "columns-pack",
        "columns-n",
        "no-buttons",
        "autocomplete",
        "search",
        "numbers",
        "thousands-sep",
        "likert",
        "list-nolabel",
        "list",
        "label",
        "field-list",
        "table-list",
        "multiline",
        "minimal",
        "month-year",
        "year",
        "no-calendar",
    }
)

#: Matrix (table) groups: `table-list`/`likert` on the group, or a `field-list` group whose
#: select_one rows each have the `likert` appearance (KoboToolbox's "Likert" question).
MATRIX_GROUP_APPEARANCES = frozenset({"table-list", "likert"})

_YES = frozenset({"yes", "true", "true()", "1", "ja", "y"})
_NO = frozenset({"no", "false", "false()", "0", "nee", "n", ""})

_HEADER_LANGUAGE = re.compile(r"^(?P<field>[^:]+?)\s*::\s*(?P<language>.+)$")
#: Older forms write `label:English`; only text columns are read that way (a single colon
#: can occur in other headers, such as `bind::odk:length`).
_HEADER_LANGUAGE_OLD = re.compile(
    r"^(?P<field>label|hint|constraint_message|required_message|guidance_hint)\s*:\s*"
    r"(?P<language>[^:].*)$",
    re.IGNORECASE,
)
_LANGUAGE_CODE = re.compile(r"\(\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?\s*\)\s*$")

#: Language names without a `(code)` that forms in the field use; anything else needs the code.
LANGUAGE_NAMES: dict[str, str] = {
    "nederlands": "nl",
    "dutch": "nl",
    "english": "en",
    "engels": "en",
    "deutsch": "de",
    "german": "de",
    "duits": "de",
    "français": "fr",
    "francais": "fr",
    "french": "fr",
    "frans": "fr",
    "español": "es",
    "espanol": "es",
    "spanish": "es",
    "türkçe": "tr",
    "turkish": "tr",
    "turks": "tr",
    "arabic": "ar",
    "العربية": "ar",
    "polski": "pl",
    "polish": "pl",
    "pools": "pl",
}


@dataclass(frozen=True)
class Header:
    """A column header split into its field (`label`, `hint`, ...) and language part."""

    field: str
    #: The text after `::` as written (`Nederlands (nl)`), or None for a plain column.
    language: str | None
    column: int


def split_header(text: str, column: int) -> Header:
    """`label::Nederlands (nl)` -> Header('label', 'Nederlands (nl)'); field names lowercased
    and de-aliased. ODK's `bind::`, `instance::` and `body::` columns keep their whole name."""
    raw = text.strip()
    match = _HEADER_LANGUAGE.match(raw) or _HEADER_LANGUAGE_OLD.match(raw)
    if match and match["field"].strip().lower() not in ("bind", "instance", "body"):
        field = match["field"].strip().lower()
        return Header(COLUMN_ALIASES.get(field, field), match["language"].strip(), column)
    field = raw.lower()
    return Header(COLUMN_ALIASES.get(field, field), None, column)


def language_code(language: str) -> str | None:
    """The language code of a header's language part (`Nederlands (nl)`, `nl`, `English`), or
    None when it cannot be told."""
    text = language.strip()
    match = _LANGUAGE_CODE.search(text)
    if match:
        return match[1].lower()
    if re.fullmatch(r"[A-Za-z]{2,3}", text) and text.lower() in _babel_names().values():
        return text.lower()
    return LANGUAGE_NAMES.get(text.lower()) or _babel_names().get(text.lower())


@lru_cache(maxsize=1)
def _babel_names() -> dict[str, str]:
    """Language names (in English and in the language itself, lowercased) -> code, for every
    language Babel knows by a two- or three-letter code (`chinese` -> `zh`)."""
    names: dict[str, str] = {}
    for identifier in sorted(localedata.locale_identifiers()):
        if not re.fullmatch(r"[a-z]{2,3}", identifier):
            continue
        try:
            locale = Locale.parse(identifier)
        except (UnknownLocaleError, ValueError):
            continue
        for name in (locale.english_name, locale.get_display_name(identifier)):
            if name:
                names.setdefault(name.lower(), identifier)
        names.setdefault(identifier, identifier)
    return names


def language_header(code: str) -> str:
    """`nl` -> `Nederlands (nl)`: the language's own name, as ODK shows it in its menu."""
    try:
        name = Locale.parse(code).get_display_name(code)
    except (UnknownLocaleError, ValueError):
        name = None
    if not name:
        return code
    return f"{name[0].upper()}{name[1:]} ({code})"


def yes_no(value: str) -> bool | None:
    """A yes/no cell (`yes`, `TRUE()`, `1`, empty...), or None when it is something else (an
    expression, for `required`)."""
    text = value.strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return None


_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def vakstem_name(name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """An XLSForm name as a Vakstem id (`Q1.a` -> `q1_a`, `1st` -> `v_1st`); unchanged when it
    already is one."""
    out = _NOT_NAME.sub("_", name.strip().lower()).strip("_") or "v"
    if not out[0].isalpha():
        out = f"v_{out}"
    return out[:max_length].rstrip("_")


def appearances(value: str) -> list[str]:
    """The words of an appearance cell (`minimal quick` -> ['minimal', 'quick'])."""
    return [word for word in value.strip().lower().split() if word]


_PARAMETER = re.compile(r"([A-Za-z_-]+)\s*=\s*('[^']*'|\"[^\"]*\"|[^\s,;]+)")


def parameters(value: str) -> dict[str, str] | None:
    """`start=0 end=10 step=1` (spaces, commas or semicolons between) -> a mapping; None when
    the cell has text that is not `key=value`."""
    text = value.strip()
    if not text:
        return {}
    found: dict[str, str] = {}
    rest = _PARAMETER.sub("", text)
    if rest.strip(" ,;"):
        return None
    for key, raw in _PARAMETER.findall(text):
        found[key.lower()] = raw.strip("'\"")
    return found
