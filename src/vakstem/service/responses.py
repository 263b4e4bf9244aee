"""The respondent domain service: starting, answering, going back, resuming and withdrawing.

The HTML pages, the JSON API and the simulator all call `ResponseService`, so every rule of the
respondent flow lives here once: one page at a time, conditions evaluated on the server, answers
of a page validated together and written in one transaction, stale answers of hidden items
removed, and concurrent submits of one response serialised so two tabs cannot interleave.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from vakstem.instrument.answers import (
    NOT_RELEVANT,
    REQUIRED,
    UNKNOWN_ITEM,
    check_constraint,
    coerce_answer,
)
from vakstem.instrument.schema import Item, ItemType, Page, Study
from vakstem.service import bots, conditions, quotas, resume_codes
from vakstem.service.types import (
    AlreadyWithdrawn,
    AnswerValue,
    CodeSubmit,
    ItemError,
    PageView,
    ResponseFinished,
    ResponseNotFound,
    ResponseState,
    ResponseStatus,
    ShownItem,
    StalePage,
    StudyClosed,
    StudyNotFound,
    SubmitResult,
)
from vakstem.store.engine import WRITE_LOCK, read_connection, write_transaction
from vakstem.store.invitations import quotas as quotas_table
from vakstem.store.prepared import Prepared
from vakstem.store.row_inserts import insert_rows
from vakstem.store.studies import version_model
from vakstem.store.tables import answers as answers_table
from vakstem.store.tables import page_events, responses, studies

Clock = Callable[[], datetime]
Orders = dict[str, list[str | int]]

#: Seeds fit a signed 64-bit column on both backends.
_SEED_BITS = 62

#: How long a welcome form's start key finds the response it created: long enough for a double
#: click or a retry on a weak connection, too short to reach someone else's earlier session.
START_KEY_REUSE = timedelta(minutes=2)


class _StaleKey:
    """The start key's response is older than `START_KEY_REUSE`."""


STALE_KEY = _StaleKey()


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Statements of the page-submit path, built once: building a statement anew for every call
# (clauses, bind parameters, its cache key) cost more CPU than executing it.
# On SQLite they run on the driver directly (`Prepared`).
_STUDY_ROW = Prepared(sa.select(studies).where(studies.c.id == sa.bindparam("study_id")))
_UPDATE_RESPONSE = Prepared(responses.update().where(responses.c.id == sa.bindparam("response_id")))
_STARTED_BY = Prepared(
    sa.select(
        responses.c.id, responses.c.study_id, responses.c.resume_hash, responses.c.started_at
    ).where(responses.c.start_nonce == sa.bindparam("start_nonce"))
)

#: A response's answers as one JSON object built by the database, so reading a response is one
#: statement and one `json.loads` instead of a row per answer. SQLite prints a REAL with 15
#: significant digits, which can change a decimal answer: its reals go in as null and are read
#: again (`_REALS_OF`). Answers are stored as JSON text, so the other values are copied as
#: they are.
_ANSWERS_JSON = {
    "sqlite": "(SELECT '{' || group_concat(json_quote(answers.variable) || ':' || "
    "CASE WHEN typeof(answers.value) = 'real' THEN 'null' ELSE answers.value END, ',') || '}' "
    "FROM answers WHERE answers.response_id = responses.id)",
    "postgresql": "(SELECT jsonb_object_agg(answers.variable, answers.value)::text "
    "FROM answers WHERE answers.response_id = responses.id)",
}
_HAS_REALS = {
    "sqlite": "EXISTS (SELECT 1 FROM answers WHERE answers.response_id = responses.id "
    "AND typeof(answers.value) = 'real')",
    "postgresql": "false",
}
_REALS_OF = sa.text(
    "SELECT variable, value FROM answers WHERE response_id = :response_id "
    "AND typeof(value) = 'real'"
).columns(sa.column("variable", sa.String), sa.column("value", sa.Float))
#: Whether the study has quotas on answers (most have none: then a page needs no quota query).
_HAS_ANSWER_QUOTAS = (
    sa.exists()
    .where(quotas_table.c.study_id == responses.c.study_id, quotas_table.c.variable.is_not(None))
    .label("has_answer_quotas")
)
_READS: dict[tuple[str, bool, bool], Prepared] = {}


