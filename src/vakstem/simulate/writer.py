"""Submitting drawn respondents through the respondent service, page by page, as real
respondents do: `start`, then `submit_page` with the answers of the items the service shows,
under a simulated clock so page events carry realistic times. A refused submission is a bug in
the simulator and stops the run; nothing is written around the service.

In `bulk` mode the service runs unchanged, but its transactions join one transaction per batch
of respondents (one commit, one fsync per batch instead of per page), for filling a database
with 100,000 responses for benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vakstem.export.codebook import estimate_duration
from vakstem.instrument.schema import Study
from vakstem.service.responses import ResponseService
from vakstem.service.types import DomainError, ResponseState
from vakstem.simulate.draw import SimulationError
from vakstem.store.engine import WRITE_LOCK

Progress = Callable[[int, int], None]


class _Clock:
    """The simulated time the service reads; the writer moves it forward page by page."""

    def __init__(self) -> None:
        self.now = datetime(2000, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class _JoinedConnection:
    """One connection inside the batch's transaction. The service's `engine.connect()` and
    `conn.begin()` join it instead of opening their own, so every statement the service runs
    (reads, row locks, validation, writes) is unchanged; only the commit is shared."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execution_options(self, **_options: Any) -> _JoinedConnection:
        return self

    def begin(self) -> AbstractContextManager[None]:
        return nullcontext()

    def __enter__(self) -> _JoinedConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _JoinedEngine:
    def __init__(self, conn: Connection) -> None:
        self._joined = _JoinedConnection(conn)
        self.dialect = conn.dialect

    def connect(self) -> _JoinedConnection:
        return self._joined


@dataclass
class WriteStats:
    """What the writer did: responses per final status, page submissions, time taken."""

    statuses: dict[str, int] = field(default_factory=dict)
    tests: int = 0
    submissions: int = 0
    response_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0


def page_weights(study: Study) -> dict[str, float]:
    """Each page's share of the reading-and-answering time (the codebook's rule)."""
    seconds = {
        page.id: estimate_duration(
            study.model_copy(update={"pages": (page,), "closing": None})
        ).seconds
        for page in study.pages
    }
    total = sum(seconds.values()) or 1.0
    return {k: v / total for k, v in seconds.items()}


def _answers_of(row: dict[str, Any], state: ResponseState) -> dict[str, Any]:
    assert state.page is not None
    answers: dict[str, Any] = {}
    for shown in state.page.items:
        for variable in shown.item.variables():
            value = row.get(variable)
            if value is not None:
                answers[variable] = value
    return answers


@contextmanager
def _batch(engine: Engine, bulk: bool) -> Iterator[Engine]:
    if not bulk:
        yield engine
        return
    with engine.connect().execution_options(**{WRITE_LOCK: True}) as conn, conn.begin():
        yield cast(Engine, _JoinedEngine(conn))


def write_responses(
    engine: Engine,
    study_id: str,
    study: Study,
    frame: pd.DataFrame,
    *,
    start: datetime,
    seed: int,
    bulk: bool = False,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> WriteStats:
    """Submit every row of `frame` (from `draw_population`) through the respondent service."""
    variables = [c for c in frame.columns if not c.startswith("_")]
    weights = page_weights(study)
    page_ids = [p.id for p in study.pages]
    clock = _Clock()
    stats = WriteStats()
    began = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in frame[variables].to_dict("records")
    ]
    meta: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()}
        for r in frame[[c for c in frame.columns if c.startswith("_")]].to_dict("records")
    ]
    total = len(records)
    done = 0
    while done < total:
        chunk = range(done, min(total, done + (batch_size if bulk else total)))
        with _batch(engine, bulk) as target:
            service = ResponseService(target, clock=clock)
            for i in chunk:
                row = {k: v for k, v in records[i].items() if v is not None and v == v}
                final, submitted = _one(
                    service, study_id, row, meta[i], clock, start, weights, page_ids, rng
                )
                stats.statuses[final.status.value] = stats.statuses.get(final.status.value, 0) + 1
                stats.tests += int(final.is_test)
                stats.response_ids.append(final.id)
                stats.submissions += submitted
                if progress is not None:
                    progress(i + 1, total)
        done = chunk.stop
    stats.seconds = time.perf_counter() - began
    return stats


def _one(
    service: ResponseService,
    study_id: str,
    row: dict[str, Any],
    meta: dict[str, Any],
    clock: _Clock,
    start: datetime,
    weights: dict[str, float],
    page_ids: list[str],
    rng: np.random.Generator,
) -> tuple[ResponseState, int]:
    clock.now = start + timedelta(seconds=float(meta["_start_s"]))
    duration = float(meta["_duration_s"])
    submitted = 0
    try:
        state = service.start(
            study_id,
            language=str(meta["_language"]),
            source=meta["_source"] if isinstance(meta["_source"], str) else None,
            test=meta["_kind"] == "test",
        )
        stop_at = int(meta["_dropout_page"])
        while state.page is not None:
            index = page_ids.index(state.page.page.id)
            if 0 <= stop_at <= index:
                break
            seconds = duration * weights[state.page.page.id] * float(rng.lognormal(0.0, 0.25))
            answers = _answers_of(row, state)
            # Typing an open answer takes time on top of reading: about three characters a second.
            seconds += sum(len(v) / 3.0 for v in answers.values() if isinstance(v, str))
            clock.now += timedelta(seconds=max(seconds, 1.0))
            result = service.submit_page(state.id, state.page.page.id, answers)
            if not result.ok:
                problems = ", ".join(
                    f"{e.variable}: {e.code}{' ' + e.message if e.message else ''}"
                    for e in result.errors
                )
                raise SimulationError(
                    f"the service refused a simulated answer on page {state.page.page.id!r} "
                    f"({problems}); this is a bug in the simulator"
                )
            state = result.state
            submitted += 1
    except DomainError as exc:
        raise SimulationError(
            f"the service refused the simulated respondent: {exc.detail}"
        ) from exc
    return state, submitted


def status_counts(engine: Engine, study_id: str) -> tuple[dict[str, int], int]:
    """Responses of a study per status (test ones included), and how many are tests."""
    from vakstem.store.tables import responses

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(responses.c.status, responses.c.is_test, sa.func.count())
            .where(responses.c.study_id == study_id)
            .group_by(responses.c.status, responses.c.is_test)
        ).all()
    counts: dict[str, int] = {}
    tests = 0
    for status, is_test, count in rows:
        counts[status] = counts.get(status, 0) + int(count)
        tests += int(count) if is_test else 0
    return counts, tests
