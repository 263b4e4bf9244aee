"""The study repository: storing questionnaire versions and each study's fieldwork status.

An instrument version is identified by the SHA-256 of its canonical model JSON, so loading the
same questionnaire twice (even re-formatted or with other comments) finds the same version, and
any change in content makes a new one. Version rows are never updated or deleted: a response
always refers to exactly the questionnaire it was given.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from vakstem.instrument.schema import Study
from vakstem.service.types import StudyNotFound
from vakstem.store.engine import read_connection, write_transaction
from vakstem.store.prepared import Prepared
from vakstem.store.tables import instrument_versions, responses, studies


class StudyStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    ARCHIVED = "archived"


#: Fieldwork moves forward only, except that a closed study may be reopened.
ALLOWED_TRANSITIONS: dict[StudyStatus, frozenset[StudyStatus]] = {
    StudyStatus.DRAFT: frozenset({StudyStatus.OPEN}),
    StudyStatus.OPEN: frozenset({StudyStatus.CLOSED}),
    StudyStatus.CLOSED: frozenset({StudyStatus.OPEN, StudyStatus.ARCHIVED}),
    StudyStatus.ARCHIVED: frozenset(),
}


class StudyStatusError(ValueError):
    """A status change that fieldwork rules do not allow (message says which and why)."""


class PrivacyStatementMissing(StudyStatusError):
    """The study would be open without a privacy statement (its current version has no
    `privacy` block). Respondents must be able to read who keeps their answers, why and how
    long before they give any."""


#: The message of `PrivacyStatementMissing` when opening; the console shows it translated.
NO_PRIVACY_TO_OPEN = (
    "This study has no privacy statement, so it cannot open. Add a privacy block to the study "
    "file (who is responsible, what is collected and why, how long it is kept, the "
    "respondent's rights and a contact) and load it as a new version."
)
#: The message when a new version without one would replace the version of an open study.
NO_PRIVACY_WHILE_OPEN = (
    "This study is open, so a new version needs a privacy statement: add the privacy block "
    "to the study file."
)


class VersionNotFound(LookupError):
    """No instrument version with this hash for this study."""


@dataclass(frozen=True)
class StoredStudy:
    """A study as stored: the model of its current version plus its fieldwork settings."""

    study_id: str
    study: Study
    version_hash: str
    version_label: str
    status: StudyStatus
    opens_at: datetime | None
    closes_at: datetime | None
    max_completes: int | None
    refusals: int
    created_at: datetime

    def accepts_responses(self, now: datetime) -> bool:
        """Open, and `now` within the fieldwork window when one is set."""
        if self.status is not StudyStatus.OPEN:
            return False
        if self.opens_at is not None and now < self.opens_at:
            return False
        return self.closes_at is None or now < self.closes_at


@dataclass(frozen=True)
class StudyListing:
    """One line of `list_studies`: status, current version and (non-test) response counts."""

    study_id: str
    status: StudyStatus
    version_hash: str | None
    version_label: str | None
    responses: int
    completes: int
    refusals: int


def canonical_json(study: Study) -> str:
    """The study model as canonical JSON: sorted keys, no whitespace, defaults left out (so a
    field added to the format later with a default does not change existing hashes)."""
    data = study.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def version_hash(study: Study) -> str:
    return hashlib.sha256(canonical_json(study).encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def load_study(
    engine: Engine, study: Study, source_text: str, *, now: datetime | None = None
) -> tuple[str, bool]:
    """Store `study` as its study's current version; returns (version hash, whether it is new).

    Loading content that is already stored (the current or an earlier version) adds no row; it
    only makes that version current again. A new study starts as a draft. An open study keeps
    its privacy statement: a version without one is refused (`PrivacyStatementMissing`).
    """
    now = now or _now()
    digest = version_hash(study)
    model_json = canonical_json(study)
    for attempt in range(2):
        try:
            with write_transaction(engine) as conn:
                return digest, _load(conn, study, digest, model_json, source_text, now)
        except IntegrityError:
            # Another process loaded the same study at the same moment; its rows are there now.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _load(
    conn: Connection, study: Study, digest: str, model_json: str, source_text: str, now: datetime
) -> bool:
    row = conn.execute(
        sa.select(studies.c.id, studies.c.status).where(studies.c.id == study.id).with_for_update()
    ).first()
    if row is not None and row.status == StudyStatus.OPEN.value and study.privacy is None:
        raise PrivacyStatementMissing(NO_PRIVACY_WHILE_OPEN)
    if row is None:
        conn.execute(
            studies.insert().values(
                id=study.id, status=StudyStatus.DRAFT.value, created_at=now, updated_at=now
            )
        )
    exists = conn.execute(
        sa.select(instrument_versions.c.hash).where(
            instrument_versions.c.study_id == study.id, instrument_versions.c.hash == digest
        )
    ).first()
    if exists is None:
        conn.execute(
            instrument_versions.insert().values(
                study_id=study.id,
                hash=digest,
                label=study.version,
                source_text=source_text,
                model_json=model_json,
                created_at=now,
            )
        )
    conn.execute(
        studies.update()
        .where(studies.c.id == study.id)
        .values(current_version=digest, updated_at=now)
    )
    return exists is None


#: Built once: building the statement for every welcome page cost more than running it.
_STUDY_ROW = Prepared(sa.select(studies).where(studies.c.id == sa.bindparam("study_id")))


def _study_row(conn: Connection, study_id: str) -> Any:
    row = _STUDY_ROW.first(conn, {"study_id": study_id})
    if row is None or row.current_version is None:
        raise StudyNotFound(f"no study {study_id!r}", study=study_id)
    return row


def _parse(model_json: str) -> Study:
    return Study.model_validate_json(model_json)


#: Parsed models by (study id, version hash), most recently used last. A version's content
#: never changes (the hash is of that content, in any database), and reading and parsing the
#: klantmanager study's model (~170 kB) took longer than the rest of a welcome page.
_MODELS: OrderedDict[tuple[str, str], Study] = OrderedDict()
_MODELS_KEPT = 32


def version_model(conn: Connection, study_id: str, digest: str) -> Study:
    """The parsed model of a stored version, kept in the process-wide cache above."""
    key = (study_id, digest)
    study = _MODELS.get(key)
    if study is None:
        model_json = conn.execute(
            sa.select(instrument_versions.c.model_json).where(
                instrument_versions.c.study_id == study_id, instrument_versions.c.hash == digest
            )
        ).scalar_one()
        study = _parse(model_json)
        _MODELS[key] = study
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
    else:
        with contextlib.suppress(KeyError):  # another thread may have dropped it meanwhile
            _MODELS.move_to_end(key)
    return study


def get_study(engine: Engine, study_id: str) -> StoredStudy:
    """The study with the model of its current version; unknown id → `StudyNotFound`."""
    # The version read second is immutable, so the two reads need no transaction together.
    with read_connection(engine) as conn:
        row = _study_row(conn, study_id)
        study = version_model(conn, study_id, row.current_version)
    return StoredStudy(
        study_id=row.id,
        study=study,
        version_hash=row.current_version,
        version_label=study.version,
        status=StudyStatus(row.status),
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        max_completes=row.max_completes,
        refusals=row.refusals,
        created_at=row.created_at,
    )


def get_version(engine: Engine, study_id: str, digest: str) -> Study:
    """The model of one stored version (immutable, so callers may cache it)."""
    with engine.connect() as conn:
        model_json = conn.execute(
            sa.select(instrument_versions.c.model_json).where(
                instrument_versions.c.study_id == study_id, instrument_versions.c.hash == digest
            )
        ).scalar()
    if model_json is None:
        raise VersionNotFound(f"study {study_id!r} has no version {digest[:12]}")
    return _parse(model_json)


def get_source(engine: Engine, study_id: str, digest: str) -> str:
    """The questionnaire file text a version was loaded from."""
    with engine.connect() as conn:
        text = conn.execute(
            sa.select(instrument_versions.c.source_text).where(
                instrument_versions.c.study_id == study_id, instrument_versions.c.hash == digest
            )
        ).scalar()
    if text is None:
        raise VersionNotFound(f"study {study_id!r} has no version {digest[:12]}")
    return str(text)


def list_studies(engine: Engine) -> list[StudyListing]:
    """Every study with its status, current version and counts of real (non-test) responses."""
    real = responses.c.is_test == sa.false()
    counts = (
        sa.select(
            responses.c.study_id,
            sa.func.count().label("n"),
            sa.func.count().filter(responses.c.status == "completed").label("completes"),
        )
        .where(real)
        .group_by(responses.c.study_id)
        .subquery()
    )
    query = (
        sa.select(
            studies.c.id,
            studies.c.status,
            studies.c.current_version,
            studies.c.refusals,
            instrument_versions.c.label,
            counts.c.n,
            counts.c.completes,
        )
        .outerjoin(
            instrument_versions,
            sa.and_(
                instrument_versions.c.study_id == studies.c.id,
                instrument_versions.c.hash == studies.c.current_version,
            ),
        )
        .outerjoin(counts, counts.c.study_id == studies.c.id)
        .order_by(studies.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        StudyListing(
            study_id=r.id,
            status=StudyStatus(r.status),
            version_hash=r.current_version,
            version_label=r.label,
            responses=r.n or 0,
            completes=r.completes or 0,
            refusals=r.refusals,
        )
        for r in rows
    ]


def set_status(
    engine: Engine, study_id: str, status: StudyStatus | str, *, now: datetime | None = None
) -> StudyStatus:
    """Move a study to `status` if fieldwork rules allow it; returns the new status. Opening
    needs a privacy statement in the current version (`PrivacyStatementMissing`)."""
    try:
        target = StudyStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in StudyStatus)
        raise StudyStatusError(f"unknown status {status!r} (one of: {allowed})") from None
    now = now or _now()
    with write_transaction(engine) as conn:
        row = conn.execute(
            sa.select(studies.c.status, studies.c.current_version)
            .where(studies.c.id == study_id)
            .with_for_update()
        ).first()
        if row is None:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
        current = StudyStatus(row.status)
        if target is current:
            raise StudyStatusError(f"study {study_id!r} is already {current.value}")
        if target not in ALLOWED_TRANSITIONS[current]:
            targets = sorted(s.value for s in ALLOWED_TRANSITIONS[current])
            hint = (
                f"from {current.value} it can go to: {', '.join(targets)}"
                if targets
                else (f"{current.value} is final")
            )
            raise StudyStatusError(
                f"study {study_id!r} cannot go from {current.value} to {target.value} ({hint})"
            )
        if target is StudyStatus.OPEN and not _has_privacy(conn, study_id, row.current_version):
            raise PrivacyStatementMissing(NO_PRIVACY_TO_OPEN)
        conn.execute(
            studies.update()
            .where(studies.c.id == study_id)
            .values(status=target.value, updated_at=now)
        )
    return target


def _has_privacy(conn: Connection, study_id: str, digest: str | None) -> bool:
    """Whether the version `digest` of the study has a privacy statement. Every path that opens
    a study (console, `vakstem study open`, the demo) goes through `set_status`; a fieldwork
    window never opens a study by itself (it only limits when an open study accepts answers)."""
    if digest is None:
        return False
    model_json = conn.execute(
        sa.select(instrument_versions.c.model_json).where(
            instrument_versions.c.study_id == study_id, instrument_versions.c.hash == digest
        )
    ).scalar()
    return model_json is not None and _parse(model_json).privacy is not None


def set_fieldwork(
    engine: Engine,
    study_id: str,
    *,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    max_completes: int | None = None,
) -> None:
    """Set the fieldwork window and the completes target (None clears each)."""
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise StudyStatusError("the study must close after it opens")
    if max_completes is not None and max_completes < 1:
        raise StudyStatusError("max_completes must be at least 1")
    with write_transaction(engine) as conn:
        done = conn.execute(
            studies.update()
            .where(studies.c.id == study_id)
            .values(
                opens_at=opens_at,
                closes_at=closes_at,
                max_completes=max_completes,
                updated_at=_now(),
            )
        )
        if done.rowcount == 0:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