def _read_statement(dialect: str, by_hash: bool, locked: bool) -> Prepared:
    """The response (by id or resume-code hash) with its study's fieldwork columns, whether the
    study has answer quotas and its answers, in one statement, built once per kind."""
    key = (dialect, by_hash, locked)
    prepared = _READS.get(key)
    if prepared is None:
        query = (
            sa.select(
                responses,
                studies.c.status.label("study_status"),
                studies.c.current_version.label("study_version"),
                studies.c.opens_at.label("study_opens_at"),
                studies.c.closes_at.label("study_closes_at"),
                _HAS_ANSWER_QUOTAS,
                sa.literal_column(_ANSWERS_JSON[dialect], sa.Text).label("answers_json"),
                sa.literal_column(_HAS_REALS[dialect], sa.Boolean).label("has_reals"),
            )
            .join(studies, studies.c.id == responses.c.study_id)
            .where(
                responses.c.resume_hash == sa.bindparam("resume_hash")
                if by_hash
                else responses.c.id == sa.bindparam("response_id")
            )
        )
        if locked:
            # The response row only: locking the study's row would queue every page on it.
            query = query.with_for_update(of=responses)
        prepared = _READS[key] = Prepared(query)
    return prepared


@dataclass(frozen=True, slots=True)
class _Fieldwork:
    """The study columns that say whether fieldwork is open, read with a response."""

    status: str
    current_version: str | None
    opens_at: datetime | None
    closes_at: datetime | None


@dataclass
class _Response:
    """One response row and its answers, as read inside a transaction."""

    id: str
    study_id: str
    version_hash: str
    language: str
    status: ResponseStatus
    is_test: bool
    current_page: str | None
    path: list[str]
    seed: int
    orders: Orders
    answers: dict[str, AnswerValue]
    started_at: datetime | None = None
    #: Bot flags set so far (`bots.FLAGS`).
    flags: list[str] = field(default_factory=list)
    #: The study's fieldwork columns and whether it has answer quotas, read with the response
    #: (None for a response made in this transaction).
    fieldwork: _Fieldwork | None = None
    answer_quotas: bool = True


