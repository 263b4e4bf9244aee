"""Personal invitations: importing addresses from CSV, sending invitations and reminders,
following the invitation link, declining, bounces, and deleting contact data.

Anonymity by design. The invitation table keeps flags (sent, used, completed, declined,
bounced) and no moments, and nothing in the schema refers from an invitation to a response or
back. Knowing that an invitee *completed* (so reminders skip them) needs one bridge while the
response runs: when the link is used, the response is started and `claim_hash` is set to an
Argon2id hash of the new response's resume code. The code exists in clear only in the
respondent's hands (the responses table keeps a SHA-256 of it under another scheme, so the two
columns cannot be matched without the code, and Argon2id makes trying all 2**50 codes
infeasible). When the respondent's closing page is shown, the code in its URL is hashed again,
the invitation is marked completed and `claim_hash` is cleared: from then on not even the code
links them. An invitee who started but has not finished cannot resume from the invitation link
(that would need the link), only with their resume code.

Tokens are 256-bit HMACs of the invitation's id under the deployment's secret key, so reminders
can carry the same link without the token being stored; only its SHA-256 is stored.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from argon2.low_level import Type, hash_secret_raw
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from vakstem.instrument.schema import Study, text_in
from vakstem.service import links, resume_codes
from vakstem.service.mailer import MailServerError, RecipientRefused, SmtpMailer
from vakstem.service.types import DomainError, ResponseState, StudyNotFound
from vakstem.settings import Settings
from vakstem.store.invitations import invitations
from vakstem.store.studies import get_study
from vakstem.store.tables import studies

TEMPLATE_DIR = Path(__file__).parent / "templates" / "email"
COLUMNS = ("email", "organisatie", "language")
#: A practical address check: one @, no spaces, a dotted domain of letters, digits and hyphens.
_EMAIL = re.compile(r"^[^@\s\"<>,;]{1,64}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
#: Argon2id cost of a claim: slow enough to make guessing resume codes hopeless.
_CLAIM_TIME, _CLAIM_MEMORY_KIB = 2, 32 * 1024

Progress = Callable[[int, int], None]


class InvitationError(DomainError):
    code = "invitation"
    status = 422


@dataclass(frozen=True)
class RejectedRow:
    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}" if self.row else self.reason


class CsvRejected(InvitationError):
    """The CSV has problems; nothing was imported. `rows` says which rows and why."""

    def __init__(self, rows: list[RejectedRow]) -> None:
        super().__init__(f"{len(rows)} problem(s) in the CSV; nothing was imported")
        self.rows = rows


@dataclass(frozen=True)
class Contact:
    email: str
    organisatie: str | None
    language: str
    #: Line of the CSV it came from, for the report.
    row: int = 0


# --- tokens and claims --------------------------------------------------------------------------


def _key(settings: Settings) -> bytes:
    if not settings.secret_key:
        raise InvitationError(
            "set VAKSTEM_SECRET_KEY: invitation links are derived from it, and must keep "
            "working after a restart"
        )
    return settings.secret_key.encode("utf-8")


def token_for(settings: Settings, study_id: str, invitation_id: int) -> str:
    digest = hmac.new(
        _key(settings), f"vakstem-invitation\x1f{study_id}\x1f{invitation_id}".encode(), "sha256"
    ).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def claim_hash(study_id: str, resume_code: str) -> str | None:
    """The slow one-way hash of a resume code that marks a running invited response."""
    code = resume_codes.normalise(resume_code)
    if code is None:
        return None
    salt = hashlib.sha256(f"vakstem-claim\x1f{study_id}".encode()).digest()[:16]
    raw = hash_secret_raw(
        code.encode("ascii"),
        salt,
        time_cost=_CLAIM_TIME,
        memory_cost=_CLAIM_MEMORY_KIB,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )
    return raw.hex()


def _placeholder() -> str:
    # Random, so no token hashes to it: a link that cannot be used.
    return secrets.token_hex(32)


# --- import -------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, list[RejectedRow]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        bad = []
        for number, line in enumerate(data.split(b"\n"), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(number)
        shown = ", ".join(str(n) for n in bad[:10]) + (" …" if len(bad) > 10 else "")
        return "", [
            RejectedRow(
                0,
                f"the file is not UTF-8 (line(s) {shown}); save it as CSV UTF-8 "
                "(with or without BOM)",
            )
        ]


def parse_csv(data: bytes, languages: tuple[str, ...], default_language: str) -> list[Contact]:
    """Validate every row of an invitation CSV; `CsvRejected` with all problems, or the
    contacts. Separator `,` or `;` (as Dutch spreadsheets save), header row required."""
    text, problems = _decode(data)
    if problems:
        raise CsvRejected(problems)
    if not text.strip():
        raise CsvRejected([RejectedRow(0, "the file is empty; expected a header row with email")])
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    if "email" not in header:
        raise CsvRejected(
            [RejectedRow(1, f"missing column 'email' (found: {', '.join(header) or 'nothing'})")]
        )
    # Spreadsheets often save empty columns after the last one: their header cell is empty.
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise CsvRejected(
            [
                RejectedRow(
                    1,
                    f"unknown column(s) {', '.join(repr(u) for u in unknown)}; only "
                    f"{', '.join(COLUMNS)} are kept (remove the others: no names are needed)",
                )
            ]
        )
    duplicates = [h for h in COLUMNS if header.count(h) > 1]
    if duplicates:
        raise CsvRejected([RejectedRow(1, f"column {duplicates[0]!r} appears twice")])
    contacts: list[Contact] = []
    rejected: list[RejectedRow] = []
    seen: dict[str, int] = {}
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            rejected.append(RejectedRow(number, f"{len(row)} cells, the header has {len(header)}"))
            continue
        cells = dict(zip(header, [c.strip() for c in row], strict=False))
        email = cells.get("email", "").lower()
        language = cells.get("language", "") or default_language
        organisatie = cells.get("organisatie", "") or None
        if not email:
            rejected.append(RejectedRow(number, "no email address"))
            continue
        if len(email) > 320 or not _EMAIL.match(email):
            rejected.append(RejectedRow(number, f"not an email address: {email!r}"))
            continue
        if email in seen:
            rejected.append(
                RejectedRow(number, f"{email} appears twice in the file (also row {seen[email]})")
            )
            continue
        seen[email] = number
        if language not in languages:
            rejected.append(
                RejectedRow(number, f"language {language!r}: the study has {', '.join(languages)}")
            )
            continue
        if organisatie is not None and len(organisatie) > 200:
            rejected.append(RejectedRow(number, "organisatie is longer than 200 characters"))
            continue
        contacts.append(Contact(email, organisatie, language, number))
    if rejected:
        raise CsvRejected(rejected)
    if not contacts:
        raise CsvRejected([RejectedRow(0, "the file has a header but no addresses")])
    return contacts


def import_csv(
    engine: Engine,
    settings: Settings,
    study_id: str,
    data: bytes,
    *,
    now: datetime | None = None,
) -> int:
    """Import invitees from CSV in one transaction: all rows, or none (`CsvRejected`).
    Returns the number imported."""
    stored = get_study(engine, study_id)
    study = stored.study
    contacts = parse_csv(data, study.languages, study.default_language)
    _key(settings)
    now = now or datetime.now(UTC)
    expires = now + timedelta(days=settings.invitation_valid_days)
    try:
        _insert(engine, settings, study_id, contacts, now, expires)
    except IntegrityError:
        # Another import of the same addresses committed first; this one left nothing behind.
        raise CsvRejected(
            [RejectedRow(0, "another import of these addresses ran at the same time; run again")]
        ) from None
    return len(contacts)


def _insert(
    engine: Engine,
    settings: Settings,
    study_id: str,
    contacts: list[Contact],
    now: datetime,
    expires: datetime,
) -> None:
    with engine.begin() as conn:
        existing = {
            e
            for e in conn.execute(
                sa.select(invitations.c.email).where(invitations.c.study_id == study_id)
            ).scalars()
            if e
        }
        already = [c for c in contacts if c.email in existing]
        if already:
            raise CsvRejected(
                [
                    RejectedRow(c.row, f"{c.email} was already invited to this study")
                    for c in already
                ]
            )
        for contact in contacts:
            new_id = conn.execute(
                invitations.insert()
                .values(
                    study_id=study_id,
                    token_hash=_placeholder(),
                    email=contact.email,
                    organisatie=contact.organisatie,
                    language=contact.language,
                    imported_at=now,
                    expires_at=expires,
                )
                .returning(invitations.c.id)
            ).scalar_one()
            conn.execute(
                invitations.update()
                .where(invitations.c.id == new_id)
                .values(token_hash=token_hash(token_for(settings, study_id, new_id)))
            )


# --- sending ------------------------------------------------------------------------------------


class Kind(StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"


def template_environment(settings: Settings, study_id: str) -> Environment:
    """Study overrides first (`<data_dir>/email/<study>/<lang>/<name>`), then the shipped ones."""
    own = settings.data_dir / "email" / study_id
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(str(own)), FileSystemLoader(str(TEMPLATE_DIR))]),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def build_message(
    env: Environment,
    settings: Settings,
    study: Study,
    study_id: str,
    kind: Kind,
    *,
    invitation_id: int,
    email: str,
    language: str,
    organisatie: str | None,
    expires: datetime,
) -> EmailMessage:
    lang = language if (TEMPLATE_DIR / language).is_dir() else "nl"
    token = token_for(settings, study_id, invitation_id)
    base = settings.public_url.rstrip("/")
    link = f"{base}/s/{quote(study_id)}/i/{token}"
    context = {
        "study_title": text_in(study.title, language, study.default_language),
        "link": link,
        "decline_link": f"{link}/weiger",
        "organisatie": organisatie or "",
        "expires": f"{expires:%d-%m-%Y}",
    }
    subject = env.get_template(f"{lang}/{kind.value}.subject.txt").render(context).strip()
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr(("", settings.smtp_from or ""))
    message["To"] = email
    message["Message-ID"] = make_msgid(domain="vakstem.invalid")
    message.set_content(env.get_template(f"{lang}/{kind.value}.txt").render(context))
    message.add_alternative(
        env.get_template(f"{lang}/{kind.value}.html").render(context), subtype="html"
    )
    return message


@dataclass
class SendReport:
    kind: Kind
    due: int = 0
    sent: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: Set when the server stopped the batch: what happened; the rest can be sent by running again.
    stopped: str | None = None


def _due(conn: Connection, study_id: str, kind: Kind, round_: int, now: datetime) -> list[sa.Row]:  # type: ignore[type-arg]
    c = invitations.c
    query = sa.select(invitations).where(
        c.study_id == study_id,
        c.email.is_not(None),
        c.purged == sa.false(),
        c.bounced == sa.false(),
        c.declined == sa.false(),
        c.expires_at > now,
        c.failure.is_(None),
    )
    if kind is Kind.INVITATION:
        query = query.where(c.sent == sa.false())
    else:
        query = query.where(
            c.sent == sa.true(), c.completed == sa.false(), c.reminders_sent == round_ - 1
        )
    return list(conn.execute(query.order_by(c.id)).all())


def send(
    engine: Engine,
    settings: Settings,
    study_id: str,
    kind: Kind,
    *,
    round_: int = 1,
    mailer: SmtpMailer | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> SendReport:
    """Send the invitations not sent yet, or reminder `round_` to invitees who have had the
    invitation and reminders before it, and have not completed, declined or bounced.

    Each accepted message is committed on its own right away, so a batch the server stops can
    be run again and nobody gets the same message twice.
    """
    if round_ < 1:
        raise InvitationError("the reminder round starts at 1")
    now = now or datetime.now(UTC)
    stored = get_study(engine, study_id)
    _key(settings)
    env = template_environment(settings, study_id)
    with engine.connect() as conn:
        due = _due(conn, study_id, kind, round_, now)
    report = SendReport(kind=kind, due=len(due))
    if not due:
        return report
    messages = [
        (
            row,
            build_message(
                env,
                settings,
                stored.study,
                study_id,
                kind,
                invitation_id=row.id,
                email=row.email,
                language=row.language,
                organisatie=row.organisatie,
                expires=row.expires_at,
            ),
        )
        for row in due
    ]
    if progress:
        progress(0, len(messages))
    try:
        with mailer or SmtpMailer(settings) as smtp:
            for done, (row, message) in enumerate(messages, start=1):
                try:
                    smtp.send(message)
                except RecipientRefused as exc:
                    report.refused.append((row.email, str(exc)))
                    _update(engine, row.id, failure=str(exc)[:500])
                else:
                    report.sent += 1
                    if kind is Kind.INVITATION:
                        _update(engine, row.id, sent=True)
                    else:
                        _update(engine, row.id, reminders_sent=round_)
                if progress:
                    progress(done, len(messages))
    except MailServerError as exc:
        report.stopped = (
            f"{exc}. Sent {report.sent} of {report.due}; the others were not sent. "
            "Run the command again to send the rest (nobody gets a message twice)."
        )
    return report


def _update(engine: Engine, invitation_id: int, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(invitations.update().where(invitations.c.id == invitation_id).values(**values))


# --- following the link -------------------------------------------------------------------------


class LinkState(StrEnum):
    STARTED = "started"
    USED = "used"
    DECLINED = "declined"
    #: Unknown, expired, purged or of another study: all look the same from outside.
    INVALID = "invalid"


@dataclass(frozen=True)
class LinkOutcome:
    state: LinkState
    language: str | None = None
    response: ResponseState | None = None


def _lookup(conn: Connection, study_id: str, token: str) -> sa.Row | None:  # type: ignore[type-arg]
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        sa.select(invitations).where(
            invitations.c.token_hash == token_hash(token), invitations.c.study_id == study_id
        )
    ).first()
    return row


def inspect(engine: Engine, study_id: str, token: str, now: datetime) -> LinkOutcome:
    """What the link is, without changing anything (the decline page shows it first)."""
    with engine.connect() as conn:
        row = _lookup(conn, study_id, token)
    if row is None or row.purged or row.expires_at <= now:
        return LinkOutcome(LinkState.INVALID)
    if row.declined:
        return LinkOutcome(LinkState.DECLINED, row.language)
    if row.used:
        return LinkOutcome(LinkState.USED, row.language)
    return LinkOutcome(LinkState.STARTED, row.language)


def use(
    engine: Engine,
    start: Callable[..., ResponseState],
    study_id: str,
    token: str,
    *,
    now: datetime | None = None,
) -> LinkOutcome:
    """Follow an invitation link: start the response if the token is fresh (exactly once, even
    for two clicks at the same moment), or say why not. `start` is the respondent service's."""
    now = now or datetime.now(UTC)
    seen = inspect(engine, study_id, token, now)
    if seen.state is not LinkState.STARTED:
        return seen
    c = invitations.c
    with engine.begin() as conn:
        # The conditional update is the single use: only one caller sees rowcount 1.
        won = conn.execute(
            invitations.update()
            .where(
                c.token_hash == token_hash(token),
                c.study_id == study_id,
                c.used == sa.false(),
                c.declined == sa.false(),
                c.purged == sa.false(),
            )
            .values(used=True)
        ).rowcount
    if won != 1:
        return inspect(engine, study_id, token, now)
    try:
        state = start(study_id, language=seen.language, source=links.INVITATION_SOURCE)
    except BaseException:
        _set_by_token(engine, study_id, token, used=False)
        raise
    _set_by_token(engine, study_id, token, claim_hash=claim_hash(study_id, state.resume_code))
    return LinkOutcome(LinkState.STARTED, seen.language, state)


