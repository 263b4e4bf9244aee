"""Live conditions for the respondent pages: the `relevant` expressions that read answers given
on the page itself, serialised as JSON for the page's small script (`static/vakstem.js`), which
shows and hides those items as the respondent answers.

Only what the browser cannot know is left as variables: answers from earlier pages and `today()`
are substituted as literals here, with the server's values, so the script evaluates the same
expression the service will. An expression the script could not evaluate exactly like Python
(a regular expression outside a portable subset, `.`) is left out: its item stays shown, as on
a page without JavaScript, and the service decides on submit.

Node shapes (compact arrays): `["n", number]` (a non-finite number as the string `"NaN"`,
`"Infinity"` or `"-Infinity"`), `["s", text]`, `["v", name]`, `["-", operand]`,
`["b", op, left, right]`, `["c", name, arg...]`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from markupsafe import Markup

from vakstem.instrument.expressions import (
    Binary,
    Current,
    Expr,
    Negate,
    Number,
    String,
    Var,
    compile_expression,
    evaluate,
)
from vakstem.instrument.schema import ItemType, Study
from vakstem.service.conditions import depends_on_page, page_variables
from vakstem.service.types import PageView

# Patterns that mean the same to Python's `re` and JavaScript's `RegExp(..., "u")`: printable
# ASCII, no inline groups or flags `(?`, no `{,n}` (a quantifier in Python, literal in JS), no
# nested-set syntax, and a backslash only before a character that is syntax in both.
_PORTABLE_PATTERN = re.compile(r"(?:[ -\[\]-~]|\\[\^$\\.*+?()\[\]{}|/])*")


class _NotPortable(Exception):
    """The expression cannot be evaluated in the browser exactly as in Python."""


def _portable_pattern(pattern: str) -> bool:
    if not _PORTABLE_PATTERN.fullmatch(pattern):
        return False
    if "(?" in pattern or "{," in pattern or "[[" in pattern:
        return False
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    return True


def _number(value: float) -> list[Any]:
    if math.isfinite(value):
        return ["n", value]
    if math.isnan(value):
        return ["n", "NaN"]
    return ["n", "Infinity" if value > 0 else "-Infinity"]


def _literal(value: object) -> list[Any]:
    """A value of the language (float, str or bool, as `evaluate` returns) as a node."""
    if isinstance(value, bool):
        return ["c", "true" if value else "false"]
    if isinstance(value, float):
        return _number(value)
    return ["s", str(value)]


def to_json_tree(
    expr: Expr,
    on_page: frozenset[str],
    values: Mapping[str, Any],
    today: date,
) -> list[Any]:
    """The expression as nested arrays; variables outside `on_page` become their value in
    `values` (stored answers), `today()` becomes `today`. Raises `_NotPortable`."""
    if isinstance(expr, Number):
        return _number(expr.value)
    if isinstance(expr, String):
        return ["s", expr.value]
    if isinstance(expr, Var):
        if expr.name in on_page:
            return ["v", expr.name]
        # `evaluate` of the bare variable is the stored answer as the language sees it.
        return _literal(evaluate(expr, {expr.name: values.get(expr.name)}))
    if isinstance(expr, Current):
        raise _NotPortable("'.' has no value in a condition shown live")
    if isinstance(expr, Negate):
        return ["-", to_json_tree(expr.operand, on_page, values, today)]
    if isinstance(expr, Binary):
        return [
            "b",
            expr.op,
            to_json_tree(expr.left, on_page, values, today),
            to_json_tree(expr.right, on_page, values, today),
        ]
    if expr.name == "today":
        return ["s", today.isoformat()]
    if expr.name == "regex":
        pattern = expr.args[1]
        if not isinstance(pattern, String) or not _portable_pattern(pattern.value):
            raise _NotPortable("regular expression outside the portable subset")
    return ["c", expr.name, *(to_json_tree(a, on_page, values, today) for a in expr.args)]


def _kind(study: Study, item_type: ItemType, item: Any) -> Any:
    """How the script reads a variable's form field, as the service would store it."""
    if item_type is ItemType.MULTIPLE:
        # Stored in the choice list's order, whatever order the boxes were shown in.
        return ["m", [c.code for c in study.choices_of(item)]]
    if item_type in (ItemType.SINGLE, ItemType.MATRIX, ItemType.CONSENT):
        return "c"
    if item_type is ItemType.INTEGER:
        return "i"
    if item_type is ItemType.DECIMAL:
        return "d"
    if item_type is ItemType.DATE:
        return "t"
    return "s"


def page_conditions(
    study: Study, view: PageView, values: Mapping[str, Any], today: date
) -> dict[str, Any] | None:
    """`{"items": {item_id: tree}, "vars": {variable: kind}}` for the shown items whose
    relevance reads this page's answers, or None when there are none."""
    page = view.page
    on_page = page_variables(page)
    trees: dict[str, list[Any]] = {}
    for shown in view.items:
        item = shown.item
        if item.relevant is None or not depends_on_page(item, page):
            continue
        try:
            trees[item.id] = to_json_tree(compile_expression(item.relevant), on_page, values, today)
        except _NotPortable:
            continue
    if not trees:
        return None
    kinds: dict[str, Any] = {}
    for item in page.items:
        for variable in item.variables():
            kinds[variable] = _kind(study, item.type, item)
    # Hidden items' answers count as unanswered, so the script must know which item holds which.
    owners = {item.id: list(item.variables()) for item in page.items if item.id in trees}
    return {"items": trees, "vars": kinds, "owners": owners}


def script_json(data: Mapping[str, Any] | None) -> Markup:
    """JSON safe inside `<script type="application/json">`: `<`, `>` and `&` escaped, so no
    text of a study can close the element."""
    if data is None:
        return Markup("")
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)
