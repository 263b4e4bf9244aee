"""Email about researcher accounts: the one-time link to set a new password, sent through the
deployment's SMTP server (`vakstem.service.mailer`). Without a configured server the console
shows the link to a study owner instead, to pass on."""

from __future__ import annotations

from email.message import EmailMessage

from vakstem.service.accounts import User
from vakstem.service.mailer import SmtpMailer
from vakstem.settings import Settings


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.smtp_from)


def reset_message(user: User, link: str, sender: str, hours: int) -> EmailMessage:
    """Dutch first, then English, plain text (no tracking, no remote images)."""
    message = EmailMessage()
    message["Subject"] = "Vakstem: nieuw wachtwoord instellen / set a new password"
    message["From"] = sender
    message["To"] = user.email
    message.set_content(
        f"Beste {user.name},\n\n"
        "Met deze link stelt u een nieuw wachtwoord in voor de onderzoekersconsole van Vakstem. "
        f"De link werkt één keer en is {hours} uur geldig:\n\n{link}\n\n"
        "Heeft u hier niet om gevraagd? Dan kunt u deze e-mail negeren; uw wachtwoord blijft "
        "hetzelfde.\n\n"
        "---\n\n"
        f"Dear {user.name},\n\n"
        "Use this link to set a new password for the Vakstem researcher console. It works once "
        f"and for {hours} hours:\n\n{link}\n\n"
        "Did you not ask for this? Then ignore this email; your password stays the same.\n"
    )
    return message


def send_reset(settings: Settings, user: User, link: str) -> None:
    """Send the reset link; raises `MailServerError` or `RecipientRefused` on failure."""
    sender = settings.smtp_from or ""
    with SmtpMailer(settings) as mailer:
        mailer.send(reset_message(user, link, sender, settings.password_reset_hours))
