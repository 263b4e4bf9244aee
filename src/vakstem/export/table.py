"""The tidy response table: one row per response, one column per variable, in questionnaire order.

`TableLayout` turns a `Study` into the columns of the table (metadata, answers, optional scale
scores) and each `ResponseRecord` into one row of plain Python values. Choice answers become
their numeric codes, multiple choice one 0/1 column per option, dates become dates, and every
empty answer gets the code of its reason (see `vakstem.export.missing`). A date or text column
cannot hold a numeric code without ceasing to be a date or text column, so it is followed by a
companion column `<name>_mis` that holds the code of the reason when the cell is empty; scale
scores take the codes themselves. The layout holds no more than the chunk of responses it is
given, so a caller can stream any number through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from operator import itemgetter
from typing import Any, overload

import numpy as np

from vakstem.analysis.scoring import ScoringError
from vakstem.export.missing import ExportError, MissingCodes, MissingReason, missing_codes_of
from vakstem.export.scores import ChunkScorer
from vakstem.instrument.names import MAX_NAME_LENGTH, multiple_choice_column, name_problems
from vakstem.instrument.schema import Choice, Item, ItemType, Study, text_in
from vakstem.instrument.textformat import plain_text

#: A cell of the table: text, a whole number (codes included), a decimal, a date, a UTC time.
Cell = str | int | float | dt.date | dt.datetime | None
Row = tuple[Cell, ...]

#: Evaluates a `relevant` expression over a response's answers.
Relevance = Callable[[str, Mapping[str, Any]], bool]


class Kind(StrEnum):
    """Storage type of a column, which decides how each format writes it."""

    STRING = "string"
    CODE = "code"  # whole numbers with value labels: choices, consent, 0/1 options
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"


class Measure(StrEnum):
    NOMINAL = "nominal"
    ORDINAL = "ordinal"
    SCALE = "scale"


@dataclass(frozen=True)
class Column:
    """One column of the tidy table and everything a format needs to label it."""

    name: str
    label: str
    kind: Kind
    measure: Measure
    #: Value labels, missing codes included for columns that carry them.
    value_labels: Mapping[int, str] = field(default_factory=dict)
    #: Whether empty answers are written as missing codes (else as an empty cell).
    has_missing_codes: bool = False
    #: Suggested display width in characters (SPSS "Columns").
    width: int = 8
    role: str = "answer"  # meta | answer | reason | score
    variable: str | None = None


@dataclass(frozen=True)
class ResponseRecord:
    """One stored response, as the table needs it (read from the store or built in memory)."""

    response_id: str
    instrument_version: str
    language: str
    status: str
    answers: Mapping[str, Any]
    source: str | None = None
    is_test: bool = False
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    #: Page ids the respondent submitted, in order; None when the store does not know.
    visited_pages: Sequence[str] | None = None
    #: The page shown last (not yet submitted) for a response that is not completed.
    current_page: str | None = None
    #: Quality flags (speeder, straightliner, …) as 0/1, when the store has them.
    flags: Mapping[str, int] = field(default_factory=dict)
    #: Why a researcher excluded this response in the console; None when it is not excluded.
    exclusion_reason: str | None = None


@dataclass(frozen=True)
class ExportOptions:
    """What goes into the table: which responses and which columns, labelled in which language."""

    completed_only: bool = True
    include_test: bool = False
    with_scores: bool = False
    open_text: bool = False
    language: str | None = None
    #: Keep responses a researcher excluded in the console (and add the columns `excluded` and
    #: `exclusion_reason`); by default they are left out.
    include_excluded: bool = False
    #: Write text cells as typed in csv; by default a text starting with = + - @ or a tab or
    #: carriage return gets a ' in front, so a spreadsheet does not run it as a formula.
    raw_text: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "completed_only": self.completed_only,
            "include_test": self.include_test,
            "include_excluded": self.include_excluded,
            "with_scores": self.with_scores,
            "open_text": self.open_text,
            "language": self.language,
            "raw_text": self.raw_text,
        }


_META_LABELS: dict[str, tuple[str, str]] = {
    "response_id": ("Respons-id", "Response id"),
    "instrument_version": ("Versie vragenlijst (hash)", "Questionnaire version (hash)"),
    "language": ("Taal van invullen", "Language answered in"),
    "source": ("Bron (link)", "Source (link)"),
    "started_at": ("Gestart (UTC)", "Started (UTC)"),
    "completed_at": ("Afgerond (UTC)", "Completed (UTC)"),
    "duration_s": ("Duur in seconden", "Duration in seconds"),
    "status": ("Status", "Status"),
    "is_test": ("Testrespons", "Test response"),
    "excluded": ("Uitgesloten door onderzoeker", "Excluded by a researcher"),
    "exclusion_reason": ("Reden van uitsluiting", "Reason for exclusion"),
    "flag_speeder": (
        "Snelle invuller (minder dan een derde van de mediane duur)",
        "Speeder (under a third of the median duration)",
    ),
    "flag_straightliner": (
        "Rechtlijnig ingevuld (overal hetzelfde antwoord in een blok)",
        "Straightliner (the same answer throughout a block)",
    ),
    "flag_duplicate": (
        "Dubbel (dezelfde antwoorden als een eerdere respons)",
        "Duplicate (the same answers as an earlier response)",
    ),
    "flag_honeypot": (
        "Vermoedelijk bot (onzichtbaar lokveld ingevuld)",
        "Likely bot (filled in the hidden trap field)",
    ),
    "flag_too_fast": (
        "Te snel afgerond (onder de minimumtijd per getoonde vraag)",
        "Completed too fast (under the minimum time per question shown)",
    ),
}
_YES_NO = {"nl": {0: "nee", 1: "ja"}, "en": {0: "no", 1: "yes"}}
_SELECTED = {"nl": {0: "niet gekozen", 1: "gekozen"}, "en": {0: "not selected", 1: "selected"}}


def variable_name_problems(names: Iterable[str]) -> list[str]:
    """Why each of `names` cannot be a variable in SPSS and Stata (empty when all are fine).

    The rules are the instrument validator's (`vakstem.instrument.names`), which already refuses
    such names at study load; checking again here covers studies stored before that check and
    the metadata and score columns the export adds.
    """
    problems = []
    seen: set[str] = set()
    for name in names:
        problems.extend(name_problems(name))
        if name.lower() in seen:
            problems.append(f"{name!r} occurs twice (SPSS does not tell case apart)")
        seen.add(name.lower())
    return problems


def option_column(variable: str, code: int) -> str:
    """Column name of one option of a multiple-choice item: `q_2`, or `q_m1` for code −1."""
    return multiple_choice_column(variable, code)


def score_column(study: Study, scale_id: str) -> str:
    """A scale score's column: the scale id (as the validator checks it), or `score_<id>` when
    the id is also a variable."""
    return f"score_{scale_id}" if scale_id in study.variables() else scale_id


#: Suffix of the companion column that says why a date or text cell is empty.
REASON_SUFFIX = "_mis"
_REASON_LABEL = {"nl": "Waarom leeg: {label}", "en": "Why empty: {label}"}


def reason_column(variable: str) -> str:
    """Name of the column holding the missing reason of a date or text variable: `<name>_mis`
    (the name cut so that the whole stays within Stata's 32 characters)."""
    return f"{variable[: MAX_NAME_LENGTH - len(REASON_SUFFIX)]}{REASON_SUFFIX}"


def _is_open(item: Item) -> bool:
    return item.open_text or item.type in (ItemType.TEXT, ItemType.LONGTEXT)


class TableLayout:
    """The columns of one study's export and the conversion of a response into a row."""

    def __init__(
        self,
        study: Study,
        options: ExportOptions,
        relevance: Relevance,
        *,
        flags: Sequence[str] = (),
        versions: Mapping[str, Study] | None = None,
    ) -> None:
        self.study = study
        self.options = options
        self.language = options.language or study.default_language
        if self.language not in study.languages:
            raise ExportError(
                f"study {study.id!r} has no language {self.language!r}; "
                f"choose one of {', '.join(study.languages)}"
            )
        self.codes: MissingCodes = missing_codes_of(study)
        self._relevance = relevance
        #: Older instrument versions by hash: their pages decide which items a response saw.
        self._versions = dict(versions or {})
        self.flags = tuple(flags)
        self._shapes: dict[int, _Shape] = {}
        self.columns: list[Column] = self._build_columns()
        problems = variable_name_problems(c.name for c in self.columns)
        if problems:
            raise ExportError(
                f"study {study.id!r} has variable names SPSS or Stata cannot take: "
                + "; ".join(problems)
            )
        self._missing_choice: dict[str, frozenset[int]] = {
            name: frozenset(c.code for c in choices if c.missing)
            for name, choices in study.choice_lists.items()
        }
        self._plan = self._build_plan()
        #: Missing reason → its code, looked up once per empty cell.
        self.reason_codes: dict[MissingReason, int] = {r: self.codes.code(r) for r in MissingReason}
        self._item_of = {v: item for _p, item in study.items() for v in item.variables()}
        self._scorer: ChunkScorer | None = None
        #: Every variable a chunk's columns read, the scores' items included, in one order.
        self._variables = tuple(
            dict.fromkeys(
                [v for op, v, _e, _c in self._plan if op != _META]
                + (
                    sorted({v for s in study.scales for v in s.items})
                    if options.with_scores
                    else []
                )
            )
        )
        self._blank = dict.fromkeys(self._variables)

    # -- columns ---------------------------------------------------------------------------

    def _t(self, text: Any) -> str:
        # Variable and value labels are plain text: formatting markers are stripped.
        return plain_text(text_in(text, self.language, self.study.default_language))

    def _item_label(self, item: Item) -> str:
        return self._t(item.label) if item.label is not None else self._t(item.text)

    def _choice_labels(self, choices: Sequence[Choice]) -> dict[int, str]:
        labels: dict[int, str] = {}
        missing = [c for c in choices if c.missing]
        for choice in choices:
            if not choice.missing:
                labels[choice.code] = self._t(choice.label)
        labels.update(self.codes.labels(self.language))
        if missing:
            # The substantive non-answer is exported as the don't-know code; its own code stays
            # visible in the label so nothing of the questionnaire is lost.
            labels[self.codes.dont_know] = " / ".join(
                f"{self._t(c.label)} [{c.code}]" for c in missing
            )
        return labels

    def _build_columns(self) -> list[Column]:
        nl = self.language == "nl"
        cols: list[Column] = []

        def meta(name: str, kind: Kind, measure: Measure, width: int, **kw: Any) -> None:
            label = _META_LABELS[name][0 if nl else 1]
            cols.append(Column(name, label, kind, measure, width=width, role="meta", **kw))

        meta("response_id", Kind.STRING, Measure.NOMINAL, 24)
        meta("instrument_version", Kind.STRING, Measure.NOMINAL, 16)
        meta("language", Kind.STRING, Measure.NOMINAL, 4)
        meta("source", Kind.STRING, Measure.NOMINAL, 12)
        meta("started_at", Kind.DATETIME, Measure.SCALE, 20)
        meta("completed_at", Kind.DATETIME, Measure.SCALE, 20)
        meta("duration_s", Kind.DECIMAL, Measure.SCALE, 10)
        meta("status", Kind.STRING, Measure.NOMINAL, 10)
        yes_no = _YES_NO["nl" if nl else "en"]
        meta("is_test", Kind.CODE, Measure.NOMINAL, 4, value_labels=yes_no)
        if self.options.include_excluded:
            meta("excluded", Kind.CODE, Measure.NOMINAL, 4, value_labels=yes_no)
            meta("exclusion_reason", Kind.STRING, Measure.NOMINAL, 40)
        for flag in self.flags:
            label = _META_LABELS[flag][0 if nl else 1] if flag in _META_LABELS else flag
            cols.append(
                Column(flag, label, Kind.CODE, Measure.NOMINAL, value_labels=yes_no, role="meta")
            )
        missing_labels = self.codes.labels(self.language)
        # A choice list is an answer scale (ordinal) when a matrix or a scale of the analysis
        # plan uses it; otherwise its choices are categories (nominal), like a region.
        scale_items = {v for scale in self.study.scales for v in scale.items}
        ordinal = {
            item.choices
            for _p, item in self.study.items()
            if item.choices
            and (item.type is ItemType.MATRIX or set(item.variables()) & scale_items)
        }
        for _page, item in self.study.items():
            if item.type is ItemType.NOTE or (_is_open(item) and not self.options.open_text):
                continue
            label = self._item_label(item)
            choices = self.study.choices_of(item)
            if item.type is ItemType.SINGLE:
                measure = Measure.ORDINAL if item.choices in ordinal else Measure.NOMINAL
                cols.append(
                    Column(
                        item.id, label, Kind.CODE, measure, self._choice_labels(choices),
                        True, variable=item.id,
                    )
                )  # fmt: skip
            elif item.type is ItemType.MATRIX:
                labels = self._choice_labels(choices)
                for row in item.rows:
                    own = self._t(row.label) if row.label is not None else self._t(row.text)
                    row_label = f"{label}: {own}" if label and row.label is None else own
                    cols.append(
                        Column(
                            row.id, row_label, Kind.CODE, Measure.ORDINAL, labels, True,
                            variable=row.id,
                        )
                    )  # fmt: skip
            elif item.type is ItemType.MULTIPLE:
                selected = _SELECTED["nl" if nl else "en"]
                for choice in choices:
                    cols.append(
                        Column(
                            option_column(item.id, choice.code),
                            f"{label}: {self._t(choice.label)}",
                            Kind.CODE,
                            Measure.NOMINAL,
                            {**selected, **missing_labels},
                            True,
                            variable=item.id,
                        )
                    )
            elif item.type is ItemType.CONSENT:
                cols.append(
                    Column(
                        item.id, label, Kind.CODE, Measure.NOMINAL,
                        {**yes_no, **missing_labels}, True, variable=item.id,
                    )
                )  # fmt: skip
            elif item.type in (ItemType.INTEGER, ItemType.DECIMAL):
                kind = Kind.INTEGER if item.type is ItemType.INTEGER else Kind.DECIMAL
                if item.min is not None and item.min <= max(self.codes.all()):
                    raise ExportError(
                        f"item {item.id!r} accepts values from {item.min}, which overlap the "
                        f"missing codes {list(self.codes.all())}; declare other codes in "
                        "analysis.settings.missing_codes"
                    )
                cols.append(
                    Column(
                        item.id, label, kind, Measure.SCALE, missing_labels, True,
                        width=10, variable=item.id,
                    )
                )  # fmt: skip
            elif item.type is ItemType.DATE:
                cols.append(
                    Column(item.id, label, Kind.DATE, Measure.SCALE, width=11, variable=item.id)
                )
                cols.append(self._reason_column(item.id, label, missing_labels))
            else:  # text, longtext
                width = min(item.max_length or 40, 40)
                cols.append(
                    Column(
                        item.id, label, Kind.STRING, Measure.NOMINAL, width=width,
                        variable=item.id,
                    )
                )  # fmt: skip
                cols.append(self._reason_column(item.id, label, missing_labels))
        if self.options.with_scores:
            lowest = _lowest_scores(self.study)
            for scale in self.study.scales:
                floor = lowest.get(scale.id)
                if floor is not None and floor <= max(self.codes.all()):
                    raise ExportError(
                        f"scale {scale.id!r} can score {floor:g}, which overlaps the missing "
                        f"codes {list(self.codes.all())}; declare other codes in "
                        "analysis.settings.missing_codes"
                    )
                cols.append(
                    Column(
                        score_column(self.study, scale.id), self._t(scale.label), Kind.DECIMAL,
                        Measure.SCALE, missing_labels, True, width=8, role="score",
                    )
                )  # fmt: skip
        return cols

    def _reason_column(self, variable: str, label: str, labels: Mapping[int, str]) -> Column:
        template = _REASON_LABEL["nl" if self.language == "nl" else "en"]
        return Column(
            reason_column(variable), template.format(label=label), Kind.CODE, Measure.NOMINAL,
            labels, True, width=4, role="reason", variable=variable,
        )  # fmt: skip

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    # -- rows ------------------------------------------------------------------------------

    def _build_plan(self) -> list[tuple[int, str, Any, bool]]:
        """Per answer column: (operation, variable, its data, whether it takes missing codes),
        worked out once so that building a row is one tight loop."""
        by_variable = {v: item for _p, item in self.study.items() for v in item.variables()}
        plan: list[tuple[int, str, Any, bool]] = []
        for col in self.columns:
            if col.role == "meta":
                plan.append((_META, col.name, None, False))
                continue
            if col.role == "score" or col.variable is None:
                continue
            if col.role == "reason":
                plan.append((_REASON, col.variable, None, True))
                continue
            item = by_variable[col.variable]
            missing = self._missing_choice.get(item.choices or "", frozenset())
            if item.type is ItemType.MULTIPLE:
                code = next(
                    c.code
                    for c in self.study.choices_of(item)
                    if option_column(item.id, c.code) == col.name
                )
                plan.append((_OPTION, col.variable, (code, missing), True))
            elif col.kind is Kind.CODE:
                plan.append((_CODE, col.variable, missing, True))
            elif col.kind is Kind.INTEGER:
                plan.append((_INTEGER, col.variable, None, True))
            elif col.kind is Kind.DECIMAL:
                plan.append((_DECIMAL, col.variable, None, True))
            elif col.kind is Kind.DATE:
                plan.append((_DATE, col.variable, None, False))
            else:
                plan.append((_TEXT, col.variable, None, False))
        return plan

    def _study_of(self, version: str) -> Study:
        return self._versions.get(version, self.study)

    def _shape(self, study: Study) -> _Shape:
        shape = self._shapes.get(id(study))
        if shape is None:
            shape = self._shapes[id(study)] = _Shape(study)
        return shape

    def _relevant(self, expression: str | None, answers: Mapping[str, Any]) -> bool:
        if not expression:
            return True
        return bool(self._relevance(expression, answers))

    def reasons(self, record: ResponseRecord) -> dict[str, MissingReason]:
        """Why each variable without an answer is empty, for this response."""
        study = self._study_of(record.instrument_version)
        why = _Reasons(self, record, self._shape(study))
        return {v: why.reason(v) for v in study.variables() if record.answers.get(v) is None}

    def row(self, record: ResponseRecord) -> Row:
        """The table row of one response."""
        return self.rows([record])[0]

    def rows(
        self,
        records: Sequence[ResponseRecord],
        flags: Sequence[Mapping[str, int]] | None = None,
    ) -> TableChunk:
        """The table rows of a chunk of responses, built a column at a time (scale scores
        computed for the chunk at once); `flags`, one mapping per response, stand in for the
        records' own quality flags."""
        return TableChunk(self.columns_of(records, flags), len(records))

    def columns_of(
        self,
        records: Sequence[ResponseRecord],
        flags: Sequence[Mapping[str, int]] | None = None,
    ) -> list[list[Cell]]:
        """One list of cells per column for a chunk of responses.

        Built column by column: each answer variable is looked up once per response and its
        cells converted by list comprehensions (a type check of the whole column first, the
        per-cell checks only for columns that need them), and only the empty cells ask for a
        missing reason. A row-at-a-time loop spent most of its time dispatching per cell."""
        n = len(records)
        if flags is not None and len(flags) != n:
            raise ValueError(f"{len(flags)} sets of flags for {n} responses")
        answers = [r.answers for r in records]
        why = _ChunkReasons(self, records)
        values_of = self._answer_columns(answers)
        options_of: dict[str, tuple[list[frozenset[Any] | None], list[bool]]] = {}

        def values(variable: str) -> list[Any]:
            found = values_of.get(variable)
            if found is None:
                found = values_of[variable] = [a.get(variable) for a in answers]
            return found

        columns: list[list[Cell]] = []
        for op, variable, extra, coded in self._plan:
            if op == _META:
                columns.append(self._meta_column(variable, records, flags))
                continue
            vals = values(variable)
            if op in (_CODE, _INTEGER):
                column = self._whole_column(vals, variable, records)
                missing = extra if op == _CODE else None
                if missing and not missing.isdisjoint(column):
                    dont_know = self.codes.dont_know
                    column = [dont_know if c in missing else c for c in column]
            elif op == _OPTION:
                sets = options_of.get(variable)
                if sets is None:
                    sets = options_of[variable] = self._chosen(vals, variable, records, extra[1])
                column = self._option_column(extra, *sets)
            elif op == _DECIMAL:
                column = _decimal_column(vals, variable, records)
            elif op == _DATE:
                column = [
                    None if v is None else _date(v, variable, records[i])
                    for i, v in enumerate(vals)
                ]
            elif op == _REASON:
                column = [None] * n
            else:
                column = [None if v is None else v if type(v) is str else str(v) for v in vals]
            if coded and None in vals:
                if column is vals:
                    column = list(vals)
                why.fill(column, vals, variable)
            columns.append(column)
        if self.options.with_scores and self.study.scales:
            columns.extend(self._score_columns(records, values, why))
        return columns

    def _answer_columns(self, answers: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """Variable → its value per response (None when unanswered), for every variable the
        chunk's columns read. Each response is merged onto a dict holding every variable as
        None, so one `itemgetter` call takes its whole row and `zip` turns the rows into
        columns, both in C: a lookup per variable and response took three times as long."""
        names = self._variables
        if not names or not answers:
            return {v: [None] * len(answers) for v in names}
        blank = self._blank
        if len(names) == 1:
            only = names[0]
            return {only: [a.get(only) for a in answers]}
        pick = itemgetter(*names)
        rows = [pick(blank | (a if type(a) is dict else dict(a))) for a in answers]
        return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))

    def _whole_column(
        self, vals: list[Any], variable: str, records: Sequence[ResponseRecord]
    ) -> list[Any]:
        """Whole numbers as they are (the common case, checked for the whole column at once);
        a whole float or a bool becomes an int, anything else is an error."""
        if set(map(type, vals)) <= _INT_OR_NONE:
            return vals
        return [
            None if v is None else v if type(v) is int else _whole(v, variable, records[i])
            for i, v in enumerate(vals)
        ]

    def _chosen(
        self,
        vals: list[Any],
        variable: str,
        records: Sequence[ResponseRecord],
        missing: frozenset[int],
    ) -> tuple[list[frozenset[Any] | None], list[bool]]:
        """Per response, the set of codes chosen (None when unanswered) and whether all of
        them are substantive non-answers (then every other option is don't know)."""
        sets: list[frozenset[Any] | None] = []
        only_missing: list[bool] = []
        for i, value in enumerate(vals):
            if value is None:
                sets.append(None)
                only_missing.append(False)
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, list):
                raise _bad(records[i], variable, value, "a list of choice codes")
            chosen = frozenset(value)
            sets.append(chosen)
            only_missing.append(bool(chosen and missing and chosen <= missing))
        return sets, only_missing

    def _option_column(
        self,
        extra: tuple[int, frozenset[int]],
        sets: list[frozenset[Any] | None],
        only_missing: list[bool],
    ) -> list[Cell]:
        code, missing = extra
        if code in missing or not any(only_missing):
            return [None if s is None else int(code in s) for s in sets]
        dont_know = self.codes.dont_know
        return [
            None if s is None else dont_know if dk else int(code in s)
            for s, dk in zip(sets, only_missing, strict=True)
        ]

    def _score_columns(
        self,
        records: Sequence[ResponseRecord],
        values: Callable[[str], list[Any]],
        why: _ChunkReasons,
    ) -> list[list[Cell]]:
        if self._scorer is None:
            self._scorer = ChunkScorer(self.study)
        columns_in: dict[str, np.ndarray[Any, Any]] = {}
        for v in self._scorer.variables():
            vals = values(v)
            try:
                # Answers are whole numbers or None (NaN here): numpy converts a chunk at once.
                columns_in[v] = np.array(vals, dtype="float64")
            except (TypeError, ValueError):
                columns_in[v] = np.array([_number_or_none(x) for x in vals], dtype="float64")
        try:
            scores = self._scorer.scores(columns_in)
        except ScoringError as exc:
            raise ExportError(f"cannot compute scale scores: {exc}") from None
        columns: list[list[Cell]] = []
        for scale in self.study.scales:
            array = scores[scale.id]
            column: list[Cell] = array.tolist()
            for i in np.flatnonzero(np.isnan(array)).tolist():
                column[i] = self._score_reason(records[i], scale.items, why.of(i))
            columns.append(column)
        return columns

    def _score_reason(self, record: ResponseRecord, items: Sequence[str], why: _Reasons) -> int:
        """The missing code of a scale score that could not be computed: the reason its
        unscored items share (all dropped out, all hidden, all don't know), else not answered
        (too few of its items were answered)."""
        by_variable = self._item_of
        reasons: set[MissingReason] = set()
        for variable in items:
            value = record.answers.get(variable)
            if value is None:
                reasons.add(why.reason(variable))
                continue
            item = by_variable.get(variable)
            missing = self._missing_choice.get(item.choices or "", frozenset()) if item else ()
            if value in missing:
                reasons.add(MissingReason.DONT_KNOW)
        reason = reasons.pop() if len(reasons) == 1 else MissingReason.NOT_ANSWERED
        return self.codes.code(reason)

    def _meta_column(
        self,
        name: str,
        records: Sequence[ResponseRecord],
        flags: Sequence[Mapping[str, int]] | None = None,
    ) -> list[Cell]:
        if name == "response_id":
            return [r.response_id for r in records]
        if name == "instrument_version":
            return [r.instrument_version for r in records]
        if name == "language":
            return [r.language for r in records]
        if name == "source":
            return [r.source or "" for r in records]
        if name == "started_at":
            return [utc_naive(r.started_at) for r in records]
        if name == "completed_at":
            return [utc_naive(r.completed_at) for r in records]
        if name == "duration_s":
            return [
                None
                if r.started_at is None or r.completed_at is None
                else round((_aware(r.completed_at) - _aware(r.started_at)).total_seconds(), 3)
                for r in records
            ]
        if name == "status":
            return [r.status for r in records]
        if name == "is_test":
            return [int(r.is_test) for r in records]
        if name == "excluded":
            return [int(r.exclusion_reason is not None) for r in records]
        if name == "exclusion_reason":
            return [r.exclusion_reason or "" for r in records]
        of = [r.flags for r in records] if flags is None else flags
        return [int(f[name]) if name in f else None for f in of]


