"""The mirror's first scoring of every completed response happens when the server starts, not
on the first closing page after it; closing pages that arrive together score the responses
once between them, not once each; and a closing page that would wait long for the scoring says
the comparison is on its way instead (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.feedback.factories import complete

import vakstem.feedback.mirror as mirror_module
from vakstem.feedback.mirror import MirrorService
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.store.studies import set_status
from vakstem.web import feedback_routes
from vakstem.web.app import _run_warmups, create_app

STUDY = "klantmanagers"
TABLE = 'class="mirror-table"'
PREPARING = "Je vergelijking met andere klantmanagers wordt nu klaargezet"


def _completes(engine: Engine, n: int, seed: int) -> list[str]:
    service, rng = ResponseService(engine), random.Random(seed)
    return [complete(service, rng, organisatie=363)[1] for _ in range(n)]


def _counting_load_scores(monkeypatch: pytest.MonkeyPatch, pause: float = 0.0) -> list[int]:
    calls: list[int] = []
    original = mirror_module.load_scores

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        time.sleep(pause)  # long enough for the other closing pages to arrive meanwhile
        return original(*args, **kwargs)

    monkeypatch.setattr(mirror_module, "load_scores", counted)
    return calls


def _start_and_stop(engine: Engine, tmp_path: Path) -> None:
    """A server's start (its start-up work done) and stop, with no request in between."""
    app = create_app(Settings(data_dir=tmp_path, secret_key="test-secret"), engine)
    with TestClient(app):
        app.state.warm_up.join(60)


def test_the_first_closing_page_after_a_start_shows_figures_made_at_start_up(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = _completes(engine, 30, seed=11)
    calls = _counting_load_scores(monkeypatch)
    app = create_app(Settings(data_dir=tmp_path, secret_key="test-secret"), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.warm_up.join(60)
        assert not app.state.warm_up.is_alive()
        assert len(calls) == 1  # the start-up scored every completed response once
        page = client.get(f"/s/{STUDY}/r/{codes[0]}")
        assert page.status_code == 200
        assert TABLE in page.text and "30 klantmanagers" in page.text
        assert len(calls) == 1  # and the closing page scored nothing again


def test_a_server_without_completed_responses_scores_nothing_at_start_up(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_load_scores(monkeypatch)
    _start_and_stop(engine, tmp_path)
    assert calls == []


def test_a_closed_study_is_not_scored_at_start_up(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _completes(engine, 30, seed=12)
    set_status(engine, STUDY, "closed")
    calls = _counting_load_scores(monkeypatch)
    _start_and_stop(engine, tmp_path)
    assert calls == []


def test_closing_pages_that_arrive_together_score_the_responses_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _completes(engine, 30, seed=13)
    calls = _counting_load_scores(monkeypatch, pause=0.3)
    mirrors = MirrorService(engine)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(mirrors.aggregates(STUDY))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert results[0].available and results[0].n.true_size == 30
    assert len(calls) == 1


def test_a_withdrawal_after_the_start_up_still_counts_at_once(
    engine: Engine, tmp_path: Path
) -> None:
    codes = _completes(engine, 30, seed=14)
    app = create_app(Settings(data_dir=tmp_path, secret_key="test-secret"), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.warm_up.join(60)
        ResponseService(engine).withdraw(codes[0])
        page = client.get(f"/s/{STUDY}/r/{codes[1]}")
        assert page.status_code == 200
        assert TABLE not in page.text  # 29 left: below the threshold again


def test_stopping_skips_the_start_up_work_not_yet_begun_and_a_failure_does_not_stop_the_rest() -> (
    None
):
    ran: list[str] = []

    def fails(_stop: threading.Event) -> None:
        raise RuntimeError("database unreachable")

    def records(_stop: threading.Event) -> None:
        ran.append("second")

    _run_warmups([fails, records], threading.Event())
    assert ran == ["second"]

    stopped = threading.Event()
    stopped.set()
    _run_warmups([records], stopped)
    assert ran == ["second"]


def test_a_closing_page_says_the_comparison_is_on_its_way_while_the_scoring_takes_long(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = _completes(engine, 30, seed=15)
    release = threading.Event()
    original = mirror_module.load_scores

    def slow(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return original(*args, **kwargs)

    monkeypatch.setattr(mirror_module, "load_scores", slow)
    monkeypatch.setattr(feedback_routes, "MIRROR_WAIT_S", 0.2)
    app = create_app(Settings(data_dir=tmp_path, secret_key="test-secret"), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        # Without the bounded wait the page would hang until this timer, then show the table.
        timer = threading.Timer(5.0, release.set)
        timer.start()
        try:
            page = client.get(f"/s/{STUDY}/r/{codes[0]}")
        finally:
            release.set()
            timer.cancel()
        assert page.status_code == 200
        assert PREPARING in page.text and TABLE not in page.text
        assert f"/s/{STUDY}/r/{codes[0]}/spiegel" in page.text
        app.state.warm_up.join(60)
        later = client.get(f"/s/{STUDY}/r/{codes[0]}/spiegel")
        assert later.status_code == 200 and TABLE in later.text


def test_the_mirror_is_waited_for_when_it_comes_in_time(engine: Engine) -> None:
    _completes(engine, 30, seed=16)
    mirrors = MirrorService(engine)
    figures = mirrors.aggregates_within(STUDY, 60)
    assert figures is not None and figures.available and figures.n.true_size == 30
    assert mirrors.aggregates_within(STUDY, 0) is figures  # cached: no wait at all
