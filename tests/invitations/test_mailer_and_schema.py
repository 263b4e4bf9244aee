"""The mailer's throttle and error sorting against a real SMTP server, and the migrations'
single head (a second head would leave one branch's tables out of every database)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from tests.invitations.smtp import Handler

from vakstem.service.mailer import MailServerError, RecipientRefused, SmtpMailer
from vakstem.settings import Settings
from vakstem.store.engine import _alembic_config


def _message(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "onderzoek@example.org"
    message["To"] = to
    message["Subject"] = "Test"
    message.set_content("Hallo")
    return message


def test_mailer_waits_between_messages_to_keep_the_rate(
    settings: Settings, handler: Handler
) -> None:
    waits: list[float] = []
    slow = settings.model_copy(update={"smtp_rate": 2.0})
    with SmtpMailer(slow, sleep=waits.append) as mailer:
        for i in range(4):
            mailer.send(_message(f"p{i}@example.org"))
    assert len(handler.received) == 4
    # No wait before the first message; before each next one, up to half a second.
    assert len(waits) == 3 and all(0 < w <= 0.5 for w in waits)


def test_refused_recipient_does_not_end_the_session(settings: Settings, handler: Handler) -> None:
    handler.refuse = {"weg@example.org"}
    with SmtpMailer(settings) as mailer:
        with pytest.raises(RecipientRefused, match="550"):
            mailer.send(_message("weg@example.org"))
        mailer.send(_message("wel@example.org"))
    assert [r.to for r in handler.received] == ["wel@example.org"]


def test_missing_settings_are_clear_errors(settings: Settings) -> None:
    with pytest.raises(MailServerError, match="VAKSTEM_SMTP_HOST"):
        SmtpMailer(settings.model_copy(update={"smtp_host": None}))
    with pytest.raises(MailServerError, match="VAKSTEM_SMTP_FROM"):
        SmtpMailer(settings.model_copy(update={"smtp_from": None}))


def test_migrations_have_exactly_one_head() -> None:
    config: Config = _alembic_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
