"""Variable-name rules of the export formats: every variable, derived column and scale score
must be a legal name in both SPSS (.sav) and Stata (.dta), so exports never rename anything."""

from __future__ import annotations

import re

#: Stata allows 32 characters (SPSS 64): the stricter limit holds.
MAX_NAME_LENGTH = 32

#: SPSS reserved keywords (case-insensitive): these cannot be variable names.
SPSS_RESERVED = frozenset(
    {"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with"}
)

#: Stata reserved names (case-sensitive); `str1` ... `str2045` are matched by pattern.
STATA_RESERVED = frozenset(
    {
        "_all",
        "_b",
        "byte",
        "_coef",
        "_cons",
        "double",
        "float",
        "if",
        "in",
        "int",
        "long",
        "_n",
        "_N",
        "_pi",
        "_pred",
        "_rc",
        "_skip",
        "strL",
        "using",
        "with",
    }
)

_STATA_STR_TYPE = re.compile(r"str[0-9]+")
_LEGAL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def multiple_choice_column(item_id: str, code: int) -> str:
    """The 0/1 column of one choice of a multiple-choice item: `<item>_<code>`, a negative code
    as `<item>_m<abs>` (a minus sign is not allowed in SPSS or Stata names)."""
    return f"{item_id}_{code}" if code >= 0 else f"{item_id}_m{abs(code)}"


def name_problems(name: str) -> list[str]:
    """Why `name` cannot be an SPSS or Stata variable name (empty when it can)."""
    problems: list[str] = []
    if not _LEGAL.fullmatch(name):
        problems.append(
            f"{name!r} is not a legal variable name (letters, digits and _, not starting "
            "with a digit)"
        )
    if len(name) > MAX_NAME_LENGTH:
        problems.append(
            f"{name!r} is {len(name)} characters long; Stata allows at most {MAX_NAME_LENGTH}"
        )
    reserved = [
        software
        for software, hit in (
            ("SPSS", name.lower() in SPSS_RESERVED),
            ("Stata", name in STATA_RESERVED or _STATA_STR_TYPE.fullmatch(name) is not None),
        )
        if hit
    ]
    if reserved:
        problems.append(f"{name!r} is a reserved word in {' and '.join(reserved)}")
    return problems
