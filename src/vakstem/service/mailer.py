"""Sending email over SMTP (`smtplib`): one connection per batch, throttled to a number of
messages per second, and errors sorted into what stops a batch and what concerns one recipient.

A recipient the server refuses (`RecipientRefused`) is recorded and the batch goes on; a server
that refuses the connection, the login or the sender, or that goes away (`MailServerError`),
stops the batch: the caller has committed every message accepted so far and can run again.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from types import TracebackType

from vakstem.settings import Settings


class MailServerError(Exception):
    """The SMTP server cannot be used any more in this batch (message says why)."""


class RecipientRefused(Exception):
    """The server refused this one recipient (e.g. 550 no such user)."""


class SmtpMailer:
    """A throttled SMTP session; use as a context manager around one batch."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        if not settings.smtp_host:
            raise MailServerError("no SMTP server configured: set VAKSTEM_SMTP_HOST (and _PORT)")
        if not settings.smtp_from:
            raise MailServerError("no sender configured: set VAKSTEM_SMTP_FROM")
        self.settings = settings
        self.sender = settings.smtp_from
        self._interval = 1.0 / settings.smtp_rate
        self._sleep = sleep
        self._timeout = timeout
        self._last: float | None = None
        self._smtp: smtplib.SMTP | None = None

    def _where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def __enter__(self) -> SmtpMailer:
        host, port = self.settings.smtp_host or "", self.settings.smtp_port
        try:
            smtp = smtplib.SMTP(host, port, timeout=self._timeout)
            if self.settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.settings.smtp_user:
                smtp.login(self.settings.smtp_user, self.settings.smtp_password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise MailServerError(
                f"the SMTP server {self._where()} refused the login: {_text(exc)}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailServerError(
                f"cannot use the SMTP server {self._where()}: {_text(exc)}"
            ) from None
        self._smtp = smtp
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def _throttle(self) -> None:
        now = time.monotonic()
        if self._last is not None:
            wait = self._interval - (now - self._last)
            if wait > 0:
                self._sleep(wait)
        self._last = time.monotonic()

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; returns once the server accepted it."""
        if self._smtp is None:
            raise MailServerError("the SMTP connection is not open")
        self._throttle()
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            reasons = "; ".join(f"{code} {_decode(text)}" for code, text in exc.recipients.values())
            self._reset()
            raise RecipientRefused(reasons) from None
        except smtplib.SMTPServerDisconnected as exc:
            self._smtp = None
            raise MailServerError(
                f"the SMTP server {self._where()} closed the connection: {_text(exc)}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600 and isinstance(exc, smtplib.SMTPDataError):
                # The message itself was refused for this recipient (e.g. policy); go on.
                self._reset()
                raise RecipientRefused(f"{exc.smtp_code} {_decode(exc.smtp_error)}") from None
            raise MailServerError(
                f"the SMTP server {self._where()} refused: {exc.smtp_code} "
                f"{_decode(exc.smtp_error)}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._smtp = None
            raise MailServerError(
                f"the SMTP server {self._where()} went away: {_text(exc)}"
            ) from None

    def _reset(self) -> None:
        # After a refused transaction the session must be reset before the next MAIL FROM.
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._smtp = None


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _text(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_decode(exc.smtp_error)}"
    return str(exc) or type(exc).__name__
