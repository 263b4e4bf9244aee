"""Simple themes of open answers: a topic counts as mentioned when a word of the answer starts
with one of its stems (Dutch and English; a stem ending in `\\b` must be the whole word).
Deliberately plain and predictable, so a reader can see why an answer counts; the researchers'
own coding of the answers happens in the analysis, not here."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    id: str
    label_nl: str
    label_en: str
    stems: tuple[str, ...]

    def label(self, language: str) -> str:
        return self.label_en if language == "en" else self.label_nl


THEMES: tuple[Theme, ...] = (
    Theme(
        "werkdruk",
        "Werkdruk en caseload",
        "Workload and caseload",
        ("werkdruk", "caseload", "te veel klanten", "drukte", "workload", "too many clients"),
    ),
    Theme(
        "tijd",
        "Tijd voor klanten",
        "Time for clients",
        ("tijd", "time"),
    ),
    Theme(
        "scholing",
        "Scholing en ontwikkeling",
        "Training and development",
        ("scholing", "opleiding", "training", "cursus", "ontwikkel", "course"),
    ),
    Theme(
        "ruimte",
        "Beslisruimte en vertrouwen",
        "Discretion and trust",
        ("ruimte", "vertrouwen", "vrijheid", "maatwerk", "discretion", "trust", "freedom"),
    ),
    Theme(
        "collega",
        "Collega's en intervisie",
        "Colleagues and peer consultation",
        ("collega", "intervisie", "overleg", "team", "colleague", "peer"),
    ),
    Theme(
        "leiding",
        "Leidinggevende en organisatie",
        "Management and organisation",
        ("leidinggevende", "management", "manager", "directie", "beleid", "policy"),
    ),
    Theme(
        "systemen",
        "Systemen en administratie",
        "Systems and paperwork",
        ("systeem", "systemen", "administratie", "registratie", "ict", "paperwork", "system"),
    ),
    Theme(
        "regels",
        "Regels en wetgeving",
        "Rules and legislation",
        ("regels", "wetgeving", "participatiewet", r"wet\b", "rules", r"law\b"),
    ),
)

_SPACE = re.compile(r"\s+")
_PATTERNS = {
    theme.id: re.compile(r"\b(?:" + "|".join(theme.stems) + ")", re.IGNORECASE) for theme in THEMES
}


def mentions(theme: Theme, text: str) -> bool:
    """Whether `text` has a word starting with one of the theme's stems ("tijd" matches
    "tijdsdruk" but not "altijd")."""
    pattern = _PATTERNS.get(theme.id) or re.compile(
        r"\b(?:" + "|".join(theme.stems) + ")", re.IGNORECASE
    )
    return pattern.search(_SPACE.sub(" ", text)) is not None