class ResponseService:
    """The respondent flow over one database. Thread-safe; holds no per-respondent state."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or _utc_now

    # --- reading -------------------------------------------------------------------------------

    def _today(self) -> date:
        return self._clock().date()

    def _study_version(self, conn: Connection, study_id: str, digest: str) -> Study:
        # Instrument versions never change: the store keeps parsed models for every caller.
        return version_model(conn, study_id, digest)

    def _read(
        self, conn: Connection, response_id: str | None = None, *, resume_hash: str | None = None
    ) -> _Response:
        # Locks the row on PostgreSQL (SQLite holds its write lock from BEGIN IMMEDIATE) when
        # called inside a write transaction; a plain read elsewhere.
        locked = bool(conn.get_execution_options().get(WRITE_LOCK))
        query = _read_statement(conn.dialect.name, resume_hash is not None, locked)
        if resume_hash is not None:
            row = query.first(conn, {"resume_hash": resume_hash})
        else:
            row = query.first(conn, {"response_id": response_id})
        if row is None:
            raise ResponseNotFound()
        answers: dict[str, AnswerValue] = json.loads(row.answers_json) if row.answers_json else {}
        if row.has_reals:
            answers.update(
                {r.variable: r.value for r in conn.execute(_REALS_OF, {"response_id": row.id})}
            )
        return _Response(
            id=row.id,
            study_id=row.study_id,
            version_hash=row.version_hash,
            language=row.language,
            status=ResponseStatus(row.status),
            is_test=row.is_test,
            current_page=row.current_page,
            path=list(row.path),
            seed=row.seed,
            orders=dict(row.orders),
            answers=answers,
            started_at=row.started_at,
            flags=list(row.quality_flags or ()),
            fieldwork=_Fieldwork(
                row.study_status, row.study_version, row.study_opens_at, row.study_closes_at
            ),
            answer_quotas=bool(row.has_answer_quotas),
        )

    def _view(self, study: Study, resp: _Response) -> PageView | None:
        if resp.status is not ResponseStatus.ACTIVE or resp.current_page is None:
            return None
        index = conditions.page_index(study, resp.current_page)
        page = study.pages[index]
        today = self._today()
        items: list[ShownItem] = []
        for item in conditions.shown_items(page, resp.answers, today):
            order = resp.orders.get(item.id)
            if item.randomize and order is None:
                order = conditions.draw_order(resp.seed, item, conditions.order_keys(study, item))
            items.append(
                ShownItem(
                    item=item,
                    choices=conditions.ordered_choices(study, item, order),
                    rows=conditions.ordered_rows(item, order),
                    required=conditions.is_required(item, resp.answers, today),
                )
            )
        return PageView(
            page=page,
            index=index,
            total=len(study.pages),
            items=tuple(items),
            can_go_back=bool(resp.path),
        )

    def _state(self, conn: Connection, resp: _Response, resume_code: str = "") -> ResponseState:
        study = self._study_version(conn, resp.study_id, resp.version_hash)
        return self._state_of(study, resp, resume_code)

    def _state_of(self, study: Study, resp: _Response, resume_code: str = "") -> ResponseState:
        return ResponseState(
            id=resp.id,
            study=study,
            study_id=resp.study_id,
            instrument_version=resp.version_hash,
            language=resp.language,
            status=resp.status,
            resume_code=resume_code,
            page=self._view(study, resp),
            answers=dict(resp.answers),
            is_test=resp.is_test,
        )

    def state(self, response_id: str) -> ResponseState:
        """The response as it stands (its resume code is not known here, so it is empty)."""
        with read_connection(self.engine) as conn:
            return self._state(conn, self._read(conn, response_id))

    def resume(self, resume_code: str) -> ResponseState:
        """The response a typed resume code belongs to; unknown → `ResponseNotFound`."""
        code = resume_codes.normalise(resume_code)
        if code is None:
            raise ResponseNotFound()
        with read_connection(self.engine) as conn:
            resp = self._read(conn, resume_hash=resume_codes.code_hash(code))
            return self._state(conn, resp, resume_codes.display(code))

    def authorize(self, response_id: str, resume_code: str) -> ResponseState:
        """The response, if `resume_code` is its code; otherwise `ResponseNotFound` (the same
        error as an unknown id, so a caller learns nothing about which part was wrong)."""
        code = resume_codes.normalise(resume_code) or ""
        given = resume_codes.code_hash(code)
        with read_connection(self.engine) as conn:
            stored = conn.execute(
                sa.select(responses.c.resume_hash).where(responses.c.id == response_id)
            ).scalar()
            if stored is None or not code or not hmac.compare_digest(stored, given):
                raise ResponseNotFound()
            return self._state(conn, self._read(conn, response_id), resume_codes.display(code))

    # --- fieldwork checks ----------------------------------------------------------------------

    def _check_open(
        self, conn: Connection, study_id: str, *, test: bool, known: _Fieldwork | None = None
    ) -> Any:
        """The study's row (or `known`, its columns read with the response) if fieldwork is
        open for a new answer; else `StudyNotFound` or `StudyClosed`."""
        row = known or _STUDY_ROW.first(conn, {"study_id": study_id})
        if row is None or row.current_version is None:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
        now = self._clock()
        if row.status == "draft" and test:
            return row
        if row.status != "open":
            raise StudyClosed(f"study {study_id!r} is {row.status}", study=study_id)
        if row.opens_at is not None and now < row.opens_at:
            raise StudyClosed(f"study {study_id!r} opens at {row.opens_at:%Y-%m-%d %H:%M}")
        if row.closes_at is not None and now >= row.closes_at:
            raise StudyClosed(f"study {study_id!r} closed at {row.closes_at:%Y-%m-%d %H:%M}")
        return row

    # --- starting ------------------------------------------------------------------------------

    def start(
        self,
        study_id: str,
        *,
        language: str | None = None,
        source: str | None = None,
        test: bool = False,
        start_key: str | None = None,
    ) -> ResponseState:
        """A new response on the study's current version, on its first page. The returned
        state carries the resume code in clear: the only moment it is known.

        With a `start_key` (the welcome form's one-time key, `bots.valid_start_key`) the call
        is idempotent: the response that key already created is returned, with its code, so a
        form posted twice, even at the same moment, makes one response. Only for
        `START_KEY_REUSE`: on a shared computer the next person who goes back to the welcome
        page and sends it again starts a response of their own, never sees the previous one."""
        if start_key is not None and not bots.valid_start_key(start_key):
            raise ValueError("not a start key")
        for attempt in range(3):
            if start_key is None:
                code = resume_codes.new_code()
            else:
                code = bots.resume_code_for(start_key, attempt)
            try:
                return self._start(study_id, language, source, test, code, start_key)
            except IntegrityError:
                # A resume-code collision (one in 2**50 per pair): draw another code. Or the
                # same start key inserted by a concurrent request that committed first (the
                # unique index made this one wait for it): the next attempt finds its response.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _started_by(
        self, conn: Connection, study_id: str, start_key: str, now: datetime
    ) -> ResponseState | _StaleKey | None:
        """The response `start_key` already created, with its resume code; None if none;
        `STALE_KEY` if it was created longer ago than a double submit takes."""
        row = _STARTED_BY.first(conn, {"start_nonce": bots.start_key_hash(start_key)})
        if row is None:
            return None
        if row.study_id != study_id:
            raise ResponseNotFound()
        if now - row.started_at > START_KEY_REUSE:
            return STALE_KEY
        for attempt in range(3):
            code = bots.resume_code_for(start_key, attempt)
            if hmac.compare_digest(resume_codes.code_hash(code), row.resume_hash):
                return self._state(conn, self._read(conn, row.id), resume_codes.display(code))
        # The resume code was changed since (not something Vakstem does): say nothing of it.
        raise ResponseNotFound()

    def _start(
        self,
        study_id: str,
        language: str | None,
        source: str | None,
        test: bool,
        code: str,
        start_key: str | None = None,
    ) -> ResponseState:
        now = self._clock()
        with write_transaction(self.engine) as conn:
            if start_key is not None:
                existing = self._started_by(conn, study_id, start_key, now)
                if isinstance(existing, _StaleKey):
                    # The key's response is someone's earlier session: a new, unrelated one.
                    start_key, code = None, resume_codes.new_code()
                elif existing is not None:
                    return existing
            row = self._check_open(conn, study_id, test=test)
            if row.max_completes is not None and not test:
                done = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(responses)
                    .where(
                        responses.c.study_id == study_id,
                        responses.c.status == ResponseStatus.COMPLETED.value,
                        responses.c.is_test == sa.false(),
                    )
                ).scalar_one()
                if done >= row.max_completes:
                    raise StudyClosed(f"study {study_id!r} has all its completes", study=study_id)
            study = self._study_version(conn, study_id, row.current_version)
            # Source tags of the file and the database; quotas per source group (row-locked).
            source = quotas.admit(conn, study_id, source, study.sources, now, test=test)
            first = conditions.next_page(study, -1, {}, now.date())
            resp = _Response(
                id=uuid.uuid4().hex,
                study_id=study_id,
                version_hash=row.current_version,
                language=language if language in study.languages else study.default_language,
                status=ResponseStatus.ACTIVE if first is not None else ResponseStatus.COMPLETED,
                is_test=test,
                current_page=study.pages[first].id if first is not None else None,
                path=[],
                seed=secrets.randbits(_SEED_BITS),
                orders={},
                answers={},
            )
            if first is not None:
                resp.orders = conditions.new_orders(study, study.pages[first], resp.seed, {})
            insert_rows(
                conn,
                responses,
                [
                    dict(
                        id=resp.id,
                        study_id=study_id,
                        version_hash=resp.version_hash,
                        language=resp.language,
                        # Only tags the study knows (`quotas.admit`): a free-form tag could carry
                        # anything.
                        source=source,
                        status=resp.status.value,
                        is_test=test,
                        current_page=resp.current_page,
                        path=resp.path,
                        seed=resp.seed,
                        orders=resp.orders,
                        resume_hash=resume_codes.code_hash(code),
                        start_nonce=None if start_key is None else bots.start_key_hash(start_key),
                        started_at=now,
                        completed_at=None if first is not None else now,
                        updated_at=now,
                    )
                ],
            )
            if resp.current_page is not None:
                self._event(conn, resp.id, resp.current_page, "shown", now)
            return self._state(conn, resp, resume_codes.display(code))

    # --- answering -----------------------------------------------------------------------------

    def submit_page(
        self,
        response_id: str,
        page_id: str,
        answers: Mapping[str, Any],
        *,
        from_form: bool = False,
        flags: Iterable[str] = (),
    ) -> SubmitResult:
        """Validate and store the answers of the current page, then move to the next relevant
        page (or complete). On any error no answer is stored and the state is unchanged.

        `flags` (from `bots.FLAGS`, such as a filled honeypot) are recorded on the response
        whatever else happens to the page: they flag it, they never refuse it."""
        now = self._clock()
        with write_transaction(self.engine) as conn:
            resp = self._read(conn, response_id)
            study, refused = self._submit(conn, resp, page_id, answers, from_form, flags, now)
        if refused is not None:
            return refused
        # The next page's state is built after the commit, so other writers need not wait for it.
        return SubmitResult(state=self._state_of(study, resp), submitted=dict(answers))

    def submit_by_code(
        self,
        resume_code: str,
        page_id: str,
        answers_for: Callable[[ResponseState], Mapping[str, Any]],
        *,
        study_id: str,
        token_ok: Callable[[str], bool],
        from_form: bool = False,
        flags: Iterable[str] = (),
    ) -> CodeSubmit:
        """Find a response by its resume code and submit its current page, in one transaction:
        the respondent's page POST, which would otherwise read the response twice.

        `token_ok(response_id)` checks the form's token before anything is stored;
        `answers_for(state)` turns the form into answers for the page the response is on. A
        code of another study is unknown (`ResponseNotFound`). An ended response, a page that
        is no longer current or a refused token store nothing (`CodeSubmit.result` None)."""
        code = resume_codes.normalise(resume_code)
        if code is None:
            raise ResponseNotFound()
        display = resume_codes.display(code)
        now = self._clock()
        with write_transaction(self.engine) as conn:
            resp = self._read(conn, resume_hash=resume_codes.code_hash(code))
            if resp.study_id != study_id:
                # A valid code used under another study's URL: as unknown, never say it exists.
                raise ResponseNotFound()
            found = self._state(conn, resp, display)
            if found.page is None or found.status is not ResponseStatus.ACTIVE:
                return CodeSubmit(state=found)
            if not token_ok(resp.id):
                return CodeSubmit(state=found, token_ok=False)
            answers = answers_for(found)
            try:
                study, refused = self._submit(conn, resp, page_id, answers, from_form, flags, now)
            except StalePage:
                return CodeSubmit(state=found)
        if refused is not None:
            return CodeSubmit(state=found, result=refused)
        done = SubmitResult(state=self._state_of(study, resp, display), submitted=dict(answers))
        return CodeSubmit(state=found, result=done)

    def _submit(
        self,
        conn: Connection,
        resp: _Response,
        page_id: str,
        answers: Mapping[str, Any],
        from_form: bool,
        flags: Iterable[str],
        now: datetime,
    ) -> tuple[Study, SubmitResult | None]:
        """Submit the current page of `resp` (read in this write transaction): the study and
        None once stored and moved on (`resp` is updated), or the result with the errors."""
        self._check_active(resp)
        self._check_open(conn, resp.study_id, test=resp.is_test, known=resp.fieldwork)
        if resp.current_page != page_id:
            raise StalePage(
                f"page {page_id!r} is not the current page",
                page=page_id,
                current=resp.current_page,
            )
        self._flag(conn, resp, flags, now)
        study = self._study_version(conn, resp.study_id, resp.version_hash)
        outcome = self._validate(study, resp, answers, from_form)
        if isinstance(outcome, tuple):
            state = self._state(conn, resp)
            return study, SubmitResult(state=state, errors=outcome, submitted=dict(answers))
        page = study.pages[conditions.page_index(study, page_id)]
        if outcome.refused:
            self._refuse(conn, resp, page_id, now)
        elif resp.answer_quotas and quotas.admit_answer(
            conn, resp.study_id, resp.id, resp.answers, outcome.values, now, test=resp.is_test
        ):
            self._screen_out(conn, resp, page_id, now)
        else:
            self._advance(conn, study, page, resp, outcome.values, now)
        return study, None

    def _check_active(self, resp: _Response) -> None:
        if resp.status is not ResponseStatus.ACTIVE:
            raise ResponseFinished(f"the response is {resp.status.value}", status=resp.status)

    def _validate(
        self, study: Study, resp: _Response, raw: Mapping[str, Any], from_form: bool
    ) -> _Accepted | tuple[ItemError, ...]:
        assert resp.current_page is not None
        page = study.pages[conditions.page_index(study, resp.current_page)]
        today = self._today()
        owner: dict[str, Item] = {v: item for item in page.items for v in item.variables()}
        shown = {item.id for item in conditions.shown_items(page, resp.answers, today)}
        errors: dict[str, ItemError] = {}
        given: dict[str, AnswerValue] = {}
        for variable, value in raw.items():
            item = owner.get(variable)
            if item is None:
                errors[variable] = ItemError(variable=variable, code=UNKNOWN_ITEM)
                continue
            coerced = coerce_answer(study, item, variable, value, from_form=from_form)
            if item.id not in shown:
                # Hidden by answers on earlier pages: the respondent never saw it.
                if coerced is not None:
                    errors[variable] = ItemError(variable=variable, code=NOT_RELEVANT)
                continue
            if isinstance(coerced, ItemError):
                errors[variable] = coerced
            elif coerced is not None:
                given[variable] = coerced
        merged = {v: a for v, a in resp.answers.items() if v not in owner}
        merged.update(given)
        visible, values = conditions.clean_answers(study, merged, today)
        on_page = [item for item in page.items if item.id in shown and item.id in visible]
        # Items hidden by another answer on this same page: what was typed in them is dropped
        # without complaint (a page without JavaScript shows them all).
        hidden_here = {
            v
            for item in page.items
            if item.id in shown and item.id not in visible
            for v in item.variables()
        }
        errors = {v: e for v, e in errors.items() if v not in hidden_here}
        for item in on_page:
            if item.type is ItemType.CONSENT and values.get(item.id) == 0:
                return _Accepted(values=values, refused=True)
        for item in on_page:
            required = conditions.is_required(item, values, today)
            for variable in item.variables():
                if variable in errors:
                    continue
                value = values.get(variable)
                if value is None:
                    if required:
                        errors[variable] = ItemError(variable=variable, code=REQUIRED)
                    continue
                problem = check_constraint(
                    item, variable, value, values, resp.language, today=today
                )
                if problem is not None:
                    errors[variable] = problem
        if errors:
            order = {v: i for i, v in enumerate(study.variables())}
            return tuple(sorted(errors.values(), key=lambda e: order.get(e.variable, len(order))))
        return _Accepted(values=values, refused=False)

    def _advance(
        self,
        conn: Connection,
        study: Study,
        page: Page,
        resp: _Response,
        values: dict[str, AnswerValue],
        now: datetime,
    ) -> None:
        variables = conditions.page_variables(page)
        gone = [v for v in resp.answers if v not in values]
        changed = [v for v in variables if v in values and resp.answers.get(v) != values[v]]
        self._delete_answers(conn, resp.id, gone + [v for v in changed if v in resp.answers])
        if changed:
            insert_rows(
                conn,
                answers_table,
                [
                    {
                        "response_id": resp.id,
                        "variable": v,
                        "value": values[v],
                        "page_id": page.id,
                        "updated_at": now,
                    }
                    for v in changed
                ],
            )
        resp.answers = values
        events = [{"response_id": resp.id, "page_id": page.id, "event": "submitted", "at": now}]
        resp.path.append(page.id)
        following = conditions.next_page(
            study, conditions.page_index(study, page.id), values, now.date()
        )
        update: dict[str, Any] = {"path": resp.path, "updated_at": now}
        if following is None:
            resp.status = ResponseStatus.COMPLETED
            resp.current_page = None
            update.update(status=resp.status.value, current_page=None, completed_at=now)
            if resp.started_at is not None and (now - resp.started_at).total_seconds() < (
                bots.minimum_seconds(study, resp.path, values, now.date())
            ):
                resp.flags = bots.merge_flags(resp.flags, [bots.TOO_FAST]) or []
                update.update(quality_flags=resp.flags)
        else:
            target = study.pages[following]
            resp.current_page = target.id
            resp.orders.update(conditions.new_orders(study, target, resp.seed, resp.orders))
            update.update(current_page=target.id, orders=resp.orders)
            events.append(
                {"response_id": resp.id, "page_id": target.id, "event": "shown", "at": now}
            )
        # Both events in one statement (in this order: the ids keep it).
        insert_rows(conn, page_events, events)
        _UPDATE_RESPONSE.execute(conn, {"response_id": resp.id, **update})

    def _flag(self, conn: Connection, resp: _Response, flags: Iterable[str], now: datetime) -> None:
        merged = bots.merge_flags(resp.flags, flags) or []
        if merged == resp.flags:
            return
        resp.flags = merged
        # updated_at moves too: the console's dashboard cache notices the change by it.
        conn.execute(
            responses.update()
            .where(responses.c.id == resp.id)
            .values(quality_flags=merged, updated_at=now)
        )

    def _refuse(self, conn: Connection, resp: _Response, page_id: str, now: datetime) -> None:
        """Consent was refused: end politely and keep nothing but the count of refusals."""
        self._delete_answers(conn, resp.id, None)
        self._event(conn, resp.id, page_id, "submitted", now)
        conn.execute(
            responses.update()
            .where(responses.c.id == resp.id)
            .values(status=ResponseStatus.REFUSED.value, current_page=None, updated_at=now)
        )
        if not resp.is_test:
            conn.execute(
                studies.update()
                .where(studies.c.id == resp.study_id)
                .values(refusals=studies.c.refusals + 1)
            )
        resp.status = ResponseStatus.REFUSED
        resp.current_page = None
        resp.answers = {}

    def _screen_out(self, conn: Connection, resp: _Response, page_id: str, now: datetime) -> None:
        """A quota on an answer of this page is full: end politely (quota-full page). The
        response counts as screened out, not as a dropout; none of its answers are kept."""
        self._delete_answers(conn, resp.id, None)
        self._event(conn, resp.id, page_id, "submitted", now)
        conn.execute(
            responses.update()
            .where(responses.c.id == resp.id)
            .values(status=ResponseStatus.SCREENED_OUT.value, current_page=None, updated_at=now)
        )
        resp.status = ResponseStatus.SCREENED_OUT
        resp.current_page = None
        resp.answers = {}

    def _delete_answers(
        self, conn: Connection, response_id: str, variables: Iterable[str] | None
    ) -> None:
        names = None if variables is None else list(variables)
        if names == []:
            return  # the usual case of a page answered for the first time: build nothing
        query = answers_table.delete().where(answers_table.c.response_id == response_id)
        if names is not None:
            query = query.where(answers_table.c.variable.in_(names))
        conn.execute(query)

    def _event(
        self, conn: Connection, response_id: str, page_id: str, event: str, at: datetime
    ) -> None:
        insert_rows(
            conn,
            page_events,
            [{"response_id": response_id, "page_id": page_id, "event": event, "at": at}],
        )

    # --- moving and leaving --------------------------------------------------------------------

    def back(self, response_id: str, *, page_id: str | None = None) -> ResponseState:
        """Return to the previously submitted page (answers are kept). With `page_id`, only if
        that is still the current page, so a double-clicked back goes back once."""
        now = self._clock()
        with write_transaction(self.engine) as conn:
            resp = self._read(conn, response_id)
            self._check_active(resp)
            if page_id is not None and page_id != resp.current_page:
                raise StalePage(
                    f"page {page_id!r} is not the current page",
                    page=page_id,
                    current=resp.current_page,
                )
            if not resp.path or resp.current_page is None:
                return self._state(conn, resp)
            study = self._study_version(conn, resp.study_id, resp.version_hash)
            previous = resp.path.pop()
            self._event(conn, resp.id, resp.current_page, "back", now)
            self._event(conn, resp.id, previous, "shown", now)
            resp.current_page = previous
            resp.orders.update(
                conditions.new_orders(
                    study,
                    study.pages[conditions.page_index(study, previous)],
                    resp.seed,
                    resp.orders,
                )
            )
            conn.execute(
                responses.update()
                .where(responses.c.id == resp.id)
                .values(current_page=previous, path=resp.path, orders=resp.orders, updated_at=now)
            )
            return self._state(conn, resp)

    def set_language(self, response_id: str, language: str) -> ResponseState:
        """Switch the response's language; a language the study lacks gives its default."""
        now = self._clock()
        with write_transaction(self.engine) as conn:
            resp = self._read(conn, response_id)
            study = self._study_version(conn, resp.study_id, resp.version_hash)
            resp.language = language if language in study.languages else study.default_language
            conn.execute(
                responses.update()
                .where(responses.c.id == resp.id)
                .values(language=resp.language, updated_at=now)
            )
            return self._state(conn, resp)

    def withdraw(self, resume_code: str, *, study_id: str | None = None) -> ResponseState:
        """Delete every answer of the response the code belongs to and mark it withdrawn.

        With `study_id`, a code of another study is `ResponseNotFound` (the caller learns
        nothing about other studies); a response withdrawn before is `AlreadyWithdrawn`, decided
        under the row lock, so of two simultaneous withdrawals exactly one succeeds.
        """
        code = resume_codes.normalise(resume_code)
        if code is None:
            raise ResponseNotFound()
        now = self._clock()
        with write_transaction(self.engine) as conn:
            resp = self._read(conn, resume_hash=resume_codes.code_hash(code))
            if study_id is not None and resp.study_id != study_id:
                raise ResponseNotFound()
            if resp.status is ResponseStatus.WITHDRAWN:
                raise AlreadyWithdrawn()
            self._delete_answers(conn, resp.id, None)
            # The route through the pages and their timings are the respondent's data too; what
            # stays is that a response was started and withdrawn (for response rates).
            conn.execute(page_events.delete().where(page_events.c.response_id == resp.id))
            if resp.status is not ResponseStatus.REFUSED:
                resp.status = ResponseStatus.WITHDRAWN
            resp.current_page = None
            resp.answers = {}
            resp.path = []
            resp.orders = {}
            conn.execute(
                responses.update()
                .where(responses.c.id == resp.id)
                .values(
                    status=resp.status.value,
                    current_page=None,
                    path=[],
                    orders={},
                    quality_flags=None,
                    updated_at=now,
                )
            )
            return self._state(conn, resp, resume_codes.display(code))


@dataclass(frozen=True)
class _Accepted:
    """A page that passed validation: all answers after it, or a refusal of consent."""

    values: dict[str, AnswerValue]
    refused: bool
