"""Small studies built in Python for the web tests (the example study file is used for the
whole flow; these pin down rendering of each item type on its own)."""

from __future__ import annotations

from typing import Any

from vakstem.instrument.schema import Choice, Item, ItemType, MatrixRow, Page, Study
from vakstem.service.types import PageView, ShownItem

EENS = (
    Choice(code=1, label={"nl": "Oneens", "en": "Disagree"}),
    Choice(code=2, label={"nl": "Eens", "en": "Agree"}),
    Choice(code=9, label={"nl": "Weet ik niet", "en": "Don't know"}, missing=True),
)


def item(id: str, type: ItemType, **fields: Any) -> Item:
    fields.setdefault("text", {"nl": f"Vraag {id}", "en": f"Question {id}"})
    return Item(id=id, type=type, **fields)


def every_type_study() -> Study:
    """One page holding one item of every type."""
    items = (
        item(
            "uitleg",
            ItemType.NOTE,
            text={"nl": "Eerste alinea.\n\nTweede <b>alinea</b>.", "en": "Intro."},
        ),
        item("toestemming", ItemType.CONSENT, required=True),
        item(
            "kleur", ItemType.SINGLE, choices="eens", hint={"nl": "Kies er een.", "en": "Pick one."}
        ),
        item("lijst", ItemType.SINGLE, choices="eens", appearance="dropdown"),
        item("meer", ItemType.MULTIPLE, choices="eens"),
        item(
            "br",
            ItemType.MATRIX,
            choices="eens",
            rows=(
                MatrixRow(id="br_1", text={"nl": "Rij een", "en": "Row one"}),
                MatrixRow(id="br_2", text={"nl": "Rij twee", "en": "Row two"}),
            ),
        ),
        item("jaren", ItemType.INTEGER, min=0, max=50),
        item("uren", ItemType.DECIMAL, min=0.0, max=60.5),
        item("naam", ItemType.TEXT, max_length=20),
        item("toelichting", ItemType.LONGTEXT, max_length=500),
        item("datum", ItemType.DATE),
    )
    return Study(
        id="alles",
        languages=("nl", "en"),
        title={"nl": "Alles", "en": "Everything"},
        choice_lists={"eens": EENS},
        pages=(
            Page(id="een", title={"nl": "Een", "en": "One"}, items=items),
            Page(id="twee", items=(item("slot", ItemType.TEXT),)),
        ),
    )


def view_of(study: Study, index: int = 0, **shown: tuple[Choice, ...]) -> PageView:
    """The page as the service would show it; `shown` overrides an item's choice order."""
    page = study.pages[index]
    return PageView(
        page=page,
        index=index,
        total=len(study.pages),
        items=tuple(
            ShownItem(
                item=it,
                choices=shown.get(it.id, study.choices_of(it)),
                rows=it.rows,
                required=it.required is True,
            )
            for it in page.items
        ),
        can_go_back=index > 0,
    )
