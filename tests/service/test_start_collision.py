"""A new response whose drawn resume code is already taken (one in 2**50 per pair) draws another:
the database refuses the duplicate, and the start retries with a fresh code. On SQLite the row
goes to the driver directly, so this also checks that the driver's error arrives as
SQLAlchemy's `IntegrityError`, which the retry catches."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from vakstem.instrument.schema import Study
from vakstem.service import resume_codes
from vakstem.service.responses import ResponseService


def test_a_taken_resume_code_is_drawn_again(
    service: ResponseService, example: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = service.start(example.id)
    taken = resume_codes.normalise(first.resume_code)
    assert taken is not None
    draws = iter([taken, "K7QM3XHD9P"])
    monkeypatch.setattr(resume_codes, "new_code", lambda: next(draws))

    second = service.start(example.id)

    assert second.resume_code == "K7QM-3XHD-9P"
    assert second.id != first.id
    # Both responses stand, each found by its own code.
    assert service.resume(first.resume_code).id == first.id
    assert service.resume(second.resume_code).id == second.id


def test_three_taken_codes_in_a_row_give_up_with_the_database_error(
    service: ResponseService, example: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = service.start(example.id)
    taken = resume_codes.normalise(first.resume_code)
    monkeypatch.setattr(resume_codes, "new_code", lambda: taken)
    with pytest.raises(IntegrityError):
        service.start(example.id)
    assert service.resume(first.resume_code).id == first.id
