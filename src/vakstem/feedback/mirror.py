"""The personal mirror: a respondent's own scores on the professional-action and HR-practice
scales next to the median and middle half of all completed responses.

Shown only once at least `settings.mirror_min` completed (non-test, not excluded) responses
exist, and never below `k`. `MirrorService` caches the figures per study against a summary of
its completed responses read by one small aggregate query (`data.CompletedState`), so a closing
page costs the same at 50 or 50,000 completes. A withdrawn, excluded or deleted response changes
that summary in a way an addition cannot, so its answers never live on in a cached figure.
During fieldwork every completion changes the set; so that not every closing page scores all
responses again, figures that are already shown may lag new completions by up to a minute
(never a withdrawal or exclusion, never the threshold). The first scoring of a study reads every
completed response (about 12 s at 85,000 on the benchmark machine), so the server does it when
it starts (`MirrorService.warm`, from the app's lifespan); closing pages that find it under way
wait for that one computation instead of each scoring everything again, and after at most a
few seconds say the comparison is on its way (`mirror_within`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from sqlalchemy.engine import Engine

from vakstem.analysis.scoring import scores_of_answers
from vakstem.feedback import texts
from vakstem.feedback.data import (
    CompletedState,
    FeedbackData,
    completed_ids,
    completed_state,
    load_scores,
)
from vakstem.feedback.disclosure import Count, Disclosure, Quartiles, check_k
from vakstem.feedback.plots import PlotRow, Series, score_plot
from vakstem.feedback.render import render
from vakstem.instrument.schema import Scale, Study
from vakstem.service.types import StudyNotFound
from vakstem.store.studies import get_study

_log = logging.getLogger(__name__)

#: Scale blocks shown in the mirror, in this order, with the heading key of each group.
MIRROR_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("block_professional_action", ("professional_action",)),
    ("block_hrm", ("hrm_ability", "hrm_motivation", "hrm_opportunity")),
)


@dataclass(frozen=True)
class MirrorRow:
    scale: Scale
    own: float | None
    quartiles: Quartiles | None


@dataclass(frozen=True)
class MirrorGroup:
    heading_key: str
    rows: tuple[MirrorRow, ...]


@dataclass(frozen=True)
class Aggregates:
    """What the mirror shows of everyone: the number of completes and quartiles per scale."""

    study: Study
    threshold: int
    n: Count
    quartiles: Mapping[str, Quartiles | None]

    @property
    def available(self) -> bool:
        return self.n.value is not None and self.n.true_size >= self.threshold


@dataclass(frozen=True)
class Mirror:
    aggregates: Aggregates
    groups: tuple[MirrorGroup, ...]

    @property
    def available(self) -> bool:
        return self.aggregates.available


def mirror_scales(study: Study) -> list[tuple[str, list[Scale]]]:
    """The scales the mirror shows, grouped by heading."""
    groups = []
    for key, blocks in MIRROR_BLOCKS:
        scales = [s for s in study.scales if s.block in blocks]
        if scales:
            groups.append((key, scales))
    return groups


def threshold(study: Study) -> int:
    return max(study.settings.mirror_min, study.settings.k_min)


def build_aggregates(data: FeedbackData) -> Aggregates:
    """The everyone-part of the mirror, through disclosure control."""
    scale_ids = [scale.id for _key, scales in mirror_scales(data.study) for scale in scales]
    return aggregates_of_scores(
        data.study, data.ids, {s: data.scores(s) for s in scale_ids}, k=data.k
    )


def aggregates_of_scores(
    study: Study,
    ids: Iterable[str],
    scores: Mapping[str, pd.Series] | Callable[[], Mapping[str, pd.Series]],
    *,
    k: int,
) -> Aggregates:
    """The everyone-part of the mirror from the completed responses' ids and their scores on
    the mirror's scales (a Series per scale indexed by id, or a function giving them, asked
    only at or above the threshold), through disclosure control."""
    disclosure = Disclosure(k)
    n = disclosure.total(ids)
    quartiles: dict[str, Quartiles | None] = {}
    if n.true_size >= threshold(study):
        by_scale = scores() if callable(scores) else scores
        for _key, scales in mirror_scales(study):
            for scale in scales:
                quartiles[scale.id] = disclosure.quartiles(by_scale[scale.id])
    disclosure.finalize()
    return Aggregates(study, threshold(study), n, quartiles)


def own_scores(study: Study, answers: Mapping[str, Any]) -> dict[str, float | None]:
    """The respondent's own scale scores (None where too few items were answered)."""
    return scores_of_answers(study, answers)


