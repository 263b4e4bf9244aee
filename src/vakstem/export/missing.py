"""Missing-value codes of an export: why a cell is empty, kept apart by reason.

A study may declare its own codes in the analysis settings of its study file::

    analysis:
      settings:
        missing_codes: {not_answered: -99, not_applicable: -98, dont_know: -97, dropped_out: -96}

Codes left out keep their defaults (−9, −8, −7, −6). Every format writes the same codes:
SPSS as user-missing values, Stata as extended missing values (.a .b .c .d), the others as the
plain numbers with their meaning in the labels and metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vakstem.instrument.schema import Study


class ExportError(Exception):
    """A problem with an export request the user can fix; the message says what and where."""


class MissingReason(StrEnum):
    """Why a variable has no substantive value, in the order of their Stata letters."""

    NOT_ANSWERED = "not_answered"
    NOT_APPLICABLE = "not_applicable"
    DONT_KNOW = "dont_know"
    DROPPED_OUT = "dropped_out"


DEFAULT_CODES: dict[MissingReason, int] = {
    MissingReason.NOT_ANSWERED: -9,
    MissingReason.NOT_APPLICABLE: -8,
    MissingReason.DONT_KNOW: -7,
    MissingReason.DROPPED_OUT: -6,
}

#: Stata extended missing value letter per reason (.a, .b, .c, .d).
STATA_LETTERS: dict[MissingReason, str] = {
    MissingReason.NOT_ANSWERED: "a",
    MissingReason.NOT_APPLICABLE: "b",
    MissingReason.DONT_KNOW: "c",
    MissingReason.DROPPED_OUT: "d",
}

_LABELS: dict[str, dict[MissingReason, str]] = {
    "nl": {
        MissingReason.NOT_ANSWERED: "niet beantwoord",
        MissingReason.NOT_APPLICABLE: "niet van toepassing (verborgen door een voorwaarde)",
        MissingReason.DONT_KNOW: "weet ik niet / n.v.t.",
        MissingReason.DROPPED_OUT: "afgehaakt vóór deze pagina",
    },
    "en": {
        MissingReason.NOT_ANSWERED: "not answered",
        MissingReason.NOT_APPLICABLE: "not applicable (hidden by a condition)",
        MissingReason.DONT_KNOW: "don't know / not applicable",
        MissingReason.DROPPED_OUT: "dropped out before this page",
    },
}


@dataclass(frozen=True)
class MissingCodes:
    """The numeric code of each missing reason for one study."""

    not_answered: int = -9
    not_applicable: int = -8
    dont_know: int = -7
    dropped_out: int = -6

    def code(self, reason: MissingReason) -> int:
        value: int = getattr(self, reason.value)
        return value

    def by_code(self) -> dict[int, MissingReason]:
        return {self.code(reason): reason for reason in MissingReason}

    def all(self) -> tuple[int, ...]:
        return tuple(self.code(reason) for reason in MissingReason)

    def label(self, reason: MissingReason, language: str) -> str:
        return _LABELS.get(language, _LABELS["en"])[reason]

    def labels(self, language: str) -> dict[int, str]:
        """Code → label in `language` (English for languages without a translation)."""
        return {self.code(reason): self.label(reason, language) for reason in MissingReason}

    def stata_letter(self, code: int) -> str:
        return STATA_LETTERS[self.by_code()[code]]

    def as_dict(self) -> dict[str, int]:
        return {reason.value: self.code(reason) for reason in MissingReason}


def missing_codes_of(study: Study) -> MissingCodes:
    """The study's declared codes (`analysis.settings.missing_codes`), defaults where left out."""
    declared: Any = study.analysis.settings.get("missing_codes")
    if declared is None:
        return MissingCodes()
    if not isinstance(declared, Mapping):
        raise ExportError(
            f"study {study.id!r}: analysis.settings.missing_codes must be a mapping of "
            f"reason to code ({', '.join(r.value for r in MissingReason)})"
        )
    unknown = sorted(set(map(str, declared)) - {r.value for r in MissingReason})
    if unknown:
        raise ExportError(
            f"study {study.id!r}: unknown missing reason(s) {', '.join(unknown)} in "
            f"analysis.settings.missing_codes; known: {', '.join(r.value for r in MissingReason)}"
        )
    values: dict[str, int] = {}
    for reason in MissingReason:
        raw = declared.get(reason.value, DEFAULT_CODES[reason])
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ExportError(
                f"study {study.id!r}: missing code for {reason.value} must be a whole number, "
                f"not {raw!r}"
            )
        values[reason.value] = raw
    if len(set(values.values())) != len(values):
        raise ExportError(
            f"study {study.id!r}: missing codes must differ from each other, got {values}"
        )
    codes = MissingCodes(**values)
    choice_codes = {c.code for choices in study.choice_lists.values() for c in choices}
    clash = sorted(choice_codes & set(codes.all()))
    if clash:
        raise ExportError(
            f"study {study.id!r}: missing code(s) {clash} are also answer codes in a choice list; "
            "declare other codes in analysis.settings.missing_codes"
        )
    return codes
