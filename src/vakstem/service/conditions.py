"""Conditions over a response's answers: which pages and items are relevant, which stored answers
have gone stale, which page comes next, and what the current page shows.

Kept apart from the service so the rules are plain functions of (study, answers) that the
simulator and tests can call without a database.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import date

from vakstem.instrument.expressions import compile_expression, evaluate, is_true, references
from vakstem.instrument.schema import Choice, Item, MatrixRow, Page, Study
from vakstem.service.types import AnswerValue


def holds(expression: str | None, values: Mapping[str, AnswerValue], today: date) -> bool:
    """Whether a condition is true; an absent condition always holds."""
    if expression is None:
        return True
    return is_true(evaluate(compile_expression(expression), values, today=today))


def is_required(item: Item, values: Mapping[str, AnswerValue], today: date) -> bool:
    if isinstance(item.required, bool):
        return item.required
    return holds(item.required, values, today)


def clean_answers(
    study: Study, values: Mapping[str, AnswerValue], today: date
) -> tuple[frozenset[str], dict[str, AnswerValue]]:
    """The relevant item ids and the answers that stay once hidden items' answers are removed.

    Removing an answer can hide further items (a condition on a condition), so this repeats
    until nothing changes; answers only ever disappear, so it ends.
    """
    kept = dict(values)
    while True:
        visible: set[str] = set()
        stale: list[str] = []
        for page in study.pages:
            page_on = holds(page.relevant, kept, today)
            for item in page.items:
                if page_on and holds(item.relevant, kept, today):
                    visible.add(item.id)
                else:
                    stale.extend(v for v in item.variables() if v in kept)
        if not stale:
            return frozenset(visible), kept
        for variable in stale:
            del kept[variable]


def page_variables(page: Page) -> frozenset[str]:
    return frozenset(v for item in page.items for v in item.variables())


def depends_on_page(item: Item, page: Page) -> bool:
    """Whether the item's relevance reads an answer given on its own page (so the page must show
    it, hidden or not, until that answer is known: live in a browser, on submit without one)."""
    if item.relevant is None:
        return False
    return bool(references(compile_expression(item.relevant)) & page_variables(page))


def shown_items(page: Page, values: Mapping[str, AnswerValue], today: date) -> list[Item]:
    """The items the page shows: all except those hidden by answers given on earlier pages."""
    if not holds(page.relevant, values, today):
        return []
    return [
        item
        for item in page.items
        if depends_on_page(item, page) or holds(item.relevant, values, today)
    ]


def next_page(
    study: Study, after: int, values: Mapping[str, AnswerValue], today: date
) -> int | None:
    """Index of the first page after position `after` that is relevant and shows something."""
    for index in range(after + 1, len(study.pages)):
        if shown_items(study.pages[index], values, today):
            return index
    return None


def page_index(study: Study, page_id: str) -> int:
    for index, page in enumerate(study.pages):
        if page.id == page_id:
            return index
    raise KeyError(page_id)


def draw_order(seed: int, item: Item, keys: Sequence[str | int]) -> list[str | int]:
    """A shuffled order of `keys` drawn from the response's seed and the item id, so it is the
    same on every showing and independent of the other items."""
    order = list(keys)
    random.Random(f"{seed}:{item.id}").shuffle(order)
    return order


def order_keys(study: Study, item: Item) -> list[str | int]:
    """What randomisation shuffles: matrix rows, or the substantive choices. Choices marked
    missing (*weet ik niet*) stay last, where respondents look for them."""
    if item.rows:
        return [row.id for row in item.rows]
    return [c.code for c in study.choices_of(item) if not c.missing]


def new_orders(
    study: Study, page: Page, seed: int, recorded: Mapping[str, list[str | int]]
) -> dict[str, list[str | int]]:
    """Orders for the randomised items of `page` that have none recorded yet."""
    drawn: dict[str, list[str | int]] = {}
    for item in page.items:
        if item.randomize and item.id not in recorded:
            drawn[item.id] = draw_order(seed, item, order_keys(study, item))
    return drawn


def ordered_choices(
    study: Study, item: Item, order: Sequence[str | int] | None
) -> tuple[Choice, ...]:
    choices = study.choices_of(item)
    if not item.randomize or item.rows or order is None:
        return choices
    by_code = {c.code: c for c in choices}
    shuffled = [by_code[k] for k in order if isinstance(k, int) and k in by_code]
    rest = [c for c in choices if c not in shuffled]
    return (*shuffled, *rest)


def ordered_rows(item: Item, order: Sequence[str | int] | None) -> tuple[MatrixRow, ...]:
    if not item.randomize or order is None:
        return item.rows
    by_id = {r.id: r for r in item.rows}
    shuffled = [by_id[k] for k in order if isinstance(k, str) and k in by_id]
    rest = [r for r in item.rows if r not in shuffled]
    return (*shuffled, *rest)