def build_mirror(aggregates: Aggregates, answers: Mapping[str, Any]) -> Mirror:
    study = aggregates.study
    own = own_scores(study, answers) if aggregates.available else {}
    groups = tuple(
        MirrorGroup(
            key,
            tuple(
                MirrorRow(scale, own.get(scale.id), aggregates.quartiles.get(scale.id))
                for scale in scales
            ),
        )
        for key, scales in mirror_scales(study)
    )
    return Mirror(aggregates, groups if aggregates.available else ())


def render_mirror_pending(study: Study, language: str, *, later_url: str = "") -> Markup:
    """The mirror's place while the everyone-figures are still being made."""
    lang = "en" if language == "en" else "nl"
    return render(
        "mirror.html", language=lang, study=study, mirror=None, plots=[], later_url=later_url
    )


def render_mirror(mirror: Mirror, language: str, *, later_url: str = "") -> Markup:
    """The mirror as an HTML section (plot, table, explanations), or the "later" message."""
    study = mirror.aggregates.study
    lang = "en" if language == "en" else "nl"
    plots = []
    for gi, group in enumerate(mirror.groups):
        rows = [
            PlotRow(
                texts.scale_label(study, row.scale, lang),
                (
                    Series(
                        "all",
                        q1=row.quartiles.q1 if row.quartiles else None,
                        median=row.quartiles.median if row.quartiles else None,
                        q3=row.quartiles.q3 if row.quartiles else None,
                        own=row.own,
                    ),
                ),
            )
            for row in group.rows
        ]
        plots.append(
            score_plot(
                rows,
                title=texts.t(group.heading_key, lang),
                description=" ".join(
                    [
                        texts.t("legend_you", lang),
                        texts.t("legend_median", lang),
                        texts.t("legend_iqr", lang),
                        texts.t("plot_alt", lang),
                    ]
                ),
                plot_id=f"mirror-{gi}",
            )
        )
    return render(
        "mirror.html",
        language=lang,
        study=study,
        mirror=mirror,
        plots=plots,
        later_url=later_url,
        label=lambda scale: texts.scale_label(study, scale, lang),
        explain=lambda scale: texts.explanation(study, scale, lang),
    )


@dataclass(frozen=True)
class _Entry:
    """The figures last computed for a study, the state they were computed at, and when."""

    state: CompletedState
    at: float
    aggregates: Aggregates


