"""What the researcher console and API do with a study's data: dashboard records, the responses
list and a single response, exclusion, deletion on a participant's request, status and fieldwork
changes, and uploading a new questionnaire version with a readable diff.

Role checks happen in the web layer; every function here that changes something takes the
acting account and appends an audit entry.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from vakstem.instrument.schema import ItemType, Study, text_in
from vakstem.service import audit, resume_codes
from vakstem.service.audit import Actor
from vakstem.service.dashboard import QualityFlags, ResponseRecord, quality_flags
from vakstem.service.types import DomainError, ResponseNotFound
from vakstem.store import studies as store_studies
from vakstem.store.accounts import response_exclusions
from vakstem.store.tables import answers, page_events, responses

MAX_REASON_LENGTH = 1000


class ConsoleError(DomainError):
    """A refused console action, with an English detail for the page or the API."""

    code = "console_error"
    status = 400


class VersionRejected(ConsoleError):
    """An uploaded questionnaire has problems (listed with their location)."""

    code = "version_rejected"
    status = 422

    def __init__(self, detail: str, problems: Sequence[str]) -> None:
        super().__init__(detail)
        self.problems = list(problems)


class PrivacyRequired(ConsoleError):
    """The study cannot open, or an open study cannot take a new version, without a privacy
    statement (the store's `PrivacyStatementMissing`)."""

    code = "privacy_required"
    status = 409


class PrivacyVersionRejected(VersionRejected):
    """An uploaded version has no privacy statement while the study is open."""

    code = "privacy_required"
    status = 409


@dataclass(frozen=True)
class ResponseRow:
    id: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    duration_s: float | None
    language: str
    source: str | None
    is_test: bool
    version_hash: str
    excluded_reason: str | None
    flags: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "duration_s": self.duration_s,
            "language": self.language,
            "source": self.source,
            "test": self.is_test,
            "instrument_version": self.version_hash,
            "excluded": self.excluded_reason is not None,
            "excluded_reason": self.excluded_reason,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class AnswerLine:
    variable: str
    question: str
    value: Any
    shown: str


@dataclass(frozen=True)
class ResponseDetail:
    row: ResponseRow
    answers: tuple[AnswerLine, ...]

    def as_json(self) -> dict[str, Any]:
        return self.row.as_json() | {
            "answers": {a.variable: a.value for a in self.answers},
        }


@dataclass(frozen=True)
class VersionPreview:
    study: Study
    source_text: str
    new_hash: str
    current_hash: str
    current_label: str
    diff: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return self.new_hash == self.current_hash


# -- reading ---------------------------------------------------------------------------------


def _exclusions(conn: sa.Connection, study_id: str) -> dict[str, str]:
    return {
        r.response_id: r.reason
        for r in conn.execute(
            sa.select(response_exclusions.c.response_id, response_exclusions.c.reason)
            .join(responses, responses.c.id == response_exclusions.c.response_id)
            .where(responses.c.study_id == study_id)
        )
    }


def dashboard_records(engine: Engine, study_id: str) -> list[ResponseRecord]:
    """Every response of the study with its answers and the pages it was shown."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(responses).where(responses.c.study_id == study_id).order_by(responses.c.id)
        ).all()
        values: dict[str, dict[str, Any]] = defaultdict(dict)
        for a in conn.execute(
            sa.select(answers.c.response_id, answers.c.variable, answers.c.value)
            .join(responses, responses.c.id == answers.c.response_id)
            .where(responses.c.study_id == study_id)
        ):
            values[a.response_id][a.variable] = a.value
        seen: dict[str, set[str]] = defaultdict(set)
        for e in conn.execute(
            sa.select(page_events.c.response_id, page_events.c.page_id)
            .join(responses, responses.c.id == page_events.c.response_id)
            .where(responses.c.study_id == study_id, page_events.c.event == "shown")
            .distinct()
        ):
            seen[e.response_id].add(e.page_id)
        excluded = _exclusions(conn, study_id)
    return [
        ResponseRecord(
            id=r.id,
            status=r.status,
            started_at=r.started_at,
            completed_at=r.completed_at,
            language=r.language,
            source=r.source,
            is_test=bool(r.is_test),
            excluded=r.id in excluded,
            answers=values.get(r.id, {}),
            pages_seen=frozenset(seen.get(r.id, set())),
            flags=frozenset(r.quality_flags or ()),
        )
        for r in rows
    ]


def _fingerprint(engine: Engine, study_id: str) -> tuple[Any, ...]:
    """A cheap summary that changes whenever the study's responses or exclusions change: every
    start, submitted page, completion, deletion and exclusion moves a count or a timestamp."""
    with engine.connect() as conn:
        count, latest = conn.execute(
            sa.select(sa.func.count(), sa.func.max(responses.c.updated_at)).where(
                responses.c.study_id == study_id
            )
        ).one()
        excluded = conn.execute(
            sa.select(sa.func.count())
            .select_from(response_exclusions)
            .join(responses, responses.c.id == response_exclusions.c.response_id)
            .where(responses.c.study_id == study_id)
        ).scalar_one()
    return (count, latest, excluded)


class RecordCache:
    """The dashboard records of recently viewed studies, read again only when the study's
    fingerprint changed: an auto-refreshing dashboard then costs two aggregate queries instead
    of reading every answer."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._entries: dict[str, tuple[tuple[Any, ...], list[ResponseRecord]]] = {}
        self._lock = threading.Lock()

    def records(self, engine: Engine, study_id: str) -> list[ResponseRecord]:
        key = _fingerprint(engine, study_id)
        with self._lock:
            hit = self._entries.get(study_id)
            if hit is not None and hit[0] == key:
                return hit[1]
        records = dashboard_records(engine, study_id)
        with self._lock:
            self._entries.pop(study_id, None)
            self._entries[study_id] = (key, records)
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))
        return records


