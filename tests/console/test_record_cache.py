"""The dashboard's record cache: reused while nothing changed, read again after any start,
submitted page, exclusion or deletion (SQLite and PostgreSQL)."""

from __future__ import annotations

from vakstem.service.audit import Actor
from vakstem.service.console import RecordCache, delete_by_resume_code, exclude_response
from vakstem.service.responses import ResponseService

from .helpers import World


def test_records_are_reused_until_the_study_changes(world: World) -> None:
    cache = RecordCache()
    first = cache.records(world.engine, "alpha")
    assert cache.records(world.engine, "alpha") is first
    assert len(first) == 2

    service = ResponseService(world.engine)
    started = service.start("alpha")
    after_start = cache.records(world.engine, "alpha")
    assert len(after_start) == 3

    service.submit_page(started.id, "p1", {"org_type": 1})
    after_page = cache.records(world.engine, "alpha")
    assert after_page is not after_start
    assert next(r for r in after_page if r.id == started.id).answers["org_type"] == 1

    exclude_response(world.engine, "alpha", started.id, "test", actor=Actor.system("t"))
    assert next(r for r in cache.records(world.engine, "alpha") if r.id == started.id).excluded

    delete_by_resume_code(world.engine, "alpha", started.resume_code, actor=Actor.system("t"))
    assert len(cache.records(world.engine, "alpha")) == 2
    # Another study has its own entry.
    assert cache.records(world.engine, "beta") == []
