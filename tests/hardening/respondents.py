"""Simulated respondents for the hardening tests: valid answers built from the pages the JSON
API returns, so the tests need no knowledge of a study beyond what a client sees."""

from __future__ import annotations

import random
from typing import Any

#: Text answers carry markup on purpose: every surface must show it escaped.
HOSTILE_TEXT = "<script>alert(1)</script><b>vet</b> =1+1"


def page_answers(
    page: dict[str, Any], rng: random.Random, text: str = "Een antwoord"
) -> dict[str, Any]:
    """Valid answers to every item of `page` (a `PageOut` as JSON)."""
    out: dict[str, Any] = {}
    for item in page["items"]:
        kind = item["type"]
        codes = [c["code"] for c in item["choices"] if not c["missing"]] or [
            c["code"] for c in item["choices"]
        ]
        if kind in {"note", "display"}:
            continue
        if kind == "matrix":
            for row in item["rows"]:
                out[row["id"]] = rng.choice(codes)
        elif kind in {"single", "dropdown", "scale", "likert"}:
            out[item["id"]] = rng.choice(codes)
        elif kind in {"multiple", "multi"}:
            out[item["id"]] = sorted(rng.sample(codes, k=min(2, len(codes))))
        elif kind == "consent":
            out[item["id"]] = 1
        elif kind in {"number", "integer"}:
            low = item["min"] if item["min"] is not None else 0
            high = item["max"] if item["max"] is not None else low + 40
            out[item["id"]] = int(rng.randint(int(low), int(min(high, low + 40))))
        elif kind == "date":
            out[item["id"]] = f"20{rng.randint(10, 23)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
        else:
            limit = item["max_length"] or 200
            out[item["id"]] = text[:limit]
    return out
