"""Signs of automated or implausible responses, and the one-time key of the welcome form.

Two signals flag a response; neither blocks it nor drops an answer, because a false alarm must
cost a researcher a look, never a respondent their answers:

- `honeypot`: a form field people never see was filled in (bots fill every field);
- `too_fast`: the response was completed in less than a plausible minimum, the study's
  `settings.min_seconds_per_answer` times the number of answer fields the respondent was shown.

The start key makes the welcome form idempotent. Each showing of the welcome page carries a
fresh random key; its hash is stored with the response the form creates (unique), and the
response's resume code is derived from it. A second POST of the same form, however late or
however concurrent, finds that response and its code again instead of starting another one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import date

from vakstem.instrument.schema import Study
from vakstem.service import conditions, resume_codes
from vakstem.service.types import AnswerValue

HONEYPOT = "honeypot"
TOO_FAST = "too_fast"
#: Every flag the respondent flow sets, in the order exports and the console list them.
FLAGS = (HONEYPOT, TOO_FAST)

#: The honeypot's form field. It starts with `_`, so it is never taken for an answer, and its
#: name is not one browsers autofill (an autofilled honeypot would flag real people).
HONEYPOT_FIELD = "_opmerking"
#: The welcome form's start key field.
START_KEY_FIELD = "_start"

_START_KEY = re.compile(r"^[A-Za-z0-9_-]{32}$")


def merge_flags(stored: Sequence[str] | None, new: Iterable[str]) -> list[str] | None:
    """The stored flags with `new` added, in `FLAGS` order; None when there are none."""
    present = set(stored or ()) | set(new)
    ordered = [f for f in FLAGS if f in present] + sorted(present - set(FLAGS))
    return ordered or None


def flag_columns(stored: Sequence[str] | None, status: str) -> dict[str, int]:
    """Stored flags as 0/1 table columns (`flag_honeypot`, `flag_too_fast`). Only a completed
    response can have been too fast, so for others that column is left empty."""
    present = stored or ()
    # Called for every exported response: the column names are made once, not per call.
    columns = {_HONEYPOT_COLUMN: int(HONEYPOT in present)}
    if status == "completed":
        columns[_TOO_FAST_COLUMN] = int(TOO_FAST in present)
    return columns


_HONEYPOT_COLUMN = f"flag_{HONEYPOT}"
_TOO_FAST_COLUMN = f"flag_{TOO_FAST}"


def answers_shown(
    study: Study, pages: Iterable[str], values: dict[str, AnswerValue], today: date
) -> int:
    """Answer fields (variables) on the submitted `pages` that the final answers left visible:
    a matrix row counts as one, a note as none, an item hidden by a condition not at all."""
    visible, _ = conditions.clean_answers(study, values, today)
    wanted = set(pages)
    return sum(
        len(item.variables())
        for page in study.pages
        if page.id in wanted
        for item in page.items
        if item.id in visible
    )


def minimum_seconds(
    study: Study, pages: Iterable[str], values: dict[str, AnswerValue], today: date
) -> float:
    """The shortest plausible time to answer what this response was shown."""
    return study.settings.min_seconds_per_answer * answers_shown(study, pages, values, today)


# --- the welcome form's start key ---------------------------------------------------------------


def new_start_key() -> str:
    """A fresh start key: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def valid_start_key(key: str) -> bool:
    return bool(_START_KEY.match(key))


def start_key_hash(key: str) -> str:
    """What the database keeps of a start key (the key itself would give the resume code)."""
    return hashlib.sha256(b"vakstem-start:" + key.encode("ascii")).hexdigest()


def resume_code_for(key: str, attempt: int) -> str:
    """The resume code of the response a start key creates. `attempt` moves on to another code
    in the (one in 2**50) case that the first collides with an existing response's code."""
    seed = hashlib.sha256(f"vakstem-resume:{attempt}:{key}".encode("ascii")).digest()
    return resume_codes.from_bytes(seed)
