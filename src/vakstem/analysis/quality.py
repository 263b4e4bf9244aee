"""Data quality of the tidy response table (STUDY.md, analysis step 1): completion, the
speeder/straightliner/duplicate flags and the plan's exclusion rule.

The flags themselves are computed by the fieldwork dashboard's pure functions
(`vakstem.service.dashboard.quality_flags`), so the console and the report can never disagree
about who is a speeder; this module only turns table rows into the records those functions
take and applies the declared exclusion rule.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vakstem.export.missing import missing_codes_of
from vakstem.instrument.schema import Study
from vakstem.service.bots import HONEYPOT, TOO_FAST
from vakstem.service.dashboard import (
    DUPLICATE_MIN_ANSWERED,
    SPEEDER_FRACTION,
    STRAIGHTLINE_MIN_ITEMS,
    QualityFlags,
    ResponseRecord,
    median_duration,
    quality_flags,
)

#: Rule names the plan's `quality.exclude` may list. The bot flags stored while answering
#: (`honeypot`, `too_fast`) are opt-in: they are not in the default rule.
RULES = ("speeder", "straightliner", "duplicate", "test", HONEYPOT, TOO_FAST)


class QualityError(ValueError):
    """The table or the plan's quality settings cannot be used; the message says why."""


@dataclass(frozen=True)
class QualityResult:
    rows: int
    completed: int
    flags: QualityFlags
    test_ids: tuple[str, ...]
    rule: tuple[str, ...]
    excluded: int
    excluded_by: dict[str, int]
    analysed: int
    median_duration_s: float | None
    analysed_mask: pd.Series
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "responses": self.rows,
            "completed": self.completed,
            "completion_rate": self.completed / self.rows if self.rows else None,
            "median_duration_s": self.median_duration_s,
            "flags": {
                "speeder": len(self.flags.speeders),
                "straightliner": len(self.flags.straightliners),
                "duplicate": len(self.flags.duplicates),
                "test": len(self.test_ids),
                HONEYPOT: len(self.flags.honeypot),
                TOO_FAST: len(self.flags.too_fast),
            },
            "criteria": {
                "speeder_fraction_of_median": SPEEDER_FRACTION,
                "straightliner_min_items": STRAIGHTLINE_MIN_ITEMS,
                "duplicate_min_answered": DUPLICATE_MIN_ANSWERED,
            },
            "exclusion_rule": list(self.rule),
            "excluded": self.excluded,
            "excluded_by": self.excluded_by,
            "analysed": self.analysed,
            "notes": list(self.notes),
        }


def _time(value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    moment = pd.Timestamp(value)
    if pd.isna(moment):
        return None
    result: dt.datetime = moment.to_pydatetime()
    return result


def _answer(value: Any, codes: set[float]) -> Any:
    """A table cell as the stored answer: None for empty or missing-coded, whole numbers int."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value) or value in codes:
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, int) and not isinstance(value, bool):
        return None if float(value) in codes else value
    if isinstance(value, str):
        return value if value.strip() else None
    return value


#: Rows turned into dicts at a time: all 100,000 rows of a large study at once held about
#: 0.8 GB of dicts beside the records built from them.
ROWS_AT_A_TIME = 5000


def _rows(frame: pd.DataFrame) -> Iterator[dict[Hashable, Any]]:
    for start in range(0, len(frame), ROWS_AT_A_TIME):
        yield from frame.iloc[start : start + ROWS_AT_A_TIME].to_dict(orient="records")


def records_of(study: Study, frame: pd.DataFrame) -> list[ResponseRecord]:
    """The dashboard's records of every row of the tidy table."""
    codes = {float(c) for c in missing_codes_of(study).all()}
    variables = [v for v in study.variables() if v in frame.columns]
    records = []
    for row in _rows(frame):
        started = _time(row.get("started_at"))
        if started is None:
            raise QualityError(f"response {row.get('response_id')!r} has no start time")
        answers = {v: a for v in variables if (a := _answer(row.get(v), codes)) is not None}
        records.append(
            ResponseRecord(
                id=str(row["response_id"]),
                status=str(row.get("status") or ""),
                started_at=started,
                completed_at=_time(row.get("completed_at")),
                is_test=bool(_answer(row.get("is_test"), codes) or 0),
                answers=answers,
                # The export's 0/1 columns of the flags stored while answering, when present.
                flags=frozenset(
                    f for f in (HONEYPOT, TOO_FAST) if _answer(row.get(f"flag_{f}"), codes) == 1
                ),
            )
        )
    return records


def assess_quality(
    study: Study, frame: pd.DataFrame, *, include_test: bool = False
) -> QualityResult:
    """Flags, the exclusion rule and the rows left to analyse (completed and not excluded)."""
    settings = study.analysis.settings.get("quality", {})
    if not isinstance(settings, Mapping):
        raise QualityError("analysis.settings.quality must be a mapping")
    rule = [
        str(r) for r in settings.get("exclude", ["speeder", "straightliner", "duplicate", "test"])
    ]
    unknown = [r for r in rule if r not in RULES]
    if unknown:
        raise QualityError(
            f"analysis.settings.quality.exclude names unknown rule(s) {', '.join(unknown)}; "
            f"known: {', '.join(RULES)}"
        )
    notes = []
    if include_test and "test" in rule:
        rule.remove("test")
        notes.append("test responses kept (--include-test)")
    declared = {
        "speeder_fraction_of_median": SPEEDER_FRACTION,
        "straightliner_min_items": STRAIGHTLINE_MIN_ITEMS,
    }
    for key, used in declared.items():
        if key in settings and not math.isclose(float(settings[key]), used):
            notes.append(
                f"the plan declares {key} = {settings[key]}, the shared quality check uses {used}"
            )
    records = records_of(study, frame)
    flags = quality_flags(study, records)
    tests = tuple(r.id for r in records if r.is_test)
    members = {
        "speeder": set(flags.speeders),
        "straightliner": set(flags.straightliners),
        "duplicate": set(flags.duplicates),
        "test": set(tests),
        HONEYPOT: set(flags.honeypot),
        TOO_FAST: set(flags.too_fast),
    }
    completed = [r.completed for r in records]
    excluded_ids: set[str] = set()
    excluded_by: dict[str, int] = {}
    completed_ids = {r.id for r in records if r.completed}
    for name in rule:
        hit = members[name] & completed_ids
        excluded_by[name] = len(hit - excluded_ids)
        excluded_ids |= hit
    ids = frame["response_id"].astype(str)
    mask = pd.Series(completed, index=frame.index) & ~ids.isin(excluded_ids)
    return QualityResult(
        rows=len(records),
        completed=sum(completed),
        flags=flags,
        test_ids=tests,
        rule=tuple(rule),
        excluded=len(excluded_ids),
        excluded_by=excluded_by,
        analysed=int(mask.sum()),
        median_duration_s=median_duration([r for r in records if r.completed]),
        analysed_mask=mask,
        notes=tuple(notes),
    )
