"""Scale scores as the study declares them: numeric item codes, reverse-keying, minimum answered.

Pure functions on pandas data frames (the tidy response table: one row per response, one
column per variable), usable from a notebook as well as from `vakstem analyse`.

Conventions (STUDY.md, analysis step 2):

* choices marked ``missing: true`` (*weet ik niet*, n.v.t.) are not scale points: they become
  NaN before anything is computed (`numeric_items`);
* a reverse-keyed item is recoded as ``min + max - x``, where min and max are the smallest and
  largest *non-missing* codes of the item's choice list (so a 1-5 scale with 9 = weet ik niet
  reverses as 6 - x);
* a score is the mean (or the sum) of the answered items of the scale, given only when at
  least ``Scale.min_answered`` of its items are answered (default two thirds: 2 of 3, 3 of 4,
  4 of 5 or 6); otherwise it is NaN. A ``sum`` score is the sum of the answered items, as
  ``psych::scoreItems(totals = TRUE, impute = "none")`` computes it, not a prorated sum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from vakstem.instrument.schema import Item, ItemType, Scale, Study

#: Item types whose answers are numeric codes or numbers, and so can enter a scale.
NUMERIC_TYPES = frozenset(
    {ItemType.SINGLE, ItemType.MATRIX, ItemType.INTEGER, ItemType.DECIMAL, ItemType.CONSENT}
)

Bounds = Mapping[str, tuple[float, float]]


class ScoringError(ValueError):
    """A scale cannot be scored from the data given; the message names the problem."""


def _item_of_variable(study: Study) -> dict[str, Item]:
    return {var: item for _page, item in study.items() for var in item.variables()}


def item_bounds(study: Study) -> dict[str, tuple[float, float]]:
    """The (min, max) of the non-missing choice codes of every choice-coded variable."""
    bounds: dict[str, tuple[float, float]] = {}
    for var, item in _item_of_variable(study).items():
        codes = [c.code for c in study.choices_of(item) if not c.missing]
        if codes:
            bounds[var] = (float(min(codes)), float(max(codes)))
    return bounds


def numeric_items(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` with every numeric item column as float and missing-coded choices NaN.

    Columns of choice-coded items must hold codes of their choice list (or be empty); a code
    outside the list is an error naming the column and the code, since it means the data and
    the questionnaire version do not belong together. Other columns are left as they are.
    """
    out = df.copy()
    for var, item in _item_of_variable(study).items():
        if var not in out.columns or item.type not in NUMERIC_TYPES:
            continue
        values = _as_float(out[var], var)
        choices = study.choices_of(item)
        if choices:
            known = {float(c.code) for c in choices}
            missing_codes = [float(c.code) for c in choices if c.missing]
            present = values.dropna()
            unknown = sorted(set(present[~present.isin(known)].tolist()))
            if unknown:
                shown = ", ".join(_fmt_code(u) for u in unknown[:5])
                raise ScoringError(
                    f"column {var!r} holds code(s) {shown} that are not in its choice list "
                    f"{item.choices!r} (codes {sorted(int(k) for k in known)})"
                )
            values = values.mask(values.isin(missing_codes))
        out[var] = values
    return out


