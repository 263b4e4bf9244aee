"""Reading a response is one statement: the response row with its study's fieldwork columns,
whether the study has answer quotas, and its answers as one JSON object built by the database.
Every kind of stored answer must come back exactly as a row-per-answer read gives it, on both
databases (SQLite prints REALs with 15 digits, so those are read again)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.conftest import open_study
from service.factories import every_type_item, item, page, study
from vakstem.instrument.schema import ItemType
from vakstem.service.types import StudyClosed
from vakstem.store.studies import set_status
from vakstem.store.tables import answers

TRICKY = 'komma, "quote", \x1f eenheid ] [1,2] {"a": 1} café \\ 😀'
FORM_TEXT = 'a, "q" ] [1 {é} \\ 😀'


def _stored(engine: Engine, response_id: str) -> dict[str, Any]:
    """The answers as SQLAlchemy reads them row by row: the reference."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.variable, answers.c.value).where(
                answers.c.response_id == response_id
            )
        )
        return {row.variable: row.value for row in rows}


def test_every_kind_of_answer_reads_back_exactly(engine: Engine) -> None:
    kinds = [k for k in ItemType if k not in (ItemType.NOTE, ItemType.CONSENT)]
    first = page("alles", *(every_type_item(k) for k in kinds))
    service = open_study(engine, study(first, page("eind", item("slot", "text"))))
    state = service.start("proef")
    given = {
        "keuze": 3,
        "meer": [1, 4, 8],
        "m_1": 2,
        "m_2": 9,
        "getal": 12,
        "uren": 0.30000000000000004,
        "naam": "Zoë",
        "verhaal": FORM_TEXT,
        "datum": "2026-11-27",
    }
    result = service.submit_page(state.id, "alles", given)
    assert result.ok, result.errors
    after = service.state(state.id)
    assert after.page is not None and after.page.page.id == "eind"
    assert after.answers == _stored(engine, state.id)
    assert after.answers["uren"] == 0.30000000000000004
    assert after.answers["meer"] == [1, 4, 8]
    assert after.answers["verhaal"] == FORM_TEXT

    # Values written by other means (an import, a correction): a decimal with all 17 digits,
    # a whole-number decimal, text with every separator the statement uses, and an empty list.
    with engine.begin() as conn:
        for variable, value in [
            ("uren", 38.123456789012344),
            ("getal", 7.0),
            ("naam", TRICKY),
            ("meer", []),
        ]:
            conn.execute(
                answers.update()
                .where((answers.c.response_id == state.id) & (answers.c.variable == variable))
                .values(value=value)
            )
    reread = service.state(state.id).answers
    assert reread == _stored(engine, state.id)
    assert reread["uren"] == 38.123456789012344 and reread["naam"] == TRICKY
    assert reread["meer"] == []


def test_a_response_without_answers_reads_as_empty(engine: Engine) -> None:
    service = open_study(engine, study(page("een", item("naam", "text"))))
    state = service.start("proef")
    assert service.state(state.id).answers == {} == _stored(engine, state.id)


def test_fieldwork_read_with_the_response_still_refuses_a_closed_study(engine: Engine) -> None:
    service = open_study(engine, study(page("een", item("naam", "text")), page("twee")))
    state = service.start("proef")
    set_status(engine, "proef", "closed")
    try:
        service.submit_page(state.id, "een", {"naam": "Jan"})
    except StudyClosed:
        pass
    else:
        raise AssertionError("a page was stored in a closed study")
    assert _stored(engine, state.id) == {}