def _set_by_token(engine: Engine, study_id: str, token: str, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(
            invitations.update()
            .where(
                invitations.c.token_hash == token_hash(token), invitations.c.study_id == study_id
            )
            .values(**values)
        )


def decline(engine: Engine, study_id: str, token: str, *, now: datetime | None = None) -> bool:
    """Record that the invitee does not want to take part (no more reminders)."""
    now = now or datetime.now(UTC)
    if inspect(engine, study_id, token, now).state is LinkState.INVALID:
        return False
    _set_by_token(engine, study_id, token, declined=True)
    return True


def record_completion(engine: Engine, study_id: str, resume_code: str) -> bool:
    """Mark the invitation of a completed response as completed and drop the bridge."""
    # The claim hash is slow on purpose; most completions came through the anonymous link, so
    # hash only when the study has an invited response running at all.
    with engine.connect() as conn:
        running = conn.execute(
            sa.select(invitations.c.id)
            .where(invitations.c.study_id == study_id, invitations.c.claim_hash.is_not(None))
            .limit(1)
        ).first()
    if running is None:
        return False
    claim = claim_hash(study_id, resume_code)
    if claim is None:
        return False
    with engine.begin() as conn:
        done = conn.execute(
            invitations.update()
            .where(invitations.c.study_id == study_id, invitations.c.claim_hash == claim)
            .values(completed=True, claim_hash=None)
        ).rowcount
    return done > 0


def record_bounce(engine: Engine, study_id: str, email: str, reason: str = "bounced") -> bool:
    """A bounce reported later (by the mail provider): no more messages to this address."""
    with engine.begin() as conn:
        done = conn.execute(
            invitations.update()
            .where(invitations.c.study_id == study_id, invitations.c.email == email.strip().lower())
            .values(bounced=True, failure=reason[:500])
        ).rowcount
    return done > 0


# --- contact data -------------------------------------------------------------------------------


def purge_contacts(engine: Engine, study_id: str) -> int:
    """Delete the study's email addresses and organisations, and disable every link."""
    with engine.begin() as conn:
        if conn.execute(sa.select(studies.c.id).where(studies.c.id == study_id)).first() is None:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
        ids = list(
            conn.execute(
                sa.select(invitations.c.id).where(
                    invitations.c.study_id == study_id, invitations.c.purged == sa.false()
                )
            ).scalars()
        )
        for invitation_id in ids:
            conn.execute(
                invitations.update()
                .where(invitations.c.id == invitation_id)
                .values(
                    email=None,
                    organisatie=None,
                    claim_hash=None,
                    failure=None,
                    token_hash=_placeholder(),
                    purged=True,
                )
            )
    return len(ids)


def purge_expired(engine: Engine, retention_days: int, *, now: datetime | None = None) -> list[str]:
    """Purge the contacts of every study closed (or past its closing date) more than
    `retention_days` ago; returns the studies purged. Run at start-up and by the command."""
    now = now or datetime.now(UTC)
    limit = now - timedelta(days=retention_days)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                studies.c.id, studies.c.status, studies.c.closes_at, studies.c.updated_at
            ).where(
                studies.c.id.in_(
                    sa.select(invitations.c.study_id).where(invitations.c.purged == sa.false())
                )
            )
        ).all()
    purged = []
    for row in rows:
        closed_since = row.updated_at if row.status in ("closed", "archived") else None
        if row.closes_at is not None and row.closes_at <= now:
            closed_since = min(filter(None, (closed_since, row.closes_at)))
        if closed_since is not None and closed_since <= limit:
            purge_contacts(engine, row.id)
            purged.append(row.id)
    return purged


@dataclass(frozen=True)
class Summary:
    invited: int
    sent: int
    reminded: int
    used: int
    completed: int
    declined: int
    bounced: int
    failed: int
    purged: int


def summary(engine: Engine, study_id: str) -> Summary:
    c = invitations.c

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.func.count(),
                count(c.sent == sa.true()),
                count(c.reminders_sent > 0),
                count(c.used == sa.true()),
                count(c.completed == sa.true()),
                count(c.declined == sa.true()),
                count(c.bounced == sa.true()),
                count(sa.and_(c.failure.is_not(None), c.bounced == sa.false())),
                count(c.purged == sa.true()),
            ).where(c.study_id == study_id)
        ).one()
    return Summary(*(int(v) for v in row))
