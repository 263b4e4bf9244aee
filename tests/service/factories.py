"""Study factories for the service tests: small questionnaires built in Python, one feature each,
so a test shows exactly which rule it exercises."""

from __future__ import annotations

from typing import Any

from vakstem.instrument.schema import (
    Choice,
    Item,
    ItemType,
    MatrixRow,
    Page,
    Privacy,
    PrivacyContact,
    PrivacyController,
    Study,
)

EENS = (
    Choice(code=1, label={"nl": "Oneens", "en": "Disagree"}),
    Choice(code=2, label={"nl": "Neutraal", "en": "Neutral"}),
    Choice(code=3, label={"nl": "Eens", "en": "Agree"}),
    Choice(code=9, label={"nl": "Weet ik niet", "en": "Don't know"}, missing=True),
)
#: A privacy statement for test studies: a study cannot open without one. Plain strings, so
#: it fits a study in any languages.
PRIVACY = Privacy(
    controllers=(PrivacyController(name="Proefinstelling"),),
    collected="Antwoorden op de vragen.",
    purpose="Het testen van Vakstem.",
    legal_basis="Toestemming.",
    retention="Dertig dagen.",
    contact=PrivacyContact(email="privacy@example.org"),
)
#: `PRIVACY` as study-file data, for studies built from dicts or written as YAML.
PRIVACY_DATA: dict[str, Any] = PRIVACY.model_dump(mode="json", exclude_defaults=True)

KLEUREN = tuple(Choice(code=c, label=f"kleur {c}") for c in range(1, 9))
JANEE = (Choice(code=1, label="Ja"), Choice(code=0, label="Nee"))


def item(id: str, type: ItemType | str, **fields: Any) -> Item:
    return Item(id=id, type=ItemType(type), text=fields.pop("text", id), **fields)


def page(id: str, *items: Item, relevant: str | None = None) -> Page:
    return Page(id=id, items=items, relevant=relevant)


def study(*pages: Page, id: str = "proef", **fields: Any) -> Study:
    fields.setdefault("title", {"nl": "Proefonderzoek", "en": "Pilot study"})
    fields.setdefault("languages", ("nl", "en"))
    fields.setdefault("choice_lists", {"eens": EENS, "kleuren": KLEUREN, "janee": JANEE})
    fields.setdefault("privacy", PRIVACY)
    return Study(id=id, pages=pages, **fields)


def every_type_item(kind: ItemType) -> Item:
    """One item of `kind` with the settings a validation test needs."""
    if kind is ItemType.SINGLE:
        return item("keuze", kind, choices="eens")
    if kind is ItemType.MULTIPLE:
        return item("meer", kind, choices="kleuren")
    if kind is ItemType.MATRIX:
        rows = (MatrixRow(id="m_1", text="een"), MatrixRow(id="m_2", text="twee"))
        return item("m", kind, choices="eens", rows=rows)
    if kind is ItemType.INTEGER:
        return item("getal", kind, min=0, max=50)
    if kind is ItemType.DECIMAL:
        return item("uren", kind, min=0, max=60)
    if kind is ItemType.TEXT:
        return item("naam", kind, max_length=10)
    if kind is ItemType.LONGTEXT:
        return item("verhaal", kind, max_length=20)
    if kind is ItemType.DATE:
        return item("datum", kind)
    if kind is ItemType.CONSENT:
        return item("akkoord", kind)
    return item("uitleg", kind)


def all_types_study() -> Study:
    return study(page("alles", *(every_type_item(k) for k in ItemType)))