class MirrorService:
    """Mirrors over one database, with each study's aggregates cached by a cheap summary of
    its completed responses (`CompletedState`: one aggregate query per closing page, however
    many responses there are).

    - The set unchanged: the cached figures are shown.
    - Below the threshold: nothing is scored; the ids are read (fewer than the threshold).
    - Responses only added (nothing withdrawn, excluded, deleted, no new study version) and
      the cached figures at or above the threshold and younger than `max_age_s`: reused, so
      not every completion scores every response again.
    - Anything else (a response gone, the threshold just reached, figures older than
      `max_age_s`): computed again, reading only the mirror scales' items (`load_scores`).

    The state is read before the responses, so a change between the two reads shows as a
    change at the next page (a recomputation), never as figures kept past a withdrawal.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_age_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self._latest: dict[str, _Entry] = {}
        #: Per study: the version and scales scored, and the mirror scores of each response
        #: of its set (see `_scores`).
        self._scored: dict[str, tuple[str | None, list[str], dict[str, np.ndarray[Any, Any]]]] = {}
        self._lock = threading.Lock()
        #: One computation per study at a time: after a restart the first closing pages would
        #: otherwise each score every completed response at once, side by side.
        self._computing: dict[str, threading.Lock] = {}
        #: The computation started by `aggregates_within` per study, while it runs.
        self._running: dict[str, Future[Aggregates]] = {}
        self._max_age = max_age_s
        self._clock = clock

    def _cached(self, study_id: str) -> tuple[CompletedState, Aggregates | None]:
        """The study's state now, and the cached figures if they may be shown at that state."""
        with self._lock:
            entry = self._latest.get(study_id)
        state = completed_state(self.engine, study_id)
        if entry is not None and state.only_added_to(entry.state):
            if state.same_as(entry.state):
                return state, entry.aggregates
            fresh = self._clock() - entry.at < self._max_age
            if entry.aggregates.available and fresh:
                return state, entry.aggregates
        return state, None

    def aggregates(self, study_id: str) -> Aggregates:
        state, cached = self._cached(study_id)
        if cached is not None:
            return cached
        with self._lock:
            computing = self._computing.setdefault(study_id, threading.Lock())
        with computing:
            # Whoever waited here finds the figures the thread before it just made.
            state, cached = self._cached(study_id)
            if cached is not None:
                return cached
            return self._compute(study_id, state)

    def aggregates_within(self, study_id: str, seconds: float) -> Aggregates | None:
        """The figures if they are ready within `seconds`, else None (they are being made, in
        a thread of their own, for the next page): a closing page never waits long for them."""
        _state, cached = self._cached(study_id)
        if cached is not None:
            return cached
        try:
            return self._computation(study_id).result(timeout=seconds)
        except FutureTimeout:
            return None

    def _computation(self, study_id: str) -> Future[Aggregates]:
        """The study's computation under way, or a new one in a background thread."""
        with self._lock:
            running = self._running.get(study_id)
            if running is not None and not running.done():
                return running
            future: Future[Aggregates] = Future()
            self._running[study_id] = future

        def run() -> None:
            try:
                future.set_result(self.aggregates(study_id))
            except BaseException as exc:  # the caller gets it from the future
                future.set_exception(exc)

        threading.Thread(target=run, name=f"mirror-{study_id}", daemon=True).start()
        return future

    def warm(self, study_ids: Iterable[str], stop: threading.Event | None = None) -> None:
        """Compute the figures of `study_ids` ahead of the first closing page (at start-up: the
        first computation scores every completed response, about 1.4 s per 10,000 here).
        A study that cannot be computed is left for the closing page, which reports it."""
        for study_id in study_ids:
            if stop is not None and stop.is_set():
                return
            try:
                self.aggregates(study_id)
            except Exception:  # a warm-up must never take the server down
                _log.warning("mirror figures of %r not prepared ahead", study_id, exc_info=True)

    def _compute(self, study_id: str, state: CompletedState) -> Aggregates:
        if state.version is None:
            raise StudyNotFound(f"no study {study_id!r}", study=study_id)
        study = get_study(self.engine, study_id).study
        k = check_k(study.settings.k_min)
        aggregates: Aggregates | None = None
        if state.completed < threshold(study):
            # Nothing is shown, so nothing is scored: the ids are all the figures need (unless
            # completions since the state was read brought them to the threshold).
            ids = completed_ids(self.engine, study_id)
            if len(ids) < threshold(study):
                aggregates = aggregates_of_scores(study, ids, {}, k=k)
        if aggregates is None:
            ids, scale_ids, matrix = self._scores(study_id, study, state.version)
            index = pd.Index(ids, name="response_id")
            aggregates = aggregates_of_scores(
                study,
                ids,
                lambda: {s: pd.Series(matrix[:, j], index=index) for j, s in enumerate(scale_ids)},
                k=k,
            )
        with self._lock:
            self._latest[study_id] = _Entry(state, self._clock(), aggregates)
        return aggregates

    def _scores(
        self, study_id: str, study: Study, version: str | None
    ) -> tuple[list[str], list[str], np.ndarray[Any, Any]]:
        """Ids of the study's completed (non-test, not excluded) responses and their mirror
        scores, a row per id and a column per scale. The answers of a completed response do not
        change (a withdrawal deletes them and takes it out of the set), so scores already made
        for this study version are kept, and only responses new to the set are read. Scores of
        responses no longer in the set are dropped at once."""
        kept = self._scored.get(study_id)
        scale_ids = [scale.id for _key, scales in mirror_scales(study) for scale in scales]
        if kept is None or kept[0] != version or kept[1] != scale_ids:
            ids, scores = load_scores(self.engine, study, study_id, scale_ids)
            rows = np.column_stack([scores[s] for s in scale_ids]) if ids else None
            known = {rid: rows[i].copy() for i, rid in enumerate(ids)} if rows is not None else {}
        else:
            known = kept[2]
            current = completed_ids(self.engine, study_id)
            new = [rid for rid in current if rid not in known]
            known = {rid: known[rid] for rid in current if rid in known}
            if new:
                got, scores = load_scores(self.engine, study, study_id, scale_ids, among=new)
                for i, rid in enumerate(got):
                    known[rid] = np.array([scores[s][i] for s in scale_ids])
            # A new response that left the set before its answers were read is not counted.
            ids = [rid for rid in current if rid in known]
        with self._lock:
            self._scored[study_id] = (version, scale_ids, known)
        matrix = (
            np.vstack([known[rid] for rid in ids])
            if ids
            else np.empty((0, len(scale_ids)), dtype="float64")
        )
        return ids, scale_ids, matrix

    def mirror_within(
        self, study_id: str, answers: Mapping[str, Any], seconds: float
    ) -> Mirror | None:
        """The mirror if the figures are ready within `seconds`, else None."""
        aggregates = self.aggregates_within(study_id, seconds)
        return None if aggregates is None else build_mirror(aggregates, answers)
