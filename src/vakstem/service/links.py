"""Anonymous links per channel: the owner's source tags, each tag's link and QR code (SVG and
PNG, for print), and per source the link opens, starts and completes.

Opens are one counter per study, source and day, incremented in place: no row, address, cookie or
time is kept about any visitor. Starts and completes are counted from the responses' own `source`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote

import segno
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from vakstem.service.types import DomainError, StudyNotFound
from vakstem.store.invitations import link_opens, source_tags
from vakstem.store.prepared import Prepared
from vakstem.store.studies import get_study
from vakstem.store.tables import responses, studies

#: The same rule as `Study.sources` in the questionnaire file.
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: The tag responses started from a personal invitation carry (reserved, cannot be defined).
INVITATION_SOURCE = "uitnodiging"


class SourceTagError(DomainError):
    code = "source_tag"
    status = 422


@dataclass(frozen=True)
class SourceCount:
    source: str
    opens: int
    starts: int
    completes: int


def _check_study(conn: Connection, study_id: str) -> None:
    if conn.execute(sa.select(studies.c.id).where(studies.c.id == study_id)).first() is None:
        raise StudyNotFound(f"no study {study_id!r}", study=study_id)


_DB_TAGS = Prepared(
    sa.select(source_tags.c.tag).where(source_tags.c.study_id == sa.bindparam("study_id"))
)


def db_tags(conn: Connection, study_id: str) -> list[str]:
    return sorted(row.tag for row in _DB_TAGS.all(conn, {"study_id": study_id}))


def accepted_sources(conn: Connection, study_id: str, file_sources: tuple[str, ...]) -> set[str]:
    """Every tag a response of the study may carry: the study file's, the database's and the
    invitation tag."""
    return set(file_sources) | set(db_tags(conn, study_id)) | {INVITATION_SOURCE}


def all_tags(engine: Engine, study_id: str) -> list[str]:
    """The study file's tags followed by those defined in the database, without duplicates."""
    stored = get_study(engine, study_id)
    with engine.connect() as conn:
        extra = [t for t in db_tags(conn, study_id) if t not in stored.study.sources]
    return list(stored.study.sources) + extra


def add_tag(engine: Engine, study_id: str, tag: str, *, now: datetime | None = None) -> None:
    tag = tag.strip()
    if not TAG_PATTERN.match(tag):
        raise SourceTagError(
            f"source tag {tag!r}: use lower-case letters, digits, '-' and '_' "
            "(starting with a letter or digit, at most 64 characters)"
        )
    if tag == INVITATION_SOURCE:
        raise SourceTagError(f"source tag {tag!r} is reserved for personal invitations")
    with engine.begin() as conn:
        _check_study(conn, study_id)
        exists = conn.execute(
            sa.select(source_tags.c.tag).where(
                source_tags.c.study_id == study_id, source_tags.c.tag == tag
            )
        ).first()
        if exists is None:
            conn.execute(
                source_tags.insert().values(
                    study_id=study_id, tag=tag, created_at=now or datetime.now(UTC)
                )
            )


def remove_tag(engine: Engine, study_id: str, tag: str) -> None:
    """Forget a database tag (responses keep it; new ones with it get no source)."""
    with engine.begin() as conn:
        conn.execute(
            source_tags.delete().where(source_tags.c.study_id == study_id, source_tags.c.tag == tag)
        )


def count_open(engine: Engine, study_id: str, source: str | None, day: date) -> None:
    """Add one to the open counter of the study, source ("" for none) and day."""
    values = {"study_id": study_id, "source": source or "", "day": day, "opens": 1}
    keys = [link_opens.c.study_id, link_opens.c.source, link_opens.c.day]
    with engine.begin() as conn:
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
            link_opens
        ).values(**values)
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=keys, set_={"opens": link_opens.c.opens + 1}
            )
        )


def source_counts(engine: Engine, study_id: str) -> list[SourceCount]:
    """Per source: link opens (all days), starts and completes of non-test responses. The
    plain link without a tag is the source ""."""
    tags = all_tags(engine, study_id)
    with engine.connect() as conn:
        opens = dict(
            conn.execute(
                sa.select(link_opens.c.source, sa.func.sum(link_opens.c.opens))
                .where(link_opens.c.study_id == study_id)
                .group_by(link_opens.c.source)
            ).all()
        )
        completed = sa.case((responses.c.status == "completed", 1), else_=0)
        rows = conn.execute(
            sa.select(responses.c.source, sa.func.count(), sa.func.sum(completed))
            .where(responses.c.study_id == study_id, responses.c.is_test == sa.false())
            .group_by(responses.c.source)
        ).all()
    starts = {(r[0] or ""): (int(r[1]), int(r[2] or 0)) for r in rows}
    names = ["", *tags]
    names += sorted((set(opens) | set(starts)) - set(names))
    return [
        SourceCount(
            source=name,
            opens=int(opens.get(name, 0)),
            starts=starts.get(name, (0, 0))[0],
            completes=starts.get(name, (0, 0))[1],
        )
        for name in names
    ]


def link_url(base_url: str, study_id: str, tag: str | None) -> str:
    """The printed link of a source: it counts the open, then shows the survey's welcome."""
    base = base_url.rstrip("/")
    if not tag:
        return f"{base}/s/{quote(study_id)}/l"
    return f"{base}/s/{quote(study_id)}/l/{quote(tag)}"


def qr_svg(url: str) -> str:
    # Error level M survives a smudge on paper; a quiet zone of 4 modules is the standard's.
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=8, border=4, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()