def _fmt_code(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _as_float(column: pd.Series, name: str) -> pd.Series:
    """The column as float64; a clear error if it holds anything that is not a number."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("float64")
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.astype("float64")
    converted = pd.to_numeric(column, errors="coerce")
    bad = column[converted.isna() & column.notna()]
    if len(bad):
        raise ScoringError(
            f"column {name!r} is not numeric: value {bad.iloc[0]!r} in row {bad.index[0]!r}"
        )
    return converted.astype("float64")


def required_answered(scale: Scale) -> int:
    """How many of the scale's items must be answered for a score."""
    # A small tolerance: 2/3 * 3 must give 2, not 2.0000000000000004 rounded up to 3.
    return max(1, math.ceil(scale.min_answered * len(scale.items) - 1e-9))


def keyed_items(df: pd.DataFrame, scale: Scale, bounds: Bounds | None = None) -> pd.DataFrame:
    """The scale's item columns as floats, reverse-keyed items recoded as min + max - x.

    `bounds` gives (min, max) per reverse-keyed item (`item_bounds(study)` builds it from
    the choice lists); without it, a reverse-keyed item is an error, because the scale's
    range cannot be read reliably from the data (a code nobody chose would be missed).
    """
    if len(scale.items) == 0:
        raise ScoringError(f"scale {scale.id!r} has no items")
    absent = [i for i in scale.items if i not in df.columns]
    if absent:
        raise ScoringError(
            f"scale {scale.id!r}: item column(s) {', '.join(absent)} not in the data"
        )
    stray = [r for r in scale.reverse if r not in scale.items]
    if stray:
        raise ScoringError(
            f"scale {scale.id!r}: reverse-keyed item(s) {', '.join(stray)} are not items "
            "of the scale"
        )
    items = pd.DataFrame({i: _as_float(df[i], i) for i in scale.items}, index=df.index)
    for item_id in scale.reverse:
        if bounds is None or item_id not in bounds:
            raise ScoringError(
                f"scale {scale.id!r}: reverse-keyed item {item_id!r} has no known range "
                "(give its choice list, or bounds={item: (min, max)})"
            )
        low, high = bounds[item_id]
        items[item_id] = low + high - items[item_id]
    return items


def score_scale(df: pd.DataFrame, scale: Scale, bounds: Bounds | None = None) -> pd.Series:
    """One scale's scores: mean (or sum) of answered keyed items, NaN below `min_answered`."""
    items = keyed_items(df, scale, bounds)
    answered = items.notna().sum(axis=1)
    enough = answered >= required_answered(scale)
    if scale.scoring == "sum":
        raw = items.sum(axis=1, skipna=True)
    else:
        raw = items.mean(axis=1, skipna=True)
    scores = raw.where(enough, np.nan).astype("float64")
    scores.name = scale.id
    return scores


def scale_scores(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Scores of every scale of the study, one column per scale id, index as `df`."""
    numeric = numeric_items(study, df)
    bounds = item_bounds(study)
    columns = {scale.id: score_scale(numeric, scale, bounds) for scale in study.scales}
    return pd.DataFrame(columns, index=df.index)


def scores_of_answers(study: Study, answers: Mapping[str, object]) -> dict[str, float | None]:
    """Every scale's score for one response's stored answers (None where too few items were
    answered), by the same rules as `scale_scores` but without building data frames: the
    closing page scores one response at a time, where pandas cost more than all the rest."""
    owner = _item_of_variable(study)
    bounds = item_bounds(study)
    out: dict[str, float | None] = {}
    for scale in study.scales:
        if len(scale.items) == 0:
            raise ScoringError(f"scale {scale.id!r} has no items")
        values: list[float] = []
        for var in scale.items:
            answer = answers.get(var)
            if not isinstance(answer, int | float) or answer != answer:  # unanswered, NaN
                continue
            value = float(answer)
            item = owner.get(var)
            choices = study.choices_of(item) if item is not None else ()
            if item is not None and item.type in NUMERIC_TYPES and choices:
                if value not in {float(c.code) for c in choices}:
                    raise ScoringError(
                        f"column {var!r} holds code {_fmt_code(value)} that is not in its "
                        f"choice list {item.choices!r}"
                    )
                if value in {float(c.code) for c in choices if c.missing}:
                    continue
            if var in scale.reverse:
                if var not in bounds:
                    raise ScoringError(
                        f"scale {scale.id!r}: reverse-keyed item {var!r} has no known range"
                    )
                low, high = bounds[var]
                value = low + high - value
            values.append(value)
        if len(values) < required_answered(scale):
            out[scale.id] = None
        else:
            total = math.fsum(values)
            out[scale.id] = total if scale.scoring == "sum" else total / len(values)
    return out
