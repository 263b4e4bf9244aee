"""docs/xlsform.md names every type the importer maps, ignores or refuses: the supported-feature
table and the code's tables cannot drift apart."""

from __future__ import annotations

from pathlib import Path

from vakstem.instrument.xlsform import mapping

DOC = Path(__file__).parents[3] / "docs" / "xlsform.md"


def test_every_type_of_the_mapping_tables_is_in_the_documentation() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = [
        *mapping.SIMPLE_TYPES,
        *mapping.ACKNOWLEDGE_TYPES,
        *mapping.METADATA_TYPES,
        *mapping.UNSUPPORTED_TYPES,
        *mapping.UNSUPPORTED_COLUMNS,
    ]
    # `int` and `string` are pyxform's aliases of integer and text.
    missing = [n for n in names if f"`{n}`" not in text and n not in ("int", "string")]
    missing = [n for n in missing if not n.startswith("begin")]
    assert missing == []
