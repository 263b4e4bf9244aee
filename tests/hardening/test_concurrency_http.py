"""Races on one response against a real `vakstem serve` with two workers: two tabs submitting
the same page with different answers, two tabs submitting different pages, a double-clicked
submit, and going back and resubmitting an earlier page while the later page is being sent.

The racing requests come from separate connections (so they may reach different worker
processes) and are released together by a barrier. Whatever order the server ends up taking
them in, the response must be in one consistent state, checked in the database itself: every
page stored at most once, its answers all from one of the submissions (never a mix), the
current page the one its answers lead to, no stale answers to hidden items; and every
respondent request, the losing one too, answered with the respondent's current page, never an
error. SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.service import conditions
from vakstem.store.tables import answers, page_events, responses

from .respondents import page_answers
from .server import STUDIES, Server, open_study

#: Each race is run this many times on fresh responses, so that different interleavings occur.
ROUNDS = 3
STUDY_FILE = STUDIES / "klantmanagers" / "study.yaml"

Answers = dict[str, Any]


def _norm(value: Any) -> Any:
    """An answer as sent in a form or stored as JSON, comparable either way."""
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return str(value)


def _form(page_id: str, csrf: str, values: Answers) -> dict[str, Any]:
    data: dict[str, Any] = {"_page": page_id, "_csrf": csrf}
    for variable, value in values.items():
        data[variable] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


def _hidden(html: str, form_index: int = 0) -> dict[str, str]:
    forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
    return dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', forms[form_index])
    )


@dataclass
class Shown:
    """A respondent page as one tab holds it: its page id and CSRF token."""

    page: str
    csrf: str


class Tab:
    """One browser tab on the response's own URL, with its own connection to the server."""

    def __init__(self, base: str, url: str) -> None:
        self.url = url
        self.client = httpx2.Client(base_url=base, timeout=120, follow_redirects=False)

    def show(self) -> Shown:
        reply = self.client.get(self.url)
        assert reply.status_code == 200, (reply.status_code, reply.text[:500])
        fields = _hidden(reply.text)
        return Shown(page=fields["_page"], csrf=fields["_csrf"])

    def submit(self, shown: Shown, values: Answers) -> httpx2.Response:
        return self.client.post(self.url, data=_form(shown.page, shown.csrf, values))

    def back(self, shown: Shown) -> httpx2.Response:
        return self.client.post(f"{self.url}/back", data={"_page": shown.page, "_csrf": shown.csrf})

    def close(self) -> None:
        self.client.close()


@dataclass
class Response:
    """A response started and advanced through the JSON API, with every answer set sent."""

    id: str
    code: str
    page: dict[str, Any]
    #: page id -> every answer set submitted for it (by any route, won or lost)
    sent: dict[str, list[Answers]] = field(default_factory=dict)
    #: page id -> the page as the API described it
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)


class Flow:
    """The respondents' side: responses started and moved on through the API, tabs opened."""

    def __init__(self, server: Server, study: str) -> None:
        self.base = server.base
        self.study = study
        self.api = httpx2.Client(base_url=server.base, timeout=120)
        self.rng = random.Random(9)

    def start(self) -> Response:
        reply = self.api.post(f"/api/v1/studies/{self.study}/responses", json={})
        assert reply.status_code == 201, reply.text
        body = reply.json()
        return Response(id=body["id"], code=body["resume_code"], page=body["page"])

    def advance_to(
        self, resp: Response, target: str, overrides: dict[str, Answers] | None = None
    ) -> None:
        """Answer pages through the API until `target` is the current page."""
        auth = {"Authorization": f"Bearer {resp.code}"}
        self.refresh(resp)
        while resp.page["id"] != target:
            page_id = resp.page["id"]
            resp.pages[page_id] = resp.page
            values = {**page_answers(resp.page, self.rng), **(overrides or {}).get(page_id, {})}
            reply = self.api.post(
                f"/api/v1/responses/{resp.id}/pages/{page_id}",
                json={"answers": values},
                headers=auth,
            )
            if reply.status_code == 422:
                continue  # a cross-item constraint: draw other answers
            assert reply.status_code == 200, reply.text
            resp.sent.setdefault(page_id, []).append(values)
            resp.page = reply.json()["page"]
            assert resp.page is not None, f"finished before reaching {target}"
        resp.pages[target] = resp.page

    def refresh(self, resp: Response) -> None:
        """Where the response is now (the tabs may have moved it on)."""
        reply = self.api.get(
            f"/api/v1/responses/{resp.id}", headers={"Authorization": f"Bearer {resp.code}"}
        )
        assert reply.status_code == 200, reply.text
        resp.page = reply.json()["page"]
        resp.pages[resp.page["id"]] = resp.page

    def page(self, resp: Response, page_id: str) -> dict[str, Any]:
        """A page as the API describes it (the one the response is on, or one it went past)."""
        if page_id not in resp.pages:
            self.refresh(resp)
        return resp.pages[page_id]

    def url(self, resp: Response) -> str:
        return f"/s/{self.study}/r/{resp.code}"

    def tab(self, resp: Response) -> Tab:
        return Tab(self.base, self.url(resp))


