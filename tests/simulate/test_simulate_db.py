"""`simulate` stores respondents through the respondent service, on SQLite and PostgreSQL:
what is stored equals what was drawn, statuses follow the drawn mess, times are realistic."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.settings import Settings
from vakstem.simulate import SimulationError, SimulationResult, simulate, simulate_demo
from vakstem.simulate.api import DEMO_N, DEMO_ORGANISATIONS
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.store.tables import answers, page_events, responses, studies
from vakstem.studies import __file__ as studies_init
from vakstem.studies.klantmanagers import POPULATION_FILE

from .conftest import open_klantmanagers

if TYPE_CHECKING:
    from tests.conftest import Databases

START = datetime(2026, 9, 7, tzinfo=UTC)
Z = 4.5


def stored_answers(engine: Engine) -> dict[str, dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(answers.c.response_id, answers.c.variable, answers.c.value))
        result: dict[str, dict[str, object]] = {}
        for response_id, variable, value in rows:
            result.setdefault(response_id, {})[variable] = value
    return result


def drawn_answers(result: SimulationResult, row: int) -> dict[str, object]:
    record = result.frame.iloc[row]
    return {
        k: v for k, v in record.items() if not str(k).startswith("_") and v is not None and v == v
    }


def check_stored_as_drawn(engine: Engine, result: SimulationResult) -> None:
    stored = stored_answers(engine)
    kinds = list(result.frame["_kind"])
    for row, response_id in enumerate(result.response_ids):
        expected = {} if kinds[row] == "refused" else drawn_answers(result, row)
        assert stored.get(response_id, {}) == expected, (row, kinds[row])


def test_responses_are_stored_through_the_service_as_drawn(engine: Engine) -> None:
    result = simulate(engine, "klantmanagers", n=40, seed=3, organisations=8, start=START)
    assert len(result.response_ids) == 40
    check_stored_as_drawn(engine, result)
    kinds = result.frame["_kind"].value_counts().to_dict()
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                sa.select(responses.c.status, sa.func.count()).group_by(responses.c.status)
            ).all()
        )
        tests = conn.execute(
            sa.select(sa.func.count()).where(responses.c.is_test == sa.true())
        ).scalar_one()
        refusals = conn.execute(sa.select(studies.c.refusals)).scalar_one()
    assert statuses.get("refused", 0) == kinds.get("refused", 0) == refusals
    assert statuses.get("active", 0) == kinds.get("dropout", 0)
    assert statuses.get("completed", 0) == 40 - kinds.get("refused", 0) - kinds.get("dropout", 0)
    assert tests == kinds.get("test", 0) == result.tests
    assert result.statuses == {k: v for k, v in statuses.items() if v}


def test_page_events_carry_simulated_fieldwork_times(engine: Engine) -> None:
    result = simulate(engine, "klantmanagers", n=30, seed=4, organisations=6, start=START)
    with engine.connect() as conn:
        started = conn.execute(sa.select(responses.c.started_at)).scalars().all()
        events = conn.execute(
            sa.select(
                page_events.c.response_id,
                sa.func.min(page_events.c.at),
                sa.func.max(page_events.c.at),
            ).group_by(page_events.c.response_id)
        ).all()
    end = START + timedelta(days=28)
    for at in started:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        assert START <= at < end
    # START is a Monday: weekends (days 5, 6, 12, 13, ...) get a third of a weekday's starts.
    weekend = [a for a in started if (a.replace(tzinfo=UTC) - START).days % 7 >= 5]
    assert len(weekend) < len(started) / 3
    durations = {rid: (last - first).total_seconds() for rid, first, last in events}
    kinds = dict(zip(result.response_ids, result.frame["_kind"], strict=True))
    complete = [d for rid, d in durations.items() if kinds[rid] == "normal"]
    assert complete and 300 < sorted(complete)[len(complete) // 2] < 2_400


def test_same_seed_stores_identical_answers(databases: Databases) -> None:
    stored = []
    for name in ("a", "b"):
        engine = open_klantmanagers(databases.new(name))
        result = simulate(engine, "klantmanagers", n=25, seed=9, organisations=5, start=START)
        by_id = stored_answers(engine)
        stored.append([by_id.get(rid, {}) for rid in result.response_ids])
        engine.dispose()
    assert stored[0] == stored[1]
    assert any(stored[0])


def test_bulk_mode_stores_the_same_as_one_transaction_per_page(databases: Databases) -> None:
    stored = []
    for name, bulk in (("single", False), ("bulk", True)):
        engine = open_klantmanagers(databases.new(name))
        result = simulate(
            engine,
            "klantmanagers",
            n=20,
            seed=2,
            organisations=4,
            start=START,
            bulk=bulk,
            batch_size=7,
        )
        check_stored_as_drawn(engine, result)
        by_id = stored_answers(engine)
        stored.append([by_id.get(rid, {}) for rid in result.response_ids])
        engine.dispose()
    assert stored[0] == stored[1]


@pytest.mark.slow
def test_statuses_follow_the_declared_rates_at_moderate_n(engine: Engine) -> None:
    n = 400
    result = simulate(engine, "klantmanagers", n=n, seed=21, start=START, bulk=True)
    mess = json.loads(result.truth_json())["simulation"]
    assert mess["n"] == n
    from vakstem.simulate import load_population

    rates = load_population(POPULATION_FILE).mess
    for count, p in [
        (result.statuses.get("refused", 0), rates.consent_refused),
        (result.statuses.get("active", 0), rates.dropout),
        (result.tests, rates.test_responses),
    ]:
        assert abs(count - n * p) <= Z * math.sqrt(n * p * (1 - p))
    assert result.submissions > 10 * n


def test_demo_adds_its_responses_once(engine: Engine, tmp_path: Path) -> None:
    # The demo's 500 responses from 40 organisations, scaled down: the same code path, and a
    # demo run asking for a few (VAKSTEM_DEMO_RESPONSES) is what the serve tests use.
    assert (DEMO_N, DEMO_ORGANISATIONS, Settings().demo_responses) == (500, 40, 500)
    lines = simulate_demo(engine, tmp_path, n=60)
    assert lines[0].startswith("klantmanagers: 60 responses (active ")
    assert "completed 4" in lines[0] or "completed 5" in lines[0]
    assert "60 responses from 40 organisations" in lines[-1]
    truth = json.loads((tmp_path / "simulated-klantmanagers-truth.json").read_text())
    assert truth["simulation"]["n"] == 60
    assert truth["simulation"]["organisations"] == 40
    # A second `make demo` on the same database adds nothing and prints the same counts, even
    # when it asks for the default number.
    assert simulate_demo(engine, tmp_path) == lines
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(responses)).scalar_one() == 60


def test_demo_asked_for_fewer_responses_than_organisations_or_none(engine: Engine) -> None:
    assert simulate_demo(engine, n=0) == ["klantmanagers: no simulated responses (0 asked for)"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(responses)).scalar_one() == 0
    lines = simulate_demo(engine, n=5)
    assert lines[0].startswith("klantmanagers: 5 responses")


def test_demo_leaves_a_study_with_responses_alone(engine: Engine) -> None:
    simulate(engine, "klantmanagers", n=3, seed=1, organisations=2, start=START)
    lines = simulate_demo(engine)
    assert lines == [lines[0]] and lines[0].startswith("klantmanagers: 3 responses")


def test_demo_on_a_closed_study_says_why_instead_of_failing(engine: Engine) -> None:
    set_status(engine, "klantmanagers", "closed")
    lines = simulate_demo(engine)
    assert lines == [
        "klantmanagers: no simulated responses (the service refused the simulated "
        "respondent: study 'klantmanagers' is closed)"
    ]


def test_unknown_study_and_study_without_population_are_clear_errors(engine: Engine) -> None:
    with pytest.raises(SimulationError, match="unknown study 'nope'"):
        simulate(engine, "nope", n=5, seed=1)
    example = Path(studies_init).parent / "voorbeeld" / "study.yaml"
    from vakstem.instrument.loader import load_study_file

    load_study(engine, load_study_file(example), example.read_text(encoding="utf-8"))
    with pytest.raises(SimulationError, match="has no population model"):
        simulate(engine, "voorbeeld", n=5, seed=1)
    with pytest.raises(SimulationError, match="n must be at least 1"):
        simulate(engine, "klantmanagers", n=0, seed=1)
    with pytest.raises(SimulationError, match="organisations must be at least 1"):
        simulate(engine, "klantmanagers", n=5, seed=1, organisations=0)


def test_a_closed_study_is_refused_by_the_service_not_bypassed(database_url: str) -> None:
    engine = open_database(database_url)
    from vakstem.instrument.loader import load_study_file
    from vakstem.studies.klantmanagers import STUDY_FILE

    load_study(engine, load_study_file(STUDY_FILE), STUDY_FILE.read_text(encoding="utf-8"))
    # A draft takes test responses only: the first real respondent is refused by the service.
    with pytest.raises(SimulationError, match="refused the simulated respondent"):
        simulate(engine, "klantmanagers", n=5, seed=1, start=START)
    engine.dispose()
