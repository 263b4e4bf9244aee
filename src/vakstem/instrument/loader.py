"""Load a study file (YAML) into the `Study` model of `vakstem.instrument.schema`."""

from __future__ import annotations

from pathlib import Path

import yaml

from vakstem.instrument.schema import Study


def load_study_file(path: str | Path) -> Study:
    """Read a YAML study file and build its `Study` model."""
    text = Path(path).read_text(encoding="utf-8")
    return Study.model_validate(yaml.safe_load(text))