def race(*calls: Callable[[], httpx2.Response]) -> list[httpx2.Response]:
    """Run the calls in threads released together by a barrier; their replies in order."""
    barrier = threading.Barrier(len(calls))
    replies: list[httpx2.Response | None] = [None] * len(calls)
    problems: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            replies[index] = calls[index]()
        except BaseException as exc:  # reported below, in the test's thread
            problems.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not problems, problems
    assert all(reply is not None for reply in replies)
    return [reply for reply in replies if reply is not None]


def uniform(page: dict[str, Any], pick: int) -> Answers:
    """Every matrix row and single choice of `page` answered with the choice at `pick`, so
    two answer sets differ in every variable."""
    out: Answers = {}
    for item in page["items"]:
        codes = [c["code"] for c in item["choices"] if not c["missing"]]
        if item["type"] == "matrix":
            out.update({row["id"]: codes[pick] for row in item["rows"]})
        elif item["type"] in {"single", "scale", "likert", "dropdown"}:
            out[item["id"]] = codes[pick]
    return out


class Checker:
    """Reads a response from the database and checks that it is in one consistent state."""

    def __init__(self, database_url: str, flow: Flow) -> None:
        self.engine = sa.create_engine(database_url)
        self.flow = flow
        self.study: Study = load_study_file(STUDY_FILE)

    def stored(self, resp: Response) -> tuple[Any, dict[str, dict[str, Any]], Counter[str]]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(responses).where(responses.c.id == resp.id)).one()
            by_page: dict[str, dict[str, Any]] = {}
            for a in conn.execute(sa.select(answers).where(answers.c.response_id == resp.id)):
                by_page.setdefault(a.page_id, {})[a.variable] = a.value
            submitted = Counter(
                e.page_id
                for e in conn.execute(
                    sa.select(page_events.c.page_id).where(
                        page_events.c.response_id == resp.id, page_events.c.event == "submitted"
                    )
                )
            )
        return row, by_page, submitted

    def consistent(self, resp: Response, what: str) -> tuple[Any, dict[str, dict[str, Any]]]:
        row, by_page, _ = self.stored(resp)
        path = list(row.path)
        assert row.status == "active", (what, row.status)
        assert len(path) == len(set(path)), (what, path)
        # Answers only of pages the respondent went through (or is back on).
        assert set(by_page) <= {*path, row.current_page}, (what, set(by_page), path)
        for page_id, stored in by_page.items():
            got = {v: _norm(x) for v, x in stored.items()}
            candidates = [
                {v: _norm(x) for v, x in sent.items() if v in got}
                for sent in resp.sent.get(page_id, [])
            ]
            # All of one submission: never a mix of two inside one page.
            assert got in candidates, (what, page_id, got, candidates)
        values = {v: x for stored in by_page.values() for v, x in stored.items()}
        today = date.today()
        _visible, cleaned = conditions.clean_answers(self.study, values, today)
        assert cleaned == values, (what, "answers to hidden items kept", values, cleaned)
        following = conditions.next_page(
            self.study, conditions.page_index(self.study, path[-1]), values, today
        )
        assert following is not None
        assert row.current_page == self.study.pages[following].id, (what, path, row.current_page)
        return row, by_page

    def dispose(self) -> None:
        self.engine.dispose()


