"""The data every feedback surface works from: one row per completed response with its scale
scores, organisation, organisation type, size class, caseload and open answers.

Read from the store through the export's `ResponseReader` (completed, non-test responses, in one
snapshot), minus responses a researcher excluded in the console; scores come from
`vakstem.analysis.scoring.scale_scores`. Builders take a `FeedbackData`, so tests can make one
from answers in memory (`frame_from_answers`) and run the same code as the web pages.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.analysis.scoring import scale_scores
from vakstem.export.database import ResponseReader, open_source
from vakstem.export.missing import ExportError
from vakstem.export.table import ExportOptions
from vakstem.feedback.disclosure import check_k
from vakstem.instrument.schema import ItemType, Study
from vakstem.service.types import StudyNotFound
from vakstem.store.accounts import response_exclusions
from vakstem.store.tables import responses

#: Column names of the feedback frame (scores are `SCORE + scale id`, open texts `TEXT + item`).
ORG, TYPE, SIZE, CASELOAD = "org", "type", "size", "caseload"
SCORE, TEXT = "score:", "text:"


@dataclass(frozen=True)
class StudyProfile:
    """Which variables of a study play which part in feedback (organisation, type, size...)."""

    cluster: str | None = None
    #: The cluster code meaning "other organisation", and the variable that then holds its code.
    other_code: int | None = None
    other_cluster_variable: str | None = None
    type_variable: str | None = None
    size_variable: str | None = None
    #: Size class code per cluster code, when the cluster code decides it (municipalities).
    size_of_cluster: Mapping[int, int] = field(default_factory=dict)
    caseload: str | None = None
    open_items: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def _municipality_sizes() -> dict[int, int]:
    from vakstem.studies.klantmanagers.organisations import load_municipalities

    return {m.code: m.size_code for m in load_municipalities()}


def profile_for(study: Study) -> StudyProfile:
    """The feedback roles of `study`'s variables, read from its analysis plan: the cluster
    (and its "other" code) from `analysis.cluster` / `settings.multilevel`, the organisation
    type from the first of `analysis.groups`, open questions from `settings.open_text`."""
    variables = set(study.variables())
    settings: Mapping[str, Any] = study.analysis.settings
    multilevel: Mapping[str, Any] = settings.get("multilevel") or {}
    cluster = study.analysis.cluster if study.analysis.cluster in variables else None
    other_code = multilevel.get("other_code")
    other_variable = multilevel.get("other_cluster_variable")
    groups = [g for g in study.analysis.groups if g in variables]
    open_cfg: Mapping[str, Any] = settings.get("open_text") or {}
    open_items = tuple(i for i in open_cfg.get("items", ()) if i in variables)
    if not open_items:
        open_items = tuple(
            item.id
            for _p, item in study.items()
            if item.type in (ItemType.TEXT, ItemType.LONGTEXT) and item.open_text
        )
    size_variable = "grootte" if "grootte" in variables else None
    sizes: Mapping[int, int] = {}
    if study.id == "klantmanagers" and cluster is not None:
        # The klantmanager study asks a municipality; its size class follows from CBS data.
        sizes = _municipality_sizes()
    caseload = "cl_2" if "cl_2" in variables else None
    return StudyProfile(
        cluster=cluster,
        other_code=int(other_code) if isinstance(other_code, int) else None,
        other_cluster_variable=other_variable if other_variable in variables else None,
        type_variable=groups[0] if groups else None,
        size_variable=size_variable,
        size_of_cluster=sizes,
        caseload=caseload,
        open_items=open_items,
    )


@dataclass(frozen=True)
class FeedbackData:
    """Completed responses of one study as feedback needs them (index: response id)."""

    study: Study
    profile: StudyProfile
    frame: pd.DataFrame

    @property
    def k(self) -> int:
        return check_k(self.study.settings.k_min)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(str(i) for i in self.frame.index)

    def scores(self, scale_id: str) -> pd.Series:
        return self.frame[SCORE + scale_id]


def _code(value: Any, missing: frozenset[int]) -> float:
    """A choice code as a number, NaN when empty or a "don't know" code."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    if isinstance(value, float) and not value.is_integer():
        return math.nan
    return math.nan if int(value) in missing else float(value)


def _missing_codes(study: Study, variable: str | None) -> frozenset[int]:
    if variable is None:
        return frozenset()
    item = study.item(variable)
    if item is None:
        return frozenset()
    return frozenset(c.code for c in study.choices_of(item) if c.missing)