class TableChunk(Sequence[Row]):
    """A chunk of the table held as columns (one list of cells per column), which reads as a
    sequence of row tuples too. Writers that take whole columns (parquet, sav, dta) use
    `columns`; the row view is built once, when first asked for."""

    __slots__ = ("_length", "_rows", "columns")

    def __init__(self, columns: list[list[Cell]], length: int) -> None:
        self.columns = columns
        self._length = length
        self._rows: list[Row] | None = None

    def __len__(self) -> int:
        return self._length

    @property
    def rows(self) -> list[Row]:
        if self._rows is None:
            self._rows = list(zip(*self.columns, strict=True)) if self.columns else []
        return self._rows

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        return self.rows[index]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


def columns_of(chunk: Sequence[Row]) -> list[list[Cell]]:
    """The columns of a chunk of rows: a `TableChunk`'s own, else transposed."""
    if isinstance(chunk, TableChunk):
        return chunk.columns
    return [list(cells) for cells in zip(*chunk, strict=True)]


def _decimal_column(
    vals: list[Any], variable: str, records: Sequence[ResponseRecord]
) -> list[Cell]:
    if set(map(type, vals)) <= _NUMBER_OR_NONE:
        return [None if v is None else float(v) for v in vals]
    out: list[Cell] = []
    for i, value in enumerate(vals):
        if value is None:
            out.append(None)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(records[i], variable, value, "a number")
        else:
            out.append(float(value))
    return out