def _lands_on_current_page(tab: Tab, reply: httpx2.Response, current: str, what: str) -> None:
    """The reply to a racing submit, winner or loser, shows the page the respondent is really
    on (never an error page): the winner gets the next page as the answer to its POST, a
    submit that lost is sent back to the response's own URL, which shows it."""
    if reply.status_code == 200:
        assert _hidden(reply.text)["_page"] == current, what
        return
    assert reply.status_code == 303, (what, reply.status_code, reply.text[:500])
    assert reply.headers["location"] == tab.url, what
    assert tab.show().page == current, what


def _one_winner(replies: Sequence[httpx2.Response], what: str) -> None:
    """Of two racing submits of one page exactly one was stored and answered with the next page."""
    assert sorted(r.status_code for r in replies) == [200, 303], (what, replies)


def two_tabs_same_page(flow: Flow, check: Checker, resp: Response) -> tuple[Tab, Shown]:
    """Two tabs on "kennis" send it at once with different answers; the first tab (still
    holding "kennis") is returned for the next race."""
    assert resp.page["id"] == "kennis"
    first, second = flow.tab(resp), flow.tab(resp)
    a, b = uniform(resp.page, 0), uniform(resp.page, -1)
    resp.sent["kennis"] = [a, b]
    shown_first, shown_second = first.show(), second.show()
    replies = race(lambda: first.submit(shown_first, a), lambda: second.submit(shown_second, b))
    row, _ = check.consistent(resp, "same page")
    assert row.current_page == "delen" and list(row.path)[-1] == "kennis"
    assert check.stored(resp)[2]["kennis"] == 1, "the page was stored twice"
    _one_winner(replies, "same page")
    for tab, reply in zip((first, second), replies, strict=True):
        _lands_on_current_page(tab, reply, "delen", "same page")
    second.close()
    return first, shown_first


def two_tabs_different_pages(
    flow: Flow, check: Checker, resp: Response, old: Tab, shown_old: Shown
) -> None:
    """A tab left behind on "kennis" sends it again while another tab sends "delen"."""
    _, before, _ = check.stored(resp)
    new = flow.tab(resp)
    shown_new = new.show()
    assert shown_new.page == "delen"
    stale, fresh = uniform(resp.pages["kennis"], 0), uniform(flow.page(resp, "delen"), -1)
    resp.sent["kennis"].append(stale)
    resp.sent["delen"] = [fresh]
    replies = race(lambda: old.submit(shown_old, stale), lambda: new.submit(shown_new, fresh))
    row, by_page = check.consistent(resp, "different pages")
    # The page that was no longer current changed nothing; the current one was stored.
    assert row.current_page == "klant", row.current_page
    assert by_page["kennis"] == before["kennis"], "a stale page overwrote stored answers"
    assert {v: _norm(x) for v, x in by_page["delen"].items()} == {
        v: _norm(x) for v, x in fresh.items()
    }
    submitted = check.stored(resp)[2]
    assert submitted["kennis"] == 1 and submitted["delen"] == 1, submitted
    for tab, reply in zip((old, new), replies, strict=True):
        _lands_on_current_page(tab, reply, "klant", "different pages")
        tab.close()


def one_form_token_from_every_worker(flow: Flow, resp: Response) -> None:
    """A page's form token is the same whichever worker shows it (a form shown by one worker
    and sent to another must be accepted), also without a configured secret key."""
    tabs = [flow.tab(resp) for _ in range(6)]  # fresh connections: spread over the workers
    tokens = {tab.show().csrf for tab in tabs}
    for tab in tabs:
        tab.close()
    assert len(tokens) == 1, tokens


def double_submit(flow: Flow, check: Checker, resp: Response) -> None:
    """The form of "klant" sent twice at the same moment (a double click; each copy on its own
    connection, as a browser may do)."""
    first, second = flow.tab(resp), flow.tab(resp)
    shown = first.show()
    assert shown.page == "klant"
    second.show()  # opens the second connection before the race
    values = uniform(flow.page(resp, "klant"), 0)
    resp.sent["klant"] = [values]
    replies = race(lambda: first.submit(shown, values), lambda: second.submit(shown, values))
    row, _ = check.consistent(resp, "double submit")
    assert row.current_page == "verantwoorden", row.current_page
    assert check.stored(resp)[2]["klant"] == 1, "a double click stored the page twice"
    _one_winner(replies, "double submit")
    for tab, reply in zip((first, second), replies, strict=True):
        _lands_on_current_page(tab, reply, "verantwoorden", "double submit")
        tab.close()


