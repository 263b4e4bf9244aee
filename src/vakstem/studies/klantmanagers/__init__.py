"""The klantmanager study: its study file, municipality codes and population model (data), and
the helpers that keep the organisation choice list in step with the municipality data."""

from __future__ import annotations

from pathlib import Path

#: Folder holding `study.yaml`, `gemeenten.csv` and `population.yaml`.
STUDY_DIR = Path(__file__).resolve().parent
STUDY_FILE = STUDY_DIR / "study.yaml"
POPULATION_FILE = STUDY_DIR / "population.yaml"