def organisation_key(profile: StudyProfile, answers: Mapping[str, Any]) -> str | None:
    """A respondent's organisation as a code string: the cluster code, or for "other
    organisation" `org<code>` when they typed an organisation code; None when unknown."""
    if profile.cluster is None:
        return None
    value = answers.get(profile.cluster)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if profile.other_code is not None and value == profile.other_code:
        if profile.other_cluster_variable is None:
            return None
        typed = answers.get(profile.other_cluster_variable)
        if isinstance(typed, bool) or not isinstance(typed, int):
            return None
        return f"org{typed}"
    return str(value)


def frame_from_answers(
    study: Study,
    answers_by_id: Mapping[str, Mapping[str, Any]],
    profile: StudyProfile | None = None,
) -> FeedbackData:
    """The feedback frame of responses given as id -> stored answers (as the service keeps them)."""
    profile = profile or profile_for(study)
    ids = [str(i) for i in answers_by_id]
    type_missing = _missing_codes(study, profile.type_variable)
    size_missing = _missing_codes(study, profile.size_variable)
    rows: list[dict[str, Any]] = []
    for rid in ids:
        answers = answers_by_id[rid]
        size = math.nan
        cluster_value = answers.get(profile.cluster) if profile.cluster else None
        if isinstance(cluster_value, int) and cluster_value in profile.size_of_cluster:
            size = float(profile.size_of_cluster[cluster_value])
        elif profile.size_variable is not None:
            size = _code(answers.get(profile.size_variable), size_missing)
        caseload = answers.get(profile.caseload) if profile.caseload else None
        row: dict[str, Any] = {
            ORG: organisation_key(profile, answers),
            TYPE: _code(answers.get(profile.type_variable), type_missing)
            if profile.type_variable
            else math.nan,
            SIZE: size,
            CASELOAD: float(caseload)
            if isinstance(caseload, int | float) and not isinstance(caseload, bool)
            else math.nan,
        }
        for item in profile.open_items:
            text = answers.get(item)
            row[TEXT + item] = text if isinstance(text, str) and text.strip() else None
        rows.append(row)
    columns = [ORG, TYPE, SIZE, CASELOAD] + [TEXT + i for i in profile.open_items]
    frame = pd.DataFrame(rows, index=pd.Index(ids, name="response_id"), columns=columns)
    frame[ORG] = frame[ORG].astype("object")
    scale_vars = sorted({v for scale in study.scales for v in scale.items})
    raw = pd.DataFrame(
        {
            v: [
                float(a) if isinstance(a := answers_by_id[rid].get(v), int | float) else math.nan
                for rid in ids
            ]
            for v in scale_vars
        },
        index=frame.index,
        dtype="float64",
    )
    if study.scales:
        scores = scale_scores(study, raw)
        for scale in study.scales:
            frame[SCORE + scale.id] = scores[scale.id].astype("float64")
    return FeedbackData(study=study, profile=profile, frame=frame)


def _excluded(engine: Engine, study_id: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(response_exclusions.c.response_id)
            .join(responses, responses.c.id == response_exclusions.c.response_id)
            .where(responses.c.study_id == study_id)
        ).scalars()
        return set(rows)


def load_feedback_data(engine: Engine, study_id: str) -> FeedbackData:
    """The completed, non-test, not excluded responses of a stored study; an unknown study
    raises `StudyNotFound`."""
    options = ExportOptions(completed_only=True, include_test=False, open_text=True)
    try:
        source = open_source(engine, study_id, options)
    except ExportError:
        raise StudyNotFound(f"no study {study_id!r}", study=study_id) from None
    excluded = _excluded(engine, study_id)
    answers: dict[str, Mapping[str, Any]] = {}
    with ResponseReader(source, options) as reader:
        for chunk in reader.chunks():
            for record in chunk:
                if record.response_id not in excluded:
                    answers[record.response_id] = record.answers
    return frame_from_answers(source.study, answers)


def completed_ids(engine: Engine, study_id: str) -> list[str]:
    """Ids of the completed, non-test, not excluded responses of a study, sorted."""
    query = (
        sa.select(responses.c.id)
        .where(
            responses.c.study_id == study_id,
            responses.c.status == "completed",
            responses.c.is_test == sa.false(),
        )
        .where(~responses.c.id.in_(sa.select(response_exclusions.c.response_id)))
        .order_by(responses.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def fingerprint(ids: Iterable[str]) -> str:
    """A key that changes whenever the set of responses changes (a withdrawal included)."""
    digest = hashlib.sha256()
    count = 0
    for rid in sorted(ids):
        digest.update(rid.encode("ascii", "replace") + b"\n")
        count += 1
    return f"{count}:{digest.hexdigest()}"
