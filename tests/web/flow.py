"""A respondent filling in the example study through the HTML pages, as a browser without
JavaScript would: read the form's hidden fields, post the answers, follow the redirect."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from vakstem.store.tables import answers, responses

from .html import Page

#: Answers that take the example study through every page (pa_3 >= 4 makes pa_aantal required,
#: uren > 36 shows uren_toelichting on the last page).
FULL_RUN: list[tuple[str, dict[str, Any]]] = [
    ("welkom", {"toestemming": "1"}),
    (
        "achtergrond",
        {
            "functie": "6",
            "functie_anders": "Schuldhulp",
            "provincie": "7",
            "ervaring": "12",
            "uren": "38,5",
            "in_dienst": "2015-03-01",
        },
    ),
    (
        "werk",
        {
            "overleg": ["1", "2"],
            "overleg_keer": "3",
            "br_1": "4",
            "br_2": "5",
            "br_3": "2",
            "br_4": "9",
            "afspraken": "1",
        },
    ),
    ("afspraken_detail", {"pa_1": "3", "pa_2": "4", "pa_3": "5", "pa_aantal": "20"}),
    ("tot_slot", {"uren_toelichting": "Veel overwerk.", "behoefte": "Tijd.\r\nEn rust."}),
]


def hidden_fields(html: str, form_index: int = 0) -> dict[str, str]:
    forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', forms[form_index])
    return dict(fields)


class Respondent:
    def __init__(self, client: TestClient, study: str = "voorbeeld") -> None:
        self.client = client
        self.study = study
        self.url = ""  # the response's own URL once it exists
        self.sizes: dict[str, int] = {}

    def open(self, query: str = "") -> httpx2.Response:
        response = self.client.get(f"/s/{self.study}{query}")
        assert response.status_code == 200, response.text
        self.last = response
        return response

    @property
    def page(self) -> Page:
        return Page(self.last.text)

    @property
    def page_id(self) -> str:
        return hidden_fields(self.last.text)["_page"]

    def submit(self, values: dict[str, Any], **extra: str) -> httpx2.Response:
        """Post the current page with `values` (plus its hidden fields); follow a redirect."""
        fields: dict[str, Any] = {**hidden_fields(self.last.text), **extra, **values}
        action = re.search(r'<form method="post" action="([^"]+)" id="answers"', self.last.text)
        assert action, "no answer form on this page"
        response = self.client.post(action.group(1), data=fields, follow_redirects=False)
        if response.status_code == 303:
            location = response.headers["location"]
            if "/r/" in location:
                self.url = location.split("?")[0]
            response = self.client.get(location)
        self.last = response
        self.sizes[self.title()] = len(response.content)
        return response

    def back(self) -> httpx2.Response:
        fields = hidden_fields(self.last.text, form_index=1)
        response = self.client.post(f"{self.url}/back", data=fields, follow_redirects=True)
        self.last = response
        return response

    def reload(self) -> httpx2.Response:
        self.last = self.client.get(self.url)
        return self.last

    def title(self) -> str:
        match = re.search(r"<h1>(.*?)</h1>", self.last.text)
        return match.group(1) if match else ""

    @property
    def code(self) -> str:
        return self.url.rsplit("/", 1)[1]


def stored_answers(engine: Engine) -> list[tuple[str, str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.response_id, answers.c.variable, answers.c.value)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def response_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(responses)).all())
