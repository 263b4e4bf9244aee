"""Password reset links by email through a real SMTP server (aiosmtpd on a free port): an owner
sends one to a member, a researcher asks for one on the "forgot" page; the page never says
whether an address has an account, and a mailbox cannot be flooded."""

from __future__ import annotations

import email
import re
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from vakstem.settings import Settings
from vakstem.web.app import create_app

from .helpers import World, anon_csrf, login

LINK = re.compile(r"http://testserver(/console/reset/[\w-]+)")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(parsed, EmailMessage)
        for to in envelope.rcpt_tos:
            self.messages.append((to, parsed))
        return "250 Message accepted"

    def link_for(self, address: str) -> str:
        (message,) = [m for to, m in self.messages if to == address]
        body = message.get_body(("plain",))
        assert body is not None
        match = LINK.search(str(body.get_content()))
        assert match is not None
        return match.group(1)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def mail_client(world: World, inbox: tuple[Inbox, int]) -> Iterator[TestClient]:
    settings = Settings(
        secret_key="k", smtp_host="127.0.0.1", smtp_port=inbox[1], smtp_from="vakstem@example.org"
    )
    with TestClient(create_app(settings, world.engine), follow_redirects=False) as client:
        yield client


def test_owner_sends_a_member_the_reset_link_by_email(
    mail_client: TestClient, world: World, inbox: tuple[Inbox, int]
) -> None:
    csrf = login(mail_client, "owner@example.org")
    viewer = world.users["viewer"]
    page = mail_client.post(
        f"/console/studies/alpha/members/{viewer.id}/reset", data={"csrf": csrf}
    )
    assert page.status_code == 200
    # Sent, not shown: the owner does not get to see another person's reset link.
    assert "/console/reset/" not in page.text
    path = inbox[0].link_for(viewer.email)
    with TestClient(mail_client.app, follow_redirects=False) as other:
        token = anon_csrf(other, path)
        done = other.post(
            path, data={"csrf": token, "password": "new viewer pw", "password2": "new viewer pw"}
        )
        assert done.status_code == 303
        login(other, viewer.email, "new viewer pw")


def test_forgot_page_sends_a_link_and_answers_the_same_for_unknown_addresses(
    mail_client: TestClient, world: World, inbox: tuple[Inbox, int]
) -> None:
    token = anon_csrf(mail_client, "/console/forgot")
    known = mail_client.post(
        "/console/forgot", data={"csrf": token, "email": "Researcher@example.org"}
    )
    unknown = mail_client.post(
        "/console/forgot", data={"csrf": token, "email": "nobody@example.org"}
    )
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(token, "") == unknown.text.replace(token, "")
    assert [to for to, _ in inbox[0].messages] == ["researcher@example.org"]
    # Asking again straight away sends nothing more.
    mail_client.post("/console/forgot", data={"csrf": token, "email": "researcher@example.org"})
    assert len(inbox[0].messages) == 1
    assert inbox[0].link_for("researcher@example.org").startswith("/console/reset/")
    missing = mail_client.post("/console/forgot", data={"email": "researcher@example.org"})
    assert missing.status_code == 403


def test_without_a_mail_server_the_forgot_page_points_to_an_owner(client: TestClient) -> None:
    page = client.get("/console/forgot")
    assert page.status_code == 200 and "ledenpagina" in page.text
    assert 'name="email"' not in page.text