_INT_OR_NONE = frozenset({int, type(None)})
_NUMBER_OR_NONE = frozenset({int, float, type(None)})


_META, _CODE, _OPTION, _INTEGER, _DECIMAL, _DATE, _TEXT, _REASON = range(8)


def _lowest_scores(study: Study) -> dict[str, float]:
    """The lowest score each scale can take, for the scales whose items all have a known
    lowest value (the smallest substantive choice code, or an item's declared minimum)."""
    by_variable = {v: item for _p, item in study.items() for v in item.variables()}
    lowest: dict[str, float] = {}
    for scale in study.scales:
        floors: list[float] = []
        for variable in scale.items:
            item = by_variable.get(variable)
            if item is None:
                break
            codes = [c.code for c in study.choices_of(item) if not c.missing]
            if codes:
                floors.append(float(min(codes)))
            elif item.min is not None:
                floors.append(float(item.min))
            else:
                break
        else:
            if not floors:
                continue
            # A mean lies between its items' bounds; a sum of answered items is at least the
            # sum of the negative floors (an unanswered item adds nothing).
            if scale.scoring == "sum":
                lowest[scale.id] = (
                    sum(f for f in floors if f < 0) if min(floors) < 0 else min(floors)
                )
            else:
                lowest[scale.id] = min(floors)
    return lowest


