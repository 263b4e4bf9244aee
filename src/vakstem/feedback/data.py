"""The data every feedback surface works from: one row per completed response with its scale
scores, organisation, organisation type, size class, caseload and open answers.

Read from the store through the export's `ResponseReader` (completed, non-test responses, in one
snapshot), minus responses a researcher excluded in the console; scores come from
`vakstem.analysis.scoring.scale_scores`. Builders take a `FeedbackData`, so tests can make one
from answers in memory (`frame_from_answers`) and run the same code as the web pages.

For the mirror on the closing page, which runs once per completion: `completed_state` tells
with one small aggregate query whether the set can have lost a response, and `load_scores`
reads only some scales' items (of all responses, or of the new ones) and scores them in numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.analysis.scoring import scale_scores
from vakstem.export.database import ResponseReader, open_source
from vakstem.export.missing import ExportError
from vakstem.export.scores import ChunkScorer
from vakstem.export.table import ExportOptions
from vakstem.feedback.disclosure import check_k
from vakstem.instrument.schema import ItemType, Study
from vakstem.service.audit import RESPONSE_DELETED
from vakstem.service.types import StudyNotFound
from vakstem.store.accounts import audit_log, response_exclusions
from vakstem.store.tables import answers as answer_table
from vakstem.store.tables import responses, studies

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


@dataclass(frozen=True)
class CompletedState:
    """A cheap summary of a study's completed responses, to tell whether the set the feedback
    reads (completed, non-test, not excluded) can have lost a response since an earlier summary,
    without reading that set: one statement of counts that indexes answer
    (`completed_state`), so a closing page costs about the same at 50 or 50,000 completes.

    A response leaves the set in one of three ways, each leaving a marker: it is withdrawn (its
    row stays, with a status other than completed and its `completed_at`: `left`, and its
    `updated_at` moves `left_at`), excluded or included again by a researcher (`excluded`,
    `excluded_at`), or deleted on a participant's request (the console writes an audit entry:
    `deleted`, the last one's id). Retention deletes only test and unfinished responses, which
    are never in the set. A new way out of the set must leave a marker here too.
    """

    version: str | None
    #: Completed responses of the study, test and excluded ones included: at least the size
    #: of the set, and counted from the (study, status) index alone.
    completed: int
    left: int
    left_at: datetime | None
    excluded: int
    excluded_at: datetime | None
    deleted: int | None

    def only_added_to(self, before: CompletedState) -> bool:
        """Whether every response of `before`'s set is still in this one, and the study has
        the same version: nothing withdrawn, excluded, included again or deleted since."""
        return (
            self.version == before.version
            and self.left == before.left
            and self.left_at == before.left_at
            and self.excluded == before.excluded
            and self.excluded_at == before.excluded_at
            and self.deleted == before.deleted
            and self.completed >= before.completed
        )

    def same_as(self, before: CompletedState) -> bool:
        """Whether the set is the very one `before` summarised."""
        return self.only_added_to(before) and self.completed == before.completed


def _in_set(study_id: str) -> sa.ColumnElement[bool]:
    """Completed, non-test, not excluded responses of a study."""
    return (
        (responses.c.study_id == study_id)
        & (responses.c.status == "completed")
        & (responses.c.is_test == sa.false())
        & ~sa.exists().where(response_exclusions.c.response_id == responses.c.id)
    )


#: Statuses a response can have after it was completed (only a withdrawal makes one today).
_AFTER_COMPLETION = ("withdrawn", "refused", "screened_out")


def completed_state(engine: Engine, study_id: str) -> CompletedState:
    """The `CompletedState` of a study, in one statement (one snapshot). An unknown study has
    version None and counts of 0."""
    r = responses.c
    completed = (
        sa.select(sa.func.count())
        .where(r.study_id == study_id, r.status == "completed")
        .scalar_subquery()
    )
    # Rows completed once and no longer: withdrawn (the row keeps completed_at). The status
    # range comes from the index, so only these few rows are read.
    gone = (
        sa.select(sa.func.count().label("n"), sa.func.max(r.updated_at).label("at"))
        .where(
            r.study_id == study_id,
            r.status.in_(_AFTER_COMPLETION),
            r.completed_at.is_not(None),
        )
        .subquery()
    )
    x = response_exclusions.c
    # Driven by the (small) exclusions table: one primary-key lookup of each excluded response.
    excluded = (
        sa.select(sa.func.count().label("n"), sa.func.max(x.at).label("at"))
        .where(sa.exists().where(responses.c.id == x.response_id, responses.c.study_id == study_id))
        .subquery()
    )
    deleted = (
        sa.select(sa.func.max(audit_log.c.id))
        .where(audit_log.c.study_id == study_id, audit_log.c.action == RESPONSE_DELETED)
        .scalar_subquery()
    )
    version = sa.select(studies.c.current_version).where(studies.c.id == study_id).scalar_subquery()
    query = sa.select(
        version, completed, gone.c.n, gone.c.at, excluded.c.n, excluded.c.at, deleted
    ).select_from(gone.join(excluded, sa.true()))
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return CompletedState(
        version=row[0],
        completed=int(row[1]),
        left=int(row[2]),
        left_at=row[3],
        excluded=int(row[4]),
        excluded_at=row[5],
        deleted=row[6],
    )


def _fetch_all(conn: sa.Connection, query: sa.Select[Any]) -> list[Any]:
    """The rows of `query` as the DB-API cursor gives them: at every answer of every completed
    response, building a SQLAlchemy row for each costs more than reading it. Only for queries
    whose parameters are plain strings (no type processes them on the way in)."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def load_scores(
    engine: Engine,
    study: Study,
    study_id: str,
    scale_ids: Iterable[str],
    *,
    among: Sequence[str] | None = None,
) -> tuple[list[str], dict[str, np.ndarray[Any, Any]]]:
    """Ids of the completed, non-test, not excluded responses of a study (sorted), and their
    scores on the scales `scale_ids` (NaN where too few items were answered), in that order;
    with `among`, only those of these responses (the ones still in the set).

    For the mirror, which needs only these scores: one statement (one snapshot) reads only the
    scales' items, the answers are turned into numbers a column at a time, and `ChunkScorer`
    scores them in numpy by `analysis.scoring`'s rules, to the same bits as
    `load_feedback_data`'s pandas scores (a test compares the two)."""
    wanted = list(scale_ids)
    variables = sorted({v for s in study.scales if s.id in set(wanted) for v in s.items})
    a = answer_table.c
    # An outer join, so a response without any of these answers still counts; the value as
    # its JSON text on both databases (SQLite hands back numbers as numbers otherwise).
    query = (
        sa.select(responses.c.id, a.variable, sa.cast(a.value, sa.Text))
        .select_from(
            responses.outerjoin(
                answer_table, (a.response_id == responses.c.id) & a.variable.in_(variables)
            )
        )
        .where(_in_set(study_id))
    )
    parts = (
        [query]
        if among is None
        else [
            # In parts: SQLite takes at most 32,766 parameters (999 before 3.32).
            query.where(responses.c.id.in_(among[start : start + 900]))
            for start in range(0, len(among), 900)
        ]
    )
    rows: list[Any] = []
    with engine.connect() as conn:
        for part in parts:
            rows.extend(_fetch_all(conn, part))
    scorer = ChunkScorer(study)
    if not rows:
        empty = scorer.scores({v: np.empty(0) for v in scorer.variables()})
        return [], {s: empty[s] for s in wanted}
    rid, variable, text = (np.asarray(column, dtype=object) for column in zip(*rows, strict=True))
    at, ids = pd.factorize(rid, sort=True)
    which, names = pd.factorize(variable, sort=False)
    # As frame_from_answers: a JSON number is a number (true and false are 1 and 0, as bool is
    # an int in Python), anything else (text, a list, null) is missing.
    text = np.where(text == "true", "1", np.where(text == "false", "0", text))
    values = pd.to_numeric(pd.Series(text, copy=False), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    columns = {v: np.full(len(ids), np.nan) for v in scorer.variables()}
    answered = which >= 0
    for code, name in enumerate(names):
        hit = answered & (which == code)
        columns[str(name)][at[hit]] = values[hit]
    scores = scorer.scores(columns)
    return [str(i) for i in ids], {s: scores[s] for s in wanted}
