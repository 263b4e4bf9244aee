"""Plain data passed between the respondent domain service and its callers (HTML pages, JSON API,
simulator). The HTML and JSON front ends both call `vakstem.service.responses.ResponseService`
and receive these objects, so the two cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vakstem.instrument.schema import Choice, Item, Page, Study

#: An answer value as stored: int (choice code, integer, consent 1/0), float (decimal),
#: str (text; a date as ISO `YYYY-MM-DD`), list[int] (multiple choice codes), or None.
AnswerValue = int | float | str | list[int] | None


class ResponseStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    #: Consent was refused: the survey ended politely and no answers are kept.
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    #: A quota on an answer was full when the respondent gave it: ended politely at that page.
    SCREENED_OUT = "screened_out"


class DomainError(Exception):
    """Base of errors a front end turns into a friendly page or an HTTP status.

    `code` is a stable message key (looked up in the interface catalogues), `params` fill it.
    """

    code = "error"
    status = 400

    def __init__(self, detail: str = "", **params: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code
        self.params = params


class StudyNotFound(DomainError):
    code = "study_not_found"
    status = 404


class ResponseNotFound(DomainError):
    """Unknown response id or resume code (never says which)."""

    code = "response_not_found"
    status = 404


class StudyClosed(DomainError):
    code = "study_closed"
    status = 409


class ResponseFinished(DomainError):
    """The response is completed, refused or withdrawn; no more pages can be submitted."""

    code = "response_finished"
    status = 409


class AlreadyWithdrawn(DomainError):
    """The response of this resume code was withdrawn before; nothing of it is kept."""

    code = "already_withdrawn"
    status = 409


class StalePage(DomainError):
    """A page other than the current one was submitted (old tab, back button, double click).

    Front ends show the current page again; nothing is stored twice.
    """

    code = "stale_page"
    status = 409


@dataclass(frozen=True)
class ItemError:
    """A validation problem with one variable: a catalogue key plus parameters, or a text
    written by the study author (a constraint message), already in the response's language."""

    variable: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class ShownItem:
    """An item as shown to this respondent: visible rows and choices in the order shown."""

    item: Item
    choices: tuple[Choice, ...] = ()
    #: Matrix rows in display order (only visible ones).
    rows: tuple[Any, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class PageView:
    page: Page
    #: 0-based position of this page among all pages, and the page count (for the progress bar).
    index: int
    total: int
    items: tuple[ShownItem, ...]
    can_go_back: bool


@dataclass(frozen=True)
class ResponseState:
    """Where a response stands: its current page (None once finished) and its answers so far."""

    id: str
    study: Study
    study_id: str
    instrument_version: str
    language: str
    status: ResponseStatus
    resume_code: str
    page: PageView | None
    answers: dict[str, AnswerValue]
    is_test: bool = False

    @property
    def completed(self) -> bool:
        return self.status is ResponseStatus.COMPLETED


@dataclass(frozen=True)
class SubmitResult:
    """Outcome of submitting a page: the new state, or per-variable errors (nothing stored)."""

    state: ResponseState
    errors: tuple[ItemError, ...] = ()
    #: The submitted raw values, so a page with errors can be shown again with what was typed.
    submitted: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class CodeSubmit:
    """Outcome of submitting a page by resume code (`ResponseService.submit_by_code`).

    `state` is the response as found, with its resume code; `token_ok` is False when the
    form's token was refused (nothing stored); `result` is None when nothing was submitted
    because the response has ended, the page is no longer the current one or the token was
    refused."""

    state: ResponseState
    token_ok: bool = True
    result: SubmitResult | None = None