class _Shape:
    """Where each variable of one instrument version sits: its page and its item."""

    def __init__(self, study: Study) -> None:
        self.pages = list(study.pages)
        self.index = {p.id: i for i, p in enumerate(self.pages)}
        self.place: dict[str, tuple[int, Item]] = {
            v: (i, item)
            for i, page in enumerate(self.pages)
            for item in page.items
            for v in item.variables()
        }
        self.page_variables = [
            [v for item in page.items for v in item.variables()] for page in self.pages
        ]
        #: (path, status, page left open) → the pages seen and the frontier (`_progress`).
        self.progress: dict[tuple[Any, ...], tuple[frozenset[str], int]] = {}
        #: (path, status, page left open) → variable → the missing code of an empty answer,
        #: for the variables whose code follows from that key alone (no condition was read).
        self.codes: dict[tuple[Any, ...], dict[str, int]] = {}

    def shared_codes(self, key: tuple[Any, ...] | None) -> dict[str, int] | None:
        """The codes shared by every response with this `_path_key` (None without a stored
        path: then the answers decide what was seen)."""
        if key is None:
            return None
        found = self.codes.get(key)
        if found is None:
            found = {}
            if len(self.codes) < _SHARED_PATHS:
                self.codes[key] = found
        return found


#: At most this many paths' shared missing codes are kept per instrument version.
_SHARED_PATHS = 10_000


