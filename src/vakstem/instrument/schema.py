"""The questionnaire format: pydantic models of a study file (pages, items, choices, scales, plan).

These models are the contract between the loader (which builds them from YAML or XLSForm),
the respondent flow (which renders and validates answers against them), exports and analysis.
Cross-references (choice list names, expression references, scale items) are checked by
`vakstem.instrument.validate`, not here, so that every problem can be reported with its location.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
LANG_PATTERN = r"^[a-z]{2,3}$"

Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]

#: A text is a plain string (same in every language) or a mapping language code -> text.
Text = str | dict[str, str]


def text_in(text: Text | None, language: str, fallback: str = "nl") -> str:
    """The text in `language`, falling back to `fallback`, then to any language present."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    if language in text:
        return text[language]
    if fallback in text:
        return text[fallback]
    return next(iter(text.values()), "")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemType(StrEnum):
    """Item types. `matrix` holds rows that are each a variable sharing one choice list."""

    NOTE = "note"
    SINGLE = "single"
    MULTIPLE = "multiple"
    MATRIX = "matrix"
    INTEGER = "integer"
    DECIMAL = "decimal"
    TEXT = "text"
    LONGTEXT = "longtext"
    DATE = "date"
    CONSENT = "consent"


class Choice(_Model):
    """One answer option: a numeric code (stored and exported) and its label."""

    code: int
    label: Text
    #: A substantive non-answer such as *weet ik niet* / n.v.t.: stored, but missing in analysis.
    missing: bool = False


class Appearance(StrEnum):
    DEFAULT = "default"
    DROPDOWN = "dropdown"


class MatrixRow(_Model):
    """One row of a Likert matrix: a variable of its own."""

    id: Identifier
    text: Text
    hint: Text | None = None
    #: Short label for exports and the codebook (the row text is often a whole sentence).
    label: Text | None = None


class Item(_Model):
    """One question (or note) on a page. Fields not used by an item's type must be left out."""

    id: Identifier
    type: ItemType
    text: Text = ""
    hint: Text | None = None
    required: bool | str = False
    relevant: str | None = None
    constraint: str | None = None
    constraint_message: Text | None = None
    #: Name of a choice list in `Study.choice_lists` (single, multiple, matrix).
    choices: Identifier | None = None
    appearance: Appearance = Appearance.DEFAULT
    #: Shuffle the choices (single, multiple) or the rows (matrix), seeded per response.
    randomize: bool = False
    rows: tuple[MatrixRow, ...] = ()
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(default=None, gt=0)
    #: Label for a variable in exports and the codebook (short); defaults to the text.
    label: Text | None = None
    #: Whether an open answer may identify people (left out of exports unless asked).
    open_text: bool = False

    def variables(self) -> tuple[str, ...]:
        """The variable ids this item stores answers under (none for a note)."""
        if self.type is ItemType.NOTE:
            return ()
        if self.type is ItemType.MATRIX:
            return tuple(row.id for row in self.rows)
        return (self.id,)


class Page(_Model):
    id: Identifier
    title: Text | None = None
    relevant: str | None = None
    items: tuple[Item, ...] = ()


class Scale(_Model):
    """A scale of the analysis plan: mean of its items after reverse-keying."""

    id: Identifier
    label: Text
    description: Text | None = None
    items: tuple[Identifier, ...]
    reverse: tuple[Identifier, ...] = ()
    scoring: Literal["mean", "sum"] = "mean"
    #: Minimum share of items answered for a score (STUDY.md: two thirds).
    min_answered: float = Field(default=2 / 3, gt=0, le=1)
    block: str | None = None


class ModelSpec(_Model):
    """A model of the analysis plan in lavaan syntax."""

    id: Identifier
    label: Text | None = None
    syntax: str
    estimator: Literal["ML", "MLR"] = "MLR"
    missing: Literal["listwise", "ml"] = "ml"
    std_lv: bool = False
    #: Defined parameters (`:=`) to bootstrap.
    bootstrap: int = 0
    #: Standard errors, test and bootstrap robust to the nesting in the plan's cluster variable
    #: (respondents of one organisation are not independent), as lavaan's ``cluster =``.
    #: Needs estimator MLR and `analysis.cluster`.
    cluster: bool = False


class AnalysisPlan(_Model):
    cluster: Identifier | None = None
    groups: tuple[Identifier, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    #: Free-form settings of later steps (data quality rules, invariance, multilevel).
    settings: dict[str, Any] = Field(default_factory=dict)


class StudySettings(_Model):
    anonymous: bool = True
    #: Smallest group shown on any feedback surface.
    k_min: int = Field(default=10, ge=5)
    #: Completed responses before the personal mirror is shown.
    mirror_min: int = Field(default=30, ge=1)
    #: Seconds per answer field shown below which a completed response is flagged `too_fast`
    #: (0 turns the check off). Two seconds is the usual careless-responding cut-off per item.
    min_seconds_per_answer: float = Field(default=2.0, ge=0, le=60)


class PrivacyController(_Model):
    """An institution responsible for the processing of the answers (a controller in the sense
    of the AVG/GDPR; several together are joint controllers)."""

    name: Text
    #: Where respondents find the institution's own privacy information (a link or address).
    contact: Text | None = None


class PrivacyContact(_Model):
    """Whom respondents write to about their data."""

    email: str = Field(max_length=254)
    #: The data-protection officer (functionaris gegevensbescherming), when there is one.
    dpo: Text | None = None


class Privacy(_Model):
    """The study's privacy statement: who, what, why, how long, rights and contact. A study
    cannot open without one; respondents read it at `/s/{study}/privacy`."""

    controllers: tuple[PrivacyController, ...]
    collected: Text
    purpose: Text
    legal_basis: Text
    retention: Text
    #: The respondent's rights; left out, the standard AVG/GDPR text of the interface is shown.
    rights: Text | None = None
    contact: PrivacyContact


class Study(_Model):
    """A whole study file."""

    id: Identifier
    version: str = "1"
    languages: tuple[Annotated[str, Field(pattern=LANG_PATTERN)], ...] = ("nl",)
    title: Text
    description: Text | None = None
    #: Source tags accepted on the anonymous link (`?bron=...`).
    sources: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")], ...] = ()
    settings: StudySettings = StudySettings()
    choice_lists: dict[Identifier, tuple[Choice, ...]] = Field(default_factory=dict)
    pages: tuple[Page, ...]
    scales: tuple[Scale, ...] = ()
    analysis: AnalysisPlan = AnalysisPlan()
    closing: Text | None = None
    #: The privacy statement; required before the study opens (not to load a draft).
    privacy: Privacy | None = None

    @field_validator("languages")
    @classmethod
    def _languages_nonempty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one language is needed")
        return v

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def items(self) -> list[tuple[Page, Item]]:
        return [(page, item) for page in self.pages for item in page.items]

    def item(self, item_id: str) -> Item | None:
        for _page, item in self.items():
            if item.id == item_id:
                return item
        return None

    def variables(self) -> list[str]:
        """Every variable id in questionnaire order."""
        return [v for _p, item in self.items() for v in item.variables()]

    def choices_of(self, item: Item) -> tuple[Choice, ...]:
        if item.choices is None:
            return ()
        return self.choice_lists.get(item.choices, ())
