"""The shipped example study loads and exercises every item type."""

from __future__ import annotations

from pathlib import Path

import vakstem
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import ItemType

EXAMPLE = Path(vakstem.__file__).parent / "studies" / "voorbeeld" / "study.yaml"


def test_example_study_uses_every_item_type() -> None:
    study = load_study_file(EXAMPLE)
    assert study.id == "voorbeeld"
    assert study.languages == ("nl", "en")
    assert {item.type for _page, item in study.items()} == set(ItemType)
    assert study.sources == ("nieuwsbrief", "website")