def _path_key(record: ResponseRecord) -> tuple[Any, ...] | None:
    """What a response's pages seen and frontier follow from, when its path is stored."""
    if record.visited_pages is None:
        return None
    return (tuple(record.visited_pages), record.status, record.current_page)


#: `_Reasons` works out its shared codes itself unless given them.
_UNSET: Any = object()


def _progress(
    shape: _Shape,
    visited: Sequence[str] | None,
    record: ResponseRecord,
    answers: Mapping[str, Any],
) -> tuple[frozenset[str], int]:
    """The pages a response counts as seen, and the index of the first page it did not reach
    (everything from there on is dropped out); `answers` only matter without a path."""
    pages = shape.pages
    if visited is None:
        answered = [
            i
            for i, names in enumerate(shape.page_variables)
            if any(answers.get(v) is not None for v in names)
        ]
        seen = {pages[i].id for i in answered}
        reached_until = max(answered, default=-1)
    else:
        seen = set(visited)
        reached_until = max((shape.index[p] for p in visited if p in shape.index), default=-1)
    if record.status in ("withdrawn", "refused"):
        # Nothing is kept of a withdrawn or refused response: no page counts as answered.
        return frozenset(), 0
    if record.status == "completed":
        frontier = len(pages)
    elif record.current_page is not None and record.current_page in shape.index:
        frontier = shape.index[record.current_page]
        seen.discard(record.current_page)
    else:
        frontier = reached_until + 1
    return frozenset(seen), frontier


