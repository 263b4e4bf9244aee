"""Anonymity by design, proved over the real migrated schema: no chain of foreign keys, no
column and no stored value leads from an invitee's email address to a response or its answers.

The only tables both sides refer to are the study-level ones (`studies`, `instrument_versions`),
whose rows every respondent of the study shares; a path through them names a study, not a
person, so they are left out of the search.
"""

from __future__ import annotations

import re
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.invitations.smtp import Handler
from tests.invitations.test_sending import _csv, _token

from vakstem.service import invitations as inv
from vakstem.service.invitations import Kind
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings

CONTACT_TABLES = {"invitations"}
ANSWER_TABLES = {"responses", "answers", "page_events"}
SHARED_BY_ALL = {"studies", "instrument_versions"}
LINKING_NAMES = re.compile(r"invit|token|email|claim|contact|organisatie|response", re.I)


def _fk_graph(engine: Engine) -> dict[str, set[str]]:
    inspector = sa.inspect(engine)
    graph: dict[str, set[str]] = defaultdict(set)
    for table in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(table):
            graph[table].add(fk["referred_table"])
            graph[fk["referred_table"]].add(table)
    return graph


def _reachable(graph: dict[str, set[str]], start: set[str], skip: set[str]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in graph[todo.pop()] - skip:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_foreign_key_chain_joins_contacts_to_answers(engine: Engine) -> None:
    graph = _fk_graph(engine)
    inspector = sa.inspect(engine)
    with_email = {
        t
        for t in inspector.get_table_names()
        for c in inspector.get_columns(t)
        if c["name"] == "email"
    }
    # Researcher accounts also have an email column; respondents' addresses live only here.
    assert with_email - {"users"} == CONTACT_TABLES
    assert "responses" in graph and "invitations" in graph  # the search sees both tables
    assert _reachable(graph, CONTACT_TABLES, SHARED_BY_ALL).isdisjoint(ANSWER_TABLES)
    assert _reachable(graph, ANSWER_TABLES, SHARED_BY_ALL).isdisjoint(CONTACT_TABLES)


def test_no_column_on_either_side_names_the_other(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    for table in ANSWER_TABLES:
        names = [c["name"] for c in inspector.get_columns(table)]
        assert not [n for n in names if LINKING_NAMES.search(n) and n != "response_id"], names
    invitation_columns = {c["name"]: c for c in inspector.get_columns("invitations")}
    assert not [n for n in invitation_columns if "response" in n or "resume" in n]
    # No moment of use or completion: only the import and the expiry (both fixed per batch).
    moments = {n for n, c in invitation_columns.items() if isinstance(c["type"], sa.DateTime)}
    assert moments == {"imported_at", "expires_at"}


def _values(engine: Engine, tables: set[str]) -> set[str]:
    found: set[str] = set()
    with engine.connect() as conn:
        for table in tables:
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).all():
                found.update(str(v) for v in row if v is not None)
    return found


def test_after_a_fieldwork_run_no_stored_value_links_an_invitee_to_a_response(
    engine: Engine, settings: Settings, handler: Handler
) -> None:
    people = ["klaar", "bezig", "niets"]
    inv.import_csv(
        engine, settings, "bereik", _csv(*(f"{p}@example.org,Gemeente X,nl" for p in people))
    )
    inv.send(engine, settings, "bereik", Kind.INVITATION)
    service = ResponseService(engine)
    finished = inv.use(
        engine, service.start, "bereik", _token(handler.to("klaar@example.org")[0].text)
    )
    running = inv.use(
        engine, service.start, "bereik", _token(handler.to("bezig@example.org")[0].text)
    )
    assert finished.response is not None and running.response is not None
    service.submit_page(finished.response.id, "p1", {"tevreden": 1})
    assert inv.record_completion(engine, "bereik", finished.response.resume_code)

    with engine.connect() as conn:
        rows = {r.email: r for r in conn.execute(sa.text("SELECT * FROM invitations")).all()}
    # Flags only: who completed is known (for reminders), not which response was theirs.
    assert (rows["klaar@example.org"].completed, rows["klaar@example.org"].claim_hash) == (
        True,
        None,
    )
    # The running response's bridge is a slow hash that matches no column on the other side.
    assert rows["bezig@example.org"].claim_hash is not None

    answer_side = _values(engine, ANSWER_TABLES)
    shared = {"bereik", "nl", "1", "0", "True", "False", "uitnodiging"}
    for row in rows.values():
        for value in row:
            if value is None or str(value) in shared or isinstance(value, (bool, int)):
                continue
            assert str(value) not in answer_side, value
    for response in (finished.response, running.response):
        assert response.id not in _values(engine, CONTACT_TABLES)
    # The bridge of the running response can be computed only from its resume code, which the
    # database does not hold (it keeps another hash of it).
    bridge = inv.claim_hash("bereik", running.response.resume_code)
    assert rows["bezig@example.org"].claim_hash == bridge
    assert bridge not in answer_side
