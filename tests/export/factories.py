"""Factories for export tests: the shipped example study and responses to it, in memory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

import vakstem
from vakstem.export.relevance import expression_relevance
from vakstem.export.table import ExportOptions, ResponseRecord, TableLayout
from vakstem.instrument.schema import Study

EXAMPLE = Path(vakstem.__file__).parent / "studies" / "voorbeeld" / "study.yaml"
ALL_PAGES = ["welkom", "achtergrond", "werk", "afspraken_detail", "tot_slot"]
START = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def example_study() -> Study:
    # Built straight from the schema, so these tests do not depend on the loader's validators.
    return Study.model_validate(yaml.safe_load(EXAMPLE.read_text("utf-8")))


def layout(study: Study | None = None, **options: Any) -> TableLayout:
    return TableLayout(study or example_study(), ExportOptions(**options), expression_relevance())


#: A full answer set for the example study (an answer per question that is shown).
FULL: dict[str, Any] = {
    "toestemming": 1,
    "functie": 6,
    "functie_anders": "Schuldhulp",
    "provincie": 7,
    "ervaring": 12,
    "uren": 36.5,
    "in_dienst": "2019-04-01",
    "overleg": [1, 3],
    "overleg_keer": 4,
    "br_1": 5,
    "br_2": 4,
    "br_3": 2,
    "br_4": 9,
    "afspraken": 1,
    "pa_1": 3,
    "pa_2": 2,
    "pa_3": 5,
    "pa_aantal": 20,
    "uren_toelichting": "Veel overwerk",
    "behoefte": "Minder administratie",
}


def record(
    response_id: str,
    answers: dict[str, Any],
    *,
    status: str = "completed",
    path: list[str] | None = None,
    current_page: str | None = None,
    language: str = "nl",
    minutes: float = 12.5,
    instrument_version: str = "v1",
    **extra: Any,
) -> ResponseRecord:
    completed = status == "completed"
    return ResponseRecord(
        response_id=response_id,
        instrument_version=instrument_version,
        language=language,
        status=status,
        answers=answers,
        started_at=START,
        completed_at=START + dt.timedelta(minutes=minutes) if completed else None,
        visited_pages=path,
        current_page=current_page,
        **extra,
    )