def _row(r: Any, excluded: dict[str, str], flags: QualityFlags) -> ResponseRow:
    duration = (r.completed_at - r.started_at).total_seconds() if r.completed_at else None
    return ResponseRow(
        id=r.id,
        status=r.status,
        started_at=r.started_at,
        completed_at=r.completed_at,
        duration_s=duration,
        language=r.language,
        source=r.source,
        is_test=bool(r.is_test),
        version_hash=r.version_hash,
        excluded_reason=excluded.get(r.id),
        flags=flags.for_response(r.id),
    )


def list_responses(
    engine: Engine, study: Study, study_id: str, *, include_test: bool = False
) -> list[ResponseRow]:
    """The responses, newest first, with exclusion and data-quality flags."""
    records = dashboard_records(engine, study_id)
    pool = [r for r in records if include_test or not r.is_test]
    flags = quality_flags(study, [r for r in pool if not r.excluded])
    with engine.connect() as conn:
        query = sa.select(responses).where(responses.c.study_id == study_id)
        if not include_test:
            query = query.where(responses.c.is_test == sa.false())
        rows = conn.execute(query.order_by(responses.c.started_at.desc())).all()
        excluded = _exclusions(conn, study_id)
    return [_row(r, excluded, flags) for r in rows]


def _shown(study: Study, variable: str, value: Any, language: str) -> tuple[str, str]:
    """(question text, answer as shown) for one stored answer."""
    for _page, item in study.items():
        if variable not in item.variables():
            continue
        question = text_in(item.text, language)
        if item.type is ItemType.MATRIX:
            row = next(r for r in item.rows if r.id == variable)
            question = f"{question} — {text_in(row.text, language)}"
        labels = {c.code: text_in(c.label, language) for c in study.choices_of(item)}
        if item.type is ItemType.CONSENT:
            labels = {1: "ja / yes", 0: "nee / no"}
        if isinstance(value, list):
            return question, "; ".join(labels.get(v, str(v)) for v in value)
        if isinstance(value, int) and value in labels:
            return question, f"{labels[value]} ({value})"
        return question, "" if value is None else str(value)
    return variable, json.dumps(value, ensure_ascii=False)


def open_variables(study: Study) -> set[str]:
    """Variables holding open answers (text and long text items): never shown to viewers."""
    return {
        v
        for _page, item in study.items()
        if item.type in (ItemType.TEXT, ItemType.LONGTEXT) or item.open_text
        for v in item.variables()
    }


