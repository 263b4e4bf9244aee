"""Choice-order randomisation is drawn per response, recorded and reused; two submits of one
page at the same moment (two tabs, a double click) give one consistent state."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.test_service_flow import ACHTERGROND, WERK, ok, page_id, stored_answers, to_page
from vakstem.service import conditions
from vakstem.service.responses import ResponseService
from vakstem.service.types import ResponseState, StalePage, SubmitResult
from vakstem.store.tables import answers, page_events, responses


def recorded_orders(engine: Engine, response_id: str) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(responses.c.orders).where(responses.c.id == response_id)
            ).scalar_one()
        )


def shown(state: ResponseState, item_id: str) -> Any:
    assert state.page is not None
    return next(s for s in state.page.items if s.item.id == item_id)


def test_choice_order_is_recorded_at_first_showing_and_reused(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "achtergrond")
    orders = recorded_orders(engine, state.id)
    functie = [c.code for c in shown(state, "functie").choices]
    assert orders == {"functie": functie}
    assert sorted(functie) == [1, 2, 3, 4, 5, 6]
    # Reading again, resuming, or coming back after a later page gives the same order.
    assert [c.code for c in shown(service.state(state.id), "functie").choices] == functie
    state = ok(service.submit_page(state.id, "achtergrond", ACHTERGROND))
    rows = [r.id for r in shown(state, "br").rows]
    assert recorded_orders(engine, state.id)["br"] == rows
    assert sorted(rows) == ["br_1", "br_2", "br_3", "br_4"]
    state = service.back(state.id)
    assert [c.code for c in shown(state, "functie").choices] == functie
    assert recorded_orders(engine, state.id) == {"functie": functie, "br": rows}


def test_order_is_reproducible_from_the_seed_and_item(
    service: ResponseService, engine: Engine
) -> None:
    state = to_page(service, "achtergrond")
    with engine.connect() as conn:
        seed = conn.execute(
            sa.select(responses.c.seed).where(responses.c.id == state.id)
        ).scalar_one()
    item = shown(state, "functie").item
    expected = conditions.draw_order(seed, item, conditions.order_keys(state.study, item))
    assert [c.code for c in shown(state, "functie").choices] == expected


def test_orders_differ_between_responses(service: ResponseService) -> None:
    seen = {
        tuple(c.code for c in shown(to_page(service, "achtergrond"), "functie").choices)
        for _ in range(8)
    }
    # Eight draws of 720 orders all equal would mean no randomisation (chance 720**-7).
    assert len(seen) > 1


def test_missing_choices_stay_last_when_shuffled(service: ResponseService) -> None:
    state = to_page(service, "werk")
    # The matrix shuffles rows; its scale keeps its order with "weet ik niet" last.
    assert [c.code for c in shown(state, "br").choices] == [1, 2, 3, 4, 5, 9]


def _race(service: ResponseService, response_id: str, bodies: list[dict[str, Any]]) -> list[Any]:
    barrier = threading.Barrier(len(bodies))
    outcomes: list[Any] = [None] * len(bodies)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = service.submit_page(response_id, "achtergrond", bodies[i])
        except Exception as exc:  # recorded and checked below
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("attempt", range(3))
def test_two_tabs_submitting_one_page_at_once_give_one_consistent_state(
    service: ResponseService, engine: Engine, attempt: int
) -> None:
    state = to_page(service, "achtergrond")
    bodies = [{**ACHTERGROND, "ervaring": 5}, {**ACHTERGROND, "ervaring": 30}]
    outcomes = _race(service, state.id, bodies)
    accepted = [o for o in outcomes if isinstance(o, SubmitResult)]
    stale = [o for o in outcomes if isinstance(o, StalePage)]
    assert len(accepted) == 1 and len(stale) == 1, outcomes
    winner = bodies[outcomes.index(accepted[0])]
    assert stored_answers(engine, state.id) == {"toestemming": 1, **winner}
    with engine.connect() as conn:
        row = conn.execute(sa.select(responses).where(responses.c.id == state.id)).one()
        submitted = conn.execute(
            sa.select(sa.func.count()).where(
                page_events.c.response_id == state.id,
                page_events.c.page_id == "achtergrond",
                page_events.c.event == "submitted",
            )
        ).scalar_one()
        answer_rows = conn.execute(
            sa.select(sa.func.count()).where(answers.c.response_id == state.id)
        ).scalar_one()
    assert row.current_page == "werk" and row.path == ["welkom", "achtergrond"]
    assert submitted == 1 and answer_rows == 1 + len(winner)
    assert page_id(service.state(state.id)) == "werk"
    assert ok(service.submit_page(state.id, "werk", WERK))
