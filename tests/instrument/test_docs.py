"""The YAML snippets of docs/questionnaire-format.md are valid: researchers copy them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from vakstem.instrument.schema import Item, Page

DOC = Path(__file__).parents[2] / "docs" / "questionnaire-format.md"


def snippets() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_every_yaml_snippet_parses() -> None:
    assert len(snippets()) > 10
    for snippet in snippets():
        yaml.safe_load(snippet)


def test_item_snippets_are_valid_items() -> None:
    checked = 0
    for snippet in snippets():
        data = yaml.safe_load(snippet)
        if isinstance(data, list) and all(isinstance(d, dict) and "type" in d for d in data):
            for entry in data:
                Item.model_validate(entry)
                checked += 1
    assert checked >= 10


def test_page_snippet_is_a_valid_page() -> None:
    page = next(s for s in snippets() if s.startswith("pages:"))
    data = yaml.safe_load(page)["pages"][0]
    data["items"] = []
    Page.model_validate(data)
