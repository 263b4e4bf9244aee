"""The personal mirror: a respondent's own scores on the professional-action and HR-practice
scales next to the median and middle half of all completed responses.

Shown only once at least `settings.mirror_min` completed (non-test, not excluded) responses
exist, and never below `k`. The aggregates are cached by a fingerprint of the set of completed
response ids (count and hash), so a withdrawn or excluded response changes the key and its
answers never live on in a cached figure. During fieldwork every completion changes the set;
so that not every closing page scores all responses again, figures that are already shown may
lag new completions by up to a minute (never a withdrawal or exclusion, never the threshold).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy.engine import Engine

from vakstem.analysis.scoring import scores_of_answers
from vakstem.feedback import texts
from vakstem.feedback.data import (
    FeedbackData,
    completed_ids,
    fingerprint,
    load_feedback_data,
)
from vakstem.feedback.disclosure import Count, Disclosure, Quartiles
from vakstem.feedback.plots import PlotRow, Series, score_plot
from vakstem.feedback.render import render
from vakstem.instrument.schema import Scale, Study

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
    disclosure = Disclosure(data.k)
    n = disclosure.total(data.ids)
    quartiles: dict[str, Quartiles | None] = {}
    if len(data.ids) >= threshold(data.study):
        for _key, scales in mirror_scales(data.study):
            for scale in scales:
                quartiles[scale.id] = disclosure.quartiles(data.scores(scale.id))
    disclosure.finalize()
    return Aggregates(data.study, threshold(data.study), n, quartiles)


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


class MirrorService:
    """Mirrors over one database, with aggregates cached per study by the fingerprint of its
    completed responses (a few entries; recomputed when that set changes).

    Scoring every completed response is the costly part, and during fieldwork each completion
    changes the set. So figures already shown (at or above the threshold) are reused for up to
    `max_age_s` seconds while responses are only added; a response gone from the set (withdrawn
    or excluded) always forces a new computation.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_entries: int = 16,
        max_age_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self._cache: OrderedDict[tuple[str, str], Aggregates] = OrderedDict()
        #: Per study: the ids last scored, when, and their aggregates.
        self._latest: dict[str, tuple[frozenset[str], float, Aggregates]] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._max_age = max_age_s
        self._clock = clock

    def aggregates(self, study_id: str) -> Aggregates:
        ids = completed_ids(self.engine, study_id)
        key = (study_id, fingerprint(ids))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            latest = self._latest.get(study_id)
        if latest is not None:
            scored, at, recent = latest
            if recent.available and self._clock() - at < self._max_age and scored.issubset(ids):
                return recent
        data = load_feedback_data(self.engine, study_id)
        aggregates = build_aggregates(data)
        # Keyed by the responses actually read, which may differ from the ones counted above
        # when a response was completed or withdrawn in between.
        key = (study_id, fingerprint(data.ids))
        with self._lock:
            # Entries of older fingerprints of this study can never be used again.
            for old in [k for k in self._cache if k[0] == study_id]:
                del self._cache[old]
            self._cache[key] = aggregates
            self._latest[study_id] = (frozenset(data.ids), self._clock(), aggregates)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return aggregates

    def mirror(self, study_id: str, answers: Mapping[str, Any]) -> Mirror:
        return build_mirror(self.aggregates(study_id), answers)
