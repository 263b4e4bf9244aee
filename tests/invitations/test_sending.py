"""Invitations and reminders over a real SMTP server: who gets what, exactly once, and what
happens when the server refuses a recipient or stops in the middle of a batch."""

from __future__ import annotations

import hashlib
import re

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.invitations.smtp import Handler

from vakstem.service import invitations as inv
from vakstem.service.invitations import Kind
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.store.invitations import invitations

LINK = re.compile(r"https://enquete\.example\.org/s/bereik/i/([A-Za-z0-9_-]+)")


def _csv(*rows: str) -> bytes:
    return ("email,organisatie,language\n" + "\n".join(rows) + "\n").encode("utf-8")


def _token(received_text: str) -> str:
    match = LINK.search(received_text)
    assert match, received_text
    return match.group(1)


def test_invitations_arrive_in_their_language_with_text_html_and_a_working_link(
    engine: Engine, settings: Settings, handler: Handler
) -> None:
    inv.import_csv(
        engine, settings, "bereik", _csv("a@example.org,Gemeente X,nl", "b@example.org,,en")
    )
    report = inv.send(engine, settings, "bereik", Kind.INVITATION)
    assert (report.due, report.sent, report.stopped) == (2, 2, None)
    [dutch] = handler.to("a@example.org")
    [english] = handler.to("b@example.org")
    assert dutch.message["Subject"] == "Uitnodiging: Bereiksonderzoek"
    assert english.message["Subject"] == "Invitation: Reach study"
    assert "Gemeente X" in dutch.text and "/weiger" in dutch.text
    token = _token(dutch.text)
    assert token in dutch.html
    # 256 bits of HMAC, and only its SHA-256 is stored.
    assert len(token) >= 43
    with engine.connect() as conn:
        hashes = set(conn.execute(sa.select(invitations.c.token_hash)).scalars())
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert token not in hashes
    service = ResponseService(engine)
    outcome = inv.use(engine, service.start, "bereik", token)
    assert outcome.state is inv.LinkState.STARTED and outcome.response is not None
    assert outcome.response.language == "nl"
    # Sending again sends nothing: everyone has had the invitation.
    assert inv.send(engine, settings, "bereik", Kind.INVITATION).due == 0
    assert len(handler.received) == 2


def test_refused_recipient_is_recorded_and_the_batch_goes_on(
    engine: Engine, settings: Settings, handler: Handler
) -> None:
    handler.refuse = {"weg@example.org"}
    inv.import_csv(
        engine,
        settings,
        "bereik",
        _csv("a@example.org,,nl", "weg@example.org,,nl", "c@example.org,,nl"),
    )
    report = inv.send(engine, settings, "bereik", Kind.INVITATION)
    assert report.sent == 2 and report.stopped is None
    assert [email for email, _ in report.refused] == ["weg@example.org"]
    assert "550" in report.refused[0][1]
    assert inv.summary(engine, "bereik").failed == 1
    # A refused address is not tried again by the next run.
    assert inv.send(engine, settings, "bereik", Kind.INVITATION).due == 0


def test_server_stopping_mid_batch_then_resuming_sends_nobody_two_invitations(
    engine: Engine, settings: Settings, handler: Handler
) -> None:
    addresses = [f"p{i}@example.org" for i in range(6)]
    inv.import_csv(engine, settings, "bereik", _csv(*(f"{a},,nl" for a in addresses)))
    handler.accept_at_most = 2
    first = inv.send(engine, settings, "bereik", Kind.INVITATION)
    assert first.sent == 2
    assert (
        first.stopped is not None
        and "421" in first.stopped
        and "Run the command again" in first.stopped
    )
    handler.accept_at_most = None
    second = inv.send(engine, settings, "bereik", Kind.INVITATION)
    assert (second.due, second.sent, second.stopped) == (4, 4, None)
    assert sorted(r.to for r in handler.received) == sorted(addresses)


def test_server_that_is_not_there_stops_with_a_clear_message(
    engine: Engine, settings: Settings
) -> None:
    inv.import_csv(engine, settings, "bereik", _csv("a@example.org,,nl"))
    gone = settings.model_copy(update={"smtp_port": 1})
    report = inv.send(engine, gone, "bereik", Kind.INVITATION)
    assert report.sent == 0 and report.stopped is not None
    assert "cannot use the SMTP server 127.0.0.1:1" in report.stopped


def test_reminders_go_only_to_who_has_not_completed_or_declined_and_never_twice(
    engine: Engine, settings: Settings, handler: Handler
) -> None:
    people = ["klaar", "weiger", "bounce", "niets", "begonnen"]
    inv.import_csv(engine, settings, "bereik", _csv(*(f"{p}@example.org,,nl" for p in people)))
    inv.send(engine, settings, "bereik", Kind.INVITATION)
    token = {p: _token(handler.to(f"{p}@example.org")[0].text) for p in people}
    service = ResponseService(engine)
    done = inv.use(engine, service.start, "bereik", token["klaar"]).response
    assert done is not None
    assert service.submit_page(done.id, "p1", {"tevreden": 1}).state.completed
    assert inv.record_completion(engine, "bereik", done.resume_code)
    assert inv.use(engine, service.start, "bereik", token["begonnen"]).response is not None
    assert inv.decline(engine, "bereik", token["weiger"])
    assert inv.record_bounce(engine, "bereik", "bounce@example.org", "550 mailbox full")

    first = inv.send(engine, settings, "bereik", Kind.REMINDER, round_=1)
    reminded = sorted(
        r.to for r in handler.received if r.message["Subject"].startswith("Herinnering")
    )
    assert reminded == ["begonnen@example.org", "niets@example.org"]
    assert first.sent == 2
    again = inv.send(engine, settings, "bereik", Kind.REMINDER, round_=1)
    assert again.due == 0
    second = inv.send(engine, settings, "bereik", Kind.REMINDER, round_=2)
    assert second.sent == 2
    for person in ("niets", "begonnen"):
        subjects = [r.message["Subject"] for r in handler.to(f"{person}@example.org")]
        assert subjects.count("Herinnering: Bereiksonderzoek") == 2
        assert subjects.count("Uitnodiging: Bereiksonderzoek") == 1
    for person in ("klaar", "weiger", "bounce"):
        assert len(handler.to(f"{person}@example.org")) == 1
    # Round 3 before round 2 reached someone is not possible: round 3 needs round 2 first.
    assert inv.send(engine, settings, "bereik", Kind.REMINDER, round_=4).due == 0


def test_study_can_override_an_email_template(
    engine: Engine, settings: Settings, handler: Handler
) -> None:
    own = settings.data_dir / "email" / "bereik" / "nl"
    own.mkdir(parents=True)
    (own / "invitation.subject.txt").write_text("Doe mee: {{ study_title }}", encoding="utf-8")
    inv.import_csv(engine, settings, "bereik", _csv("a@example.org,,nl"))
    inv.send(engine, settings, "bereik", Kind.INVITATION)
    assert handler.received[0].message["Subject"] == "Doe mee: Bereiksonderzoek"
    # The parts not overridden come from the shipped templates.
    assert "Beste deelnemer" in handler.received[0].text