def response_detail(
    engine: Engine, study: Study, study_id: str, response_id: str, *, language: str = "nl"
) -> ResponseDetail:
    """One response with its answers in questionnaire order; a response of another study is
    `ResponseNotFound`, as if it did not exist."""
    with engine.connect() as conn:
        r = conn.execute(
            sa.select(responses).where(
                responses.c.id == response_id, responses.c.study_id == study_id
            )
        ).first()
        if r is None:
            raise ResponseNotFound()
        stored = {
            a.variable: a.value
            for a in conn.execute(
                sa.select(answers.c.variable, answers.c.value).where(
                    answers.c.response_id == response_id
                )
            )
        }
        excluded = _exclusions(conn, study_id)
    # The response may have been given on an earlier version: label it with that version.
    try:
        version = store_studies.get_version(engine, study_id, r.version_hash)
    except store_studies.VersionNotFound:
        version = study
    order = {v: i for i, v in enumerate(version.variables())}
    lines = []
    for variable in sorted(stored, key=lambda v: (order.get(v, len(order)), v)):
        question, shown = _shown(version, variable, stored[variable], language)
        lines.append(AnswerLine(variable, question, stored[variable], shown))
    flags = quality_flags(version, [])
    return ResponseDetail(_row(r, excluded, flags), tuple(lines))


# -- changing --------------------------------------------------------------------------------


def _response_in_study(conn: sa.Connection, study_id: str, response_id: str) -> None:
    found = conn.execute(
        sa.select(responses.c.id).where(
            responses.c.id == response_id, responses.c.study_id == study_id
        )
    ).first()
    if found is None:
        raise ResponseNotFound()


def exclude_response(
    engine: Engine, study_id: str, response_id: str, reason: str, *, actor: Actor
) -> None:
    """Mark a response as excluded, with a reason (required). The dashboard leaves it out;
    exports and analysis can leave out what `response_exclusions` lists."""
    reason = reason.strip()
    if not reason:
        raise ConsoleError("give a reason for excluding this response")
    if len(reason) > MAX_REASON_LENGTH:
        raise ConsoleError(f"the reason may have at most {MAX_REASON_LENGTH} characters")
    with engine.begin() as conn:
        _response_in_study(conn, study_id, response_id)
        conn.execute(
            response_exclusions.delete().where(response_exclusions.c.response_id == response_id)
        )
        conn.execute(
            response_exclusions.insert().values(
                response_id=response_id,
                reason=reason,
                excluded_by=actor.user_id,
                at=datetime.now(UTC),
            )
        )
        audit.record(
            conn,
            actor,
            audit.RESPONSE_EXCLUDED,
            study_id=study_id,
            details={"response": response_id, "reason": reason},
        )


def include_response(engine: Engine, study_id: str, response_id: str, *, actor: Actor) -> None:
    """Undo an exclusion."""
    with engine.begin() as conn:
        _response_in_study(conn, study_id, response_id)
        done = conn.execute(
            response_exclusions.delete().where(response_exclusions.c.response_id == response_id)
        ).rowcount
        if done:
            audit.record(
                conn,
                actor,
                audit.RESPONSE_INCLUDED,
                study_id=study_id,
                details={"response": response_id},
            )


def delete_by_resume_code(engine: Engine, study_id: str, code: str, *, actor: Actor) -> str:
    """Delete a response with all its answers, on a participant's request (they give their
    resume code). Returns the deleted response's id; the audit entry keeps only that id."""
    normalised = resume_codes.normalise(code)
    if normalised is None:
        raise ConsoleError("this is not a resume code (it has 10 letters and digits)")
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(responses.c.id).where(
                responses.c.study_id == study_id,
                responses.c.resume_hash == resume_codes.code_hash(normalised),
            )
        ).first()
        if found is None:
            raise ResponseNotFound()
        # Answers, page events and exclusions go with it (ON DELETE CASCADE).
        conn.execute(page_events.delete().where(page_events.c.response_id == found.id))
        conn.execute(answers.delete().where(answers.c.response_id == found.id))
        conn.execute(
            response_exclusions.delete().where(response_exclusions.c.response_id == found.id)
        )
        conn.execute(responses.delete().where(responses.c.id == found.id))
        audit.record(
            conn,
            actor,
            audit.RESPONSE_DELETED,
            study_id=study_id,
            details={"response": found.id, "on_request": True},
        )
    return str(found.id)