class _Reasons:
    """The missing reasons of one response, worked out only for the variables that need one.

    A page the respondent submitted is *seen*; one between seen pages that was not is
    *skipped* (its condition was false); the page left open and every later one is *not
    reached*. Without a stored path, a page with an answer counts as seen and the rest is
    decided by conditions.
    """

    def __init__(
        self,
        layout: TableLayout,
        record: ResponseRecord,
        shape: _Shape,
        shared: dict[str, int] | None = _UNSET,
    ) -> None:
        self.layout = layout
        self.answers = record.answers
        self.shape = shape
        visited = record.visited_pages
        self.by_path = visited is not None
        #: Ended by a full quota on an answer: the rest of the questionnaire was never meant
        #: for this respondent (and none of their answers are kept), so every item is not
        #: applicable, as for an item a condition hides, and never a drop-out.
        self.screened_out = record.status == "screened_out"
        key = _path_key(record)
        #: Where codes that follow from this response's path alone are kept for others.
        self.shared = shape.shared_codes(key) if shared is _UNSET else shared
        if key is None:
            self.seen, self.frontier = _progress(shape, None, record, self.answers)
        else:
            # Most responses share their path (every completed one through the same pages),
            # so the pages seen and the frontier are worked out once per path.
            found = shape.progress.get(key)
            if found is None:
                found = _progress(shape, visited, record, self.answers)
                if len(shape.progress) < 10_000:
                    shape.progress[key] = found
            self.seen, self.frontier = found
        self._page_shown: dict[int, bool] = {}
        self._codes: dict[str, int] = {}

    def code(self, variable: str) -> int:
        """The missing code of `variable` (asked once per option column of a multiple-choice
        item and again for a reason column, so it is kept; and kept for every response with
        the same path, status and page left open when no condition decided it)."""
        found = self._codes.get(variable)
        if found is None:
            reason, by_path_alone = self._reason(variable)
            found = self._codes[variable] = self.layout.reason_codes[reason]
            if by_path_alone and self.shared is not None:
                self.shared[variable] = found
        return found

    def _page_relevant(self, i: int) -> bool:
        shown = self._page_shown.get(i)
        if shown is None:
            page = self.shape.pages[i]
            shown = self._page_shown[i] = self.layout._relevant(page.relevant, self.answers)
        return shown

    def reason(self, variable: str) -> MissingReason:
        return self._reason(variable)[0]

    def _reason(self, variable: str) -> tuple[MissingReason, bool]:
        """The reason, and whether it follows from the pages seen and the frontier alone
        (False when a condition on the answers was read)."""
        place = self.shape.place.get(variable)
        if place is None or self.screened_out:
            # A variable absent from the response's own version was never asked.
            return MissingReason.NOT_APPLICABLE, True
        i, item = place
        page = self.shape.pages[i]
        if page.id in self.seen or (not self.by_path and i < self.frontier):
            if page.relevant and not self._page_relevant(i):
                return MissingReason.NOT_APPLICABLE, False
            if item.relevant and not self.layout._relevant(item.relevant, self.answers):
                return MissingReason.NOT_APPLICABLE, False
            return MissingReason.NOT_ANSWERED, not (page.relevant or item.relevant)
        if i < self.frontier:
            return MissingReason.NOT_APPLICABLE, True
        return MissingReason.DROPPED_OUT, True


