"""Answers of klantmanager respondents made in memory, for the feedback builders: organisation,
type, size and scale items drawn at random, so property tests can shape the groups freely."""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

from vakstem.feedback.data import FeedbackData, frame_from_answers
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.studies.klantmanagers import STUDY_FILE

THEME_TEXTS = (
    "Minder werkdruk en een kleinere caseload.",
    "Meer tijd voor klanten en scholing.",
    "Vertrouwen van mijn leidinggevende.",
    "Betere systemen, minder administratie.",
    "Niets.",
)


@lru_cache(maxsize=1)
def klantmanagers() -> Study:
    return load_study_file(STUDY_FILE)


def answers(
    rng: random.Random,
    *,
    organisation: int | None = 363,
    org_type: int | None = 1,
    grootte: int | None = None,
    open_text: str | None = None,
    level: float = 3.0,
) -> dict[str, Any]:
    """One completed respondent's stored answers; scale items near `level` (1-5)."""
    study = klantmanagers()
    out: dict[str, Any] = {}
    for scale in study.scales:
        for item in scale.items:
            if rng.random() < 0.05:
                continue
            out[item] = min(5, max(1, round(level + rng.gauss(0, 0.8))))
    if organisation is not None:
        out["organisatie"] = organisation
    if org_type is not None:
        out["org_type"] = org_type
    if grootte is not None:
        out["grootte"] = grootte
    out["cl_2"] = rng.randint(40, 200)
    if open_text:
        out["open_nodig"] = open_text
    return out


def dataset(groups: dict[str, Any], seed: int = 1) -> FeedbackData:
    """A feedback frame from id -> answers."""
    return frame_from_answers(klantmanagers(), groups)


def simple_dataset(n: int, seed: int = 1, organisation: int = 363) -> FeedbackData:
    rng = random.Random(seed)
    return dataset(
        {
            f"r{i:04d}": answers(
                rng,
                organisation=organisation,
                open_text=THEME_TEXTS[i % len(THEME_TEXTS)],
            )
            for i in range(n)
        }
    )


def complete(
    service: Any,
    rng: random.Random,
    *,
    test: bool = False,
    language: str = "nl",
    **chosen: Any,
) -> Any:
    """Fill in the klantmanager study through the respondent service, page by page, with
    random scale answers; returns the final state (which carries the resume code)."""
    from vakstem.instrument.schema import ItemType

    state = service.start("klantmanagers", language=language, test=test)
    code = state.resume_code
    level = rng.uniform(2, 4)
    while state.page is not None:
        answers: dict[str, Any] = {}
        for shown in state.page.items:
            item = shown.item
            if item.type is ItemType.MATRIX:
                for row in shown.rows:
                    answers[row.id] = chosen.get(
                        row.id, min(5, max(1, round(level + rng.gauss(0, 0.8))))
                    )
            elif item.id in chosen:
                answers[item.id] = chosen[item.id]
            elif item.type is ItemType.CONSENT:
                answers[item.id] = 1
            elif item.type is ItemType.SINGLE:
                answers[item.id] = shown.choices[0].code
            elif item.type is ItemType.INTEGER:
                answers[item.id] = 12
        result = service.submit_page(state.id, state.page.page.id, answers)
        assert result.ok, (state.page.page.id, result.errors)
        state = result.state
    return state, code
