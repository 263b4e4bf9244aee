"""Write a `Study` as canonical study-file YAML: `load_study_text(dump_study_yaml(s)) == s`.

Used by the XLSForm import (the stored source text of an imported study is this YAML) and for
showing two versions of a study side by side. Canonical means: fields in the model's order,
defaults left out (as in `content_hash`), texts quoted wherever the loader's YAML 1.2 rules or
PyYAML's 1.1 rules could read them as anything but text.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from vakstem.instrument.schema import Study

__all__ = ["dump_study_yaml"]

#: Plain scalars that YAML 1.2 (our loader) reads as numbers but PyYAML's emitter, which follows
#: YAML 1.1, would leave unquoted (`1e5`, `+.5`); quoting anything number-like is simpler.
_NUMBER_LIKE = re.compile(r"^[-+]?\.?[0-9]|^[-+]?\.(?:inf|nan)$", re.IGNORECASE)

#: Lines longer than this are folded by the emitter; a long label stays on one line.
_WIDTH = 10_000


class _Dumper(yaml.SafeDumper):
    """SafeDumper with readable texts and flow-style lists of plain values."""

    def ignore_aliases(self, data: Any) -> bool:
        # The same text object can occur twice (a default shared by two items); a study file
        # never uses anchors, so spell every value out.
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif _NUMBER_LIKE.match(value):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flat = all(isinstance(v, (str, int, float, bool)) and not isinstance(v, dict) for v in value)
    short = flat and all(not isinstance(v, str) or "\n" not in v for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=bool(short))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)


def dump_study_yaml(study: Study) -> str:
    """The study as YAML text that the loader reads back to an equal `Study`."""
    data = study.model_dump(mode="json", exclude_defaults=True)
    # `id` and `title` are required, but `version` and `languages` carry defaults that a
    # reader of the file should still see.
    data = {
        "id": data.pop("id"),
        "version": study.version,
        "languages": list(study.languages),
        **{k: v for k, v in data.items() if k not in ("version", "languages")},
    }
    text: str = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=_WIDTH,
        default_flow_style=False,
    )
    return text