class _ChunkReasons:
    """The `_Reasons` of each response of a chunk, made for a response only when one of its
    cells is empty."""

    def __init__(self, layout: TableLayout, records: Sequence[ResponseRecord]) -> None:
        self.layout = layout
        self.records = records
        self._of: dict[int, _Reasons] = {}
        self._shared: list[dict[str, int] | None] | None = None

    def of(self, i: int) -> _Reasons:
        why = self._of.get(i)
        if why is None:
            record = self.records[i]
            layout = self.layout
            shape = layout._shape(layout._study_of(record.instrument_version))
            shared = _UNSET if self._shared is None else self._shared[i]
            why = self._of[i] = _Reasons(layout, record, shape, shared)
        return why

    def code(self, i: int, variable: str) -> int:
        return self.of(i).code(variable)

    def fill(self, column: list[Cell], values: list[Any], variable: str) -> None:
        """Put the missing code of `variable` in each cell of `column` whose value is None.
        A code another response with the same path already had is looked up, without
        working out this response's reasons."""
        shared = self._shared
        if shared is None:
            layout = self.layout
            shapes = {
                version: layout._shape(layout._study_of(version))
                for version in {r.instrument_version for r in self.records}
            }
            shared = self._shared = [
                shapes[r.instrument_version].shared_codes(_path_key(r)) for r in self.records
            ]
        for i, value in enumerate(values):
            if value is None:
                codes = shared[i]
                found = None if codes is None else codes.get(variable)
                column[i] = self.of(i).code(variable) if found is None else found


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _whole(value: Any, variable: str, record: ResponseRecord) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _bad(record, variable, value, "a whole number")


def _date(value: Any, variable: str, record: ResponseRecord) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _bad(record, variable, value, "a date (YYYY-MM-DD)") from None


def _bad(record: ResponseRecord, variable: str, value: Any, expected: str) -> ExportError:
    return ExportError(
        f"response {record.response_id}: stored answer to {variable!r} is {value!r}, "
        f"expected {expected}"
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def utc_naive(moment: dt.datetime | None) -> dt.datetime | None:
    """A time in UTC without a zone: the form SPSS, Stata and Excel store (naive means UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is not dt.UTC:  # the store gives UTC already: no conversion then
        moment = _aware(moment).astimezone(dt.UTC)
    return moment.replace(tzinfo=None, microsecond=0)