def change_status(engine: Engine, study_id: str, target: str, *, actor: Actor) -> str:
    """Move the study through its life cycle (draft → open → closed → archived)."""
    before = store_studies.get_study(engine, study_id).status
    try:
        after = store_studies.set_status(engine, study_id, target)
    except store_studies.PrivacyStatementMissing as exc:
        raise PrivacyRequired(str(exc)) from None
    except store_studies.StudyStatusError as exc:
        raise ConsoleError(str(exc)) from None
    # set_status commits on its own; the entry follows right after it.
    with engine.begin() as conn:
        audit.record(
            conn,
            actor,
            audit.STATUS_CHANGED,
            study_id=study_id,
            details={"from": before.value, "to": after.value},
        )
    return after.value


def change_fieldwork(
    engine: Engine,
    study_id: str,
    *,
    opens_at: datetime | None,
    closes_at: datetime | None,
    max_completes: int | None,
    actor: Actor,
) -> None:
    try:
        store_studies.set_fieldwork(
            engine,
            study_id,
            opens_at=opens_at,
            closes_at=closes_at,
            max_completes=max_completes,
        )
    except store_studies.StudyStatusError as exc:
        raise ConsoleError(str(exc)) from None
    with engine.begin() as conn:
        audit.record(
            conn,
            actor,
            audit.SCHEDULE_CHANGED,
            study_id=study_id,
            details={
                "opens_at": opens_at.isoformat() if opens_at else None,
                "closes_at": closes_at.isoformat() if closes_at else None,
                "max_completes": max_completes,
            },
        )


def _canonical_yaml(study: Study) -> list[str]:
    data = study.model_dump(mode="json", exclude_defaults=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return text.splitlines()


def preview_version(engine: Engine, study_id: str, source_text: str) -> VersionPreview:
    """Validate an uploaded questionnaire (same located problems as `vakstem check`) and show
    what changes against the current version, before anything is stored."""
    from vakstem.instrument.loader import check_text

    study, problems = check_text(source_text, "study.yaml")
    if problems or study is None:
        raise VersionRejected(
            "the questionnaire has problems; nothing was changed",
            [str(p) for p in problems] or ["the study could not be built"],
        )
    if study.id != study_id:
        raise VersionRejected(
            "this file is for another study",
            [f"study.yaml: id is {study.id!r}, but this study is {study_id!r}"],
        )
    current = store_studies.get_study(engine, study_id)
    if current.status is store_studies.StudyStatus.OPEN and study.privacy is None:
        raise PrivacyVersionRejected(
            store_studies.NO_PRIVACY_WHILE_OPEN,
            ["study.yaml: privacy: missing; an open study must keep its privacy statement"],
        )
    diff = difflib.unified_diff(
        _canonical_yaml(current.study),
        _canonical_yaml(study),
        fromfile=f"version {current.version_label} ({current.version_hash[:12]})",
        tofile=f"version {study.version} (new)",
        lineterm="",
        n=2,
    )
    return VersionPreview(
        study=study,
        source_text=source_text,
        new_hash=store_studies.version_hash(study),
        current_hash=current.version_hash,
        current_label=current.version_label,
        diff=tuple(diff),
    )


def publish_version(engine: Engine, study_id: str, source_text: str, *, actor: Actor) -> str:
    """Store the uploaded questionnaire as the study's current version; returns its hash."""
    preview = preview_version(engine, study_id, source_text)
    try:
        digest, new = store_studies.load_study(engine, preview.study, source_text)
    except store_studies.PrivacyStatementMissing as exc:
        # The study was opened between the preview and this store.
        raise PrivacyVersionRejected(str(exc), ["study.yaml: privacy: missing"]) from None
    with engine.begin() as conn:
        audit.record(
            conn,
            actor,
            audit.VERSION_UPLOADED,
            study_id=study_id,
            details={
                "version": preview.study.version,
                "hash": digest,
                "previous": preview.current_hash,
                "new_content": new,
            },
        )
    return digest
