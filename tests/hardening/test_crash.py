"""Crash safety: 50 respondents fill in the klantmanager study against a real `vakstem serve`,
the server is killed with SIGKILL mid-run and restarted, the respondents resume with their
resume codes, and the database must hold every acknowledged page exactly once and nothing
half-written. Runs on SQLite (WAL, synchronous=FULL) and on PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

from vakstem.store.tables import answers, page_events, responses

from .respondents import page_answers
from .server import Server, open_study

RESPONDENTS = 50
#: Kill the server once this many pages have been acknowledged (of roughly 50 x 16).
KILL_AFTER_ACKS = 250
GIVE_UP_SECONDS = 240.0


@dataclass
class Respondent:
    number: int
    id: str = ""
    code: str = ""
    #: Pages the server acknowledged (a 200), in order, with the answers sent.
    acked: list[str] = field(default_factory=list)
    #: Pages sent whose 200 was lost in the crash but which the server had stored.
    committed_unacked: list[str] = field(default_factory=list)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    completed: bool = False
    resyncs: int = 0
    problem: str | None = None


class Run:
    def __init__(self, base: str, study: str) -> None:
        self.base = base
        self.study = study
        self.lock = threading.Lock()
        self.acks = 0
        self.kill_wanted = threading.Event()
        #: Set: respondents stop after their current page (the backup test needs no more).
        self.stop = threading.Event()

    def ack(self) -> None:
        with self.lock:
            self.acks += 1
            if self.acks >= KILL_AFTER_ACKS:
                self.kill_wanted.set()

    def call(self, client: httpx2.Client, method: str, url: str, **kw: Any) -> httpx2.Response:
        """Retry connection failures (the server is down) until it is back."""
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while True:
            try:
                return client.request(method, self.base + url, **kw)
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def respond(self, who: Respondent) -> None:
        rng = random.Random(who.number)
        try:
            with httpx2.Client(timeout=60) as client:
                started = self.call(
                    client, "POST", f"/api/v1/studies/{self.study}/responses", json={}
                )
                assert started.status_code == 201, started.text
                body = started.json()
                who.id, who.code = body["id"], body["resume_code"]
                auth = {"Authorization": f"Bearer {who.code}"}
                page = body["page"]
                while page is not None and not self.stop.is_set():
                    answers_ = page_answers(page, rng)
                    who.sent[page["id"]] = answers_
                    try:
                        reply = client.post(
                            f"{self.base}/api/v1/responses/{who.id}/pages/{page['id']}",
                            json={"answers": answers_},
                            headers=auth,
                        )
                    except httpx2.TransportError:
                        # Lost in the crash: ask the restarted server where we are.
                        who.resyncs += 1
                        state = self.call(
                            client, "GET", f"/api/v1/responses/{who.id}", headers=auth
                        )
                        assert state.status_code == 200, state.text
                        now = state.json()
                        if now["completed"] or now["page"]["id"] != page["id"]:
                            who.committed_unacked.append(page["id"])
                        page = now["page"]
                        continue
                    if reply.status_code == 422:
                        continue  # a cross-item constraint: draw other answers
                    assert reply.status_code == 200, reply.text
                    who.acked.append(page["id"])
                    self.ack()
                    page = reply.json()["page"]
                who.completed = page is None
        except Exception as exc:  # reported per respondent below
            who.problem = f"{type(exc).__name__}: {exc}"


def _check_database(url: str, people: list[Respondent]) -> dict[str, int]:
    engine = sa.create_engine(url)
    found = twice = 0
    try:
        with engine.connect() as conn:
            for who in people:
                row = conn.execute(sa.select(responses).where(responses.c.id == who.id)).one()
                assert row.status == "completed" and row.current_page is None, who.id
                committed = [p for p in row.path]
                # Stored exactly once, in the order the respondent went.
                assert len(committed) == len(set(committed)), (who.id, committed)
                ours = sorted(who.acked + who.committed_unacked, key=committed.index)
                assert set(who.acked) <= set(committed), (who.id, who.acked, committed)
                assert ours == committed, (who.id, ours, committed)
                found += sum(1 for p in who.acked if p in committed)
                events = Counter(
                    e.page_id
                    for e in conn.execute(
                        sa.select(page_events.c.page_id).where(
                            page_events.c.response_id == who.id,
                            page_events.c.event == "submitted",
                        )
                    )
                )
                twice += sum(1 for n in events.values() if n > 1)
                assert set(events) == set(committed), (who.id, events, committed)
                stored = {
                    a.variable: (a.page_id, a.value)
                    for a in conn.execute(sa.select(answers).where(answers.c.response_id == who.id))
                }
                expected = {
                    variable: (page, value)
                    for page in committed
                    for variable, value in who.sent[page].items()
                }
                # No half-written page: every stored answer is one we sent for a stored page,
                # and every stored page has answers (the service drops answers to items that
                # the page's conditions hide, so a page may keep fewer than were sent).
                for variable, got in stored.items():
                    assert expected.get(variable) == got, (who.id, variable, got)
                for page in committed:
                    on_page = {v for v, (p, _) in stored.items() if p == page}
                    assert on_page or not who.sent[page], (who.id, page)
                    assert on_page <= set(who.sent[page]), (who.id, page)
    finally:
        engine.dispose()
    assert twice == 0
    return {"pages_found": found}


def test_no_acknowledged_page_is_lost_when_the_server_is_killed(
    database_url: str, tmp_path: Path
) -> None:
    study = open_study(database_url)
    server = Server(database_url, tmp_path)
    server.start()
    run = Run(server.base, study)
    people = [Respondent(n) for n in range(RESPONDENTS)]
    threads = [threading.Thread(target=run.respond, args=(who,)) for who in people]
    try:
        for thread in threads:
            thread.start()
        assert run.kill_wanted.wait(GIVE_UP_SECONDS), "the respondents never got going"
        server.kill()
        acked_at_kill = run.acks
        server.start()
        for thread in threads:
            thread.join(GIVE_UP_SECONDS)
    finally:
        server.stop()
    problems = [f"{who.number}: {who.problem}" for who in people if who.problem]
    assert not problems, problems
    assert all(who.completed for who in people)
    figures = _check_database(database_url, people)
    acked = sum(len(who.acked) for who in people)
    figures.update(
        respondents=RESPONDENTS,
        pages_acknowledged=acked,
        acknowledged_before_kill=acked_at_kill,
        lost_replies_but_stored=sum(len(who.committed_unacked) for who in people),
        respondents_resumed=sum(1 for who in people if who.resyncs),
    )
    backend = database_url.split(":", 1)[0]
    print(f"\ncrash test ({backend}): {figures}")
    assert figures["pages_found"] == acked
    # The kill must really have hit respondents mid-questionnaire.
    assert acked_at_kill < acked