def back_and_resubmit(flow: Flow, check: Checker, resp: Response) -> str:
    """On "prestatieafspraken" (shown because pa_1 = 1 on "gesprekken"): one tab goes back and
    resubmits "gesprekken" with pa_1 = 0, which skips "prestatieafspraken", while another tab's
    submit of "prestatieafspraken" is in flight."""
    flow.advance_to(resp, "gesprekken")
    gesprekken = resp.page
    yes, no = _yes_no(gesprekken, "pa_1")
    going_back = flow.tab(resp)
    on_gesprekken = going_back.show()  # the form the respondent will send again
    flow.advance_to(resp, "prestatieafspraken", overrides={"gesprekken": yes})
    forward = flow.tab(resp)
    shown = forward.show()
    shown_back = going_back.show()
    assert shown.page == shown_back.page == "prestatieafspraken"
    again = {**uniform(gesprekken, -1), **no}
    pa = uniform(resp.page, 0)
    resp.sent["gesprekken"].append(again)
    resp.sent["prestatieafspraken"] = [pa]

    def back_then_resubmit() -> httpx2.Response:
        back = going_back.back(shown_back)
        assert back.status_code == 303, (back.status_code, back.text[:500])
        return going_back.submit(on_gesprekken, again)

    replies = race(back_then_resubmit, lambda: forward.submit(shown, pa))
    row, by_page = check.consistent(resp, "back and resubmit")
    assert row.current_page == "beslisruimte", row.current_page
    resubmitted = {v: _norm(x) for v, x in by_page["gesprekken"].items()} == {
        v: _norm(x) for v, x in again.items() if v in by_page["gesprekken"]
    }
    if resubmitted:
        # Went back first: the later page's submit was stale, and its page is now skipped.
        assert "prestatieafspraken" not in by_page and "prestatieafspraken" not in row.path
        winner = "back and resubmit"
    else:
        winner = "later page"
        # The later page won: going back was stale, so the old "gesprekken" form was too.
        assert {v: _norm(x) for v, x in by_page["prestatieafspraken"].items()} == {
            v: _norm(x) for v, x in pa.items()
        }
    for tab, reply in zip((going_back, forward), replies, strict=True):
        _lands_on_current_page(tab, reply, "beslisruimte", "back and resubmit")
        tab.close()
    return winner


def _yes_no(page: dict[str, Any], item_id: str) -> tuple[Answers, Answers]:
    """Answers yes (1) and no (0) to a yes/no item of `page`."""
    item = next(i for i in page["items"] if i["id"] == item_id)
    assert {0, 1} <= {c["code"] for c in item["choices"]}, item
    return {item_id: 1}, {item_id: 0}


def test_racing_submits_of_one_response_end_in_one_consistent_state(
    database_url: str, tmp_path: Path
) -> None:
    study = open_study(database_url)
    server = Server(database_url, tmp_path, workers=2)
    server.start()
    flow = Flow(server, study)
    check = Checker(database_url, flow)
    winners: Counter[str] = Counter()
    try:
        server.wait_for_workers()
        for _ in range(ROUNDS):
            # One response through every race, in the order of its pages.
            resp = flow.start()
            flow.advance_to(resp, "kennis")
            old, shown_old = two_tabs_same_page(flow, check, resp)
            two_tabs_different_pages(flow, check, resp, old, shown_old)
            one_form_token_from_every_worker(flow, resp)
            double_submit(flow, check, resp)
            winners[back_and_resubmit(flow, check, resp)] += 1
    finally:
        check.dispose()
        flow.api.close()
        server.stop()
    assert "Traceback" not in server.log.read_text(errors="replace")
    print(f"\nback-and-resubmit race ({database_url.split(':')[0]}), won by: {dict(winners)}")
