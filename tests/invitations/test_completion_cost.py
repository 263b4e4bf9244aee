"""The closing page records an invited completion; the slow claim hash that takes is computed
only when the study has an invited response running, not for every anonymous completion."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.invitations.smtp import Handler
from tests.invitations.test_sending import _csv, _token

from vakstem.service import invitations as inv
from vakstem.service.invitations import Kind
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings


def _no_hash(*_args: object) -> str:
    raise AssertionError("the slow claim hash was computed")


def test_anonymous_completion_without_invitations_computes_no_claim_hash(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = ResponseService(engine)
    state = service.start("bereik")
    assert service.submit_page(state.id, "p1", {"tevreden": 1}).state.completed
    monkeypatch.setattr(inv, "claim_hash", _no_hash)

    assert inv.record_completion(engine, "bereik", state.resume_code) is False


def test_invited_completion_is_recorded_while_anonymous_ones_complete_too(
    engine: Engine, settings: Settings, handler: Handler
) -> None:
    inv.import_csv(engine, settings, "bereik", _csv("genodigd@example.org,Gemeente X,nl"))
    inv.send(engine, settings, "bereik", Kind.INVITATION)
    service = ResponseService(engine)
    invited = inv.use(
        engine, service.start, "bereik", _token(handler.to("genodigd@example.org")[0].text)
    ).response
    anonymous = service.start("bereik")
    assert invited is not None
    for state in (anonymous, invited):
        service.submit_page(state.id, "p1", {"tevreden": 1})

    # The anonymous code matches no claim: nothing changes for the running invitation.
    assert inv.record_completion(engine, "bereik", anonymous.resume_code) is False
    assert inv.record_completion(engine, "bereik", invited.resume_code) is True
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT completed, claim_hash FROM invitations")).one()
    assert (bool(row.completed), row.claim_hash) == (True, None)
