"""The condition language of study files: XLSForm/XPath syntax, parsed by a lark LALR grammar into
a small typed AST, and evaluated in Python (never `eval`).

Used for `relevant`, `required` and `constraint`. Values follow XLSForm's conventions:

* An unanswered item is the *empty value* `''`: it equals `''`, has `string-length` 0 and
  `count-selected` 0; as a number it is NaN, so `${q} > 3` and `${q} < 3` are both false and
  arithmetic with it gives NaN (which again compares false with everything, `!=` excepted).
* Choice codes, integers and decimals are numbers; `${q} = 2` and `${q} = '2'` are both true for
  code 2, because XPath compares a number with a string as numbers.
* A multiple-choice answer is the space-separated list of its codes (`'1 3'`), as in XLSForm;
  `selected(${q}, 2)` and `selected(${q}, '2')` compare codes as strings.
* A date is its ISO string `YYYY-MM-DD`; as a number it is the count of days since 1970-01-01
  (as in ODK), so `. <= today()` and `today() - ${d} > 365` work.
* Division or `mod` by zero gives NaN (not Infinity), an invalid regular expression is false:
  evaluation never raises on any answer values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lark import Lark, Token, Transformer
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

if TYPE_CHECKING:
    from vakstem.service.types import AnswerValue

__all__ = [
    "FUNCTIONS",
    "Binary",
    "Call",
    "Current",
    "Expr",
    "ExpressionError",
    "Negate",
    "Number",
    "String",
    "Var",
    "compile_expression",
    "evaluate",
    "is_true",
    "parse",
    "reference_nodes",
    "references",
    "uses_current",
]

#: Deeper expressions are refused at parse time, so evaluation's recursion stays well inside
#: Python's stack; no sensible condition comes near this.
MAX_DEPTH = 100

VARIABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ExpressionError(Exception):
    """An expression that cannot be parsed. `position` is the 0-based column (None when the
    problem is not at one place); the message shows it 1-based, as editors do."""

    def __init__(self, message: str, expression: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.position = position

    def __str__(self) -> str:
        return self.message


# --- the AST ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class String:
    value: str


@dataclass(frozen=True)
class Var:
    """`${name}`; `position` is where it starts in the source (not part of equality)."""

    name: str
    position: int = field(default=-1, compare=False)


@dataclass(frozen=True)
class Current:
    """`.`: the value of the item a constraint belongs to."""


@dataclass(frozen=True)
class Negate:
    operand: Expr


@dataclass(frozen=True)
class Binary:
    """`op` is one of `or and = != < <= > >= + - * div mod`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]


Expr = Number | String | Var | Current | Negate | Binary | Call
_EXPR_TYPES = (Number, String, Var, Current, Negate, Binary, Call)

# --- the grammar ------------------------------------------------------------------------------

# Precedence as in XPath 1.0, lowest first: or, and, (= !=), (< <= > >=), (+ -), (* div mod),
# unary minus. Function names may contain '-' (count-selected); a name is only a function name
# when '(' follows, and the contextual lexer keeps `and`/`or`/`div`/`mod` apart from names
# because it only tries the terminals the parser can accept at that point.
_GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr OR and_expr          -> binary
?and_expr: eq_expr
        | and_expr AND eq_expr         -> binary
?eq_expr: rel_expr
        | eq_expr EQ_OP rel_expr       -> binary
?rel_expr: add_expr
        | rel_expr REL_OP add_expr     -> binary
?add_expr: mul_expr
        | add_expr PLUS mul_expr       -> binary
        | add_expr MINUS mul_expr      -> binary
?mul_expr: unary
        | mul_expr MUL_OP unary        -> binary
?unary: primary
      | MINUS unary                    -> negate
?primary: NUMBER                       -> number
        | STRING                       -> string
        | VAR                          -> var
        | DOT                          -> current
        | FUNC "(" [arguments] ")"     -> call
        | "(" or_expr ")"
arguments: or_expr ("," or_expr)*

OR: "or"
AND: "and"
EQ_OP: "!=" | "="
REL_OP: "<=" | ">=" | "<" | ">"
PLUS: "+"
MINUS: "-"
MUL_OP: "*" | "div" | "mod"
NUMBER: /[0-9]+(\.[0-9]*)?|\.[0-9]+/
STRING: /'[^']*'|"[^"]*"/
VAR: /\$\{[^}]*\}/
DOT: "."
FUNC: /[A-Za-z_][A-Za-z0-9_.-]*(?=\s*\()/

%ignore /\s+/
"""


@dataclass(frozen=True)
class _Function:
    min_args: int
    max_args: int | None
    describe: str


#: Functions of the language: name -> accepted argument counts (None: any number).
FUNCTIONS: dict[str, _Function] = {
    "selected": _Function(2, 2, "selected(${q}, 'code')"),
    "count-selected": _Function(1, 1, "count-selected(${q})"),
    "string-length": _Function(1, 1, "string-length(value)"),
    "if": _Function(3, 3, "if(condition, then, else)"),
    "regex": _Function(2, 2, "regex(value, 'pattern')"),
    "not": _Function(1, 1, "not(condition)"),
    "number": _Function(1, 1, "number(value)"),
    "string": _Function(1, 1, "string(value)"),
    "boolean": _Function(1, 1, "boolean(value)"),
    "int": _Function(1, 1, "int(number)"),
    "round": _Function(1, 2, "round(number[, digits])"),
    "concat": _Function(1, None, "concat(a, b, ...)"),
    "coalesce": _Function(2, 2, "coalesce(a, b)"),
    "today": _Function(0, 0, "today()"),
    "true": _Function(0, 0, "true()"),
    "false": _Function(0, 0, "false()"),
}


class _SemanticError(Exception):
    def __init__(self, message: str, position: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _column(position: int | None) -> str:
    return "" if position is None else f" at column {position + 1}"


class _ToAst(Transformer[Token, Expr]):
    """Builds our AST while the LALR parser reduces (no parse tree, no recursion)."""

    def number(self, children: list[Token]) -> Expr:
        return Number(float(children[0]))

    def string(self, children: list[Token]) -> Expr:
        return String(str(children[0])[1:-1])

    def var(self, children: list[Token]) -> Expr:
        token = children[0]
        name = str(token)[2:-1]
        if not VARIABLE_NAME.fullmatch(name):
            raise _SemanticError(
                f"invalid variable name {name!r} in ${{...}}{_column(token.start_pos)}: "
                "names are lowercase letters, digits and _, starting with a letter",
                token.start_pos,
            )
        return Var(name, token.start_pos if token.start_pos is not None else -1)

    def current(self, children: list[Token]) -> Expr:
        return Current()

    def negate(self, children: list[Any]) -> Expr:
        operand: Expr = children[1]
        if isinstance(operand, Number):
            return Number(-operand.value)
        return Negate(operand)

    def binary(self, children: list[Any]) -> Expr:
        left, op, right = children
        return Binary(str(op), left, right)

    def arguments(self, children: list[Any]) -> tuple[Expr, ...]:
        return tuple(children)

    def call(self, children: list[Any]) -> Expr:
        token: Token = children[0]
        args: tuple[Expr, ...] = children[1] or ()
        name = str(token)
        spec = FUNCTIONS.get(name)
        if spec is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise _SemanticError(
                f"unknown function {name!r}{_column(token.start_pos)} (known: {known})",
                token.start_pos,
            )
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            if spec.max_args == spec.min_args:
                wanted = f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
            elif spec.max_args is None:
                wanted = f"at least {spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
            else:
                wanted = f"{spec.min_args} to {spec.max_args} arguments"
            raise _SemanticError(
                f"{name}() takes {wanted}, got {len(args)}{_column(token.start_pos)}: "
                f"write {spec.describe}",
                token.start_pos,
            )
        return Call(name, args)


_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="contextual", transformer=_ToAst())


_KEYWORDS = frozenset({"and", "or", "div", "mod", "not"})


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of expression"
    return repr(str(token))


def _depth(expr: Expr) -> int:
    """Nesting depth, computed without recursion so any tree can be measured."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        for child in _children(node):
            stack.append((child, level + 1))
    return deepest


def _children(node: Expr) -> Sequence[Expr]:
    if isinstance(node, Negate):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def parse(source: str) -> Expr:
    """Parse an expression; raises only `ExpressionError`, whose message names the column."""
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text", repr(source), None)
    if not source.strip():
        raise ExpressionError("empty expression", source, None)
    try:
        parsed: object = _PARSER.parse(source)
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream
        char = source[pos] if pos is not None and 0 <= pos < len(source) else ""
        if source.startswith("${", pos or 0):
            message = f"unclosed '${{'{_column(pos)}: write ${{name}}"
        elif char == "'" or char == '"':
            message = f"unclosed string{_column(pos)}: a quote {char} has no closing {char}"
        elif char.isalpha():
            word = re.match(r"[A-Za-z0-9_-]+", source[pos or 0 :])
            name = word[0] if word else char
            if name.lower() in _KEYWORDS:
                message = f"unexpected {name!r}{_column(pos)}: write {name.lower()!r} in lowercase"
            else:
                message = (
                    f"unexpected name {name!r}{_column(pos)}: write ${{{name}}} for an item's "
                    f"value, or '{name}' for text"
                )
        else:
            message = f"unexpected character {char!r}{_column(pos)}"
        raise ExpressionError(message, source, pos) from None
    except UnexpectedEOF:
        raise ExpressionError("unexpected end of expression", source, len(source)) from None
    except UnexpectedToken as exc:
        token: Token = exc.token
        if token.type == "$END":
            raise ExpressionError("unexpected end of expression", source, len(source)) from None
        pos = token.start_pos
        raise ExpressionError(
            f"unexpected {_describe_token(token)}{_column(pos)}", source, pos
        ) from None
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, _SemanticError):
            raise ExpressionError(inner.message, source, inner.position) from None
        raise ExpressionError(f"cannot read expression: {inner}", source, None) from None
    except _SemanticError as exc:
        raise ExpressionError(exc.message, source, exc.position) from None
    except UnexpectedInput as exc:
        pos = getattr(exc, "pos_in_stream", None)
        raise ExpressionError(f"cannot read expression{_column(pos)}", source, pos) from None
    except (LarkError, RecursionError) as exc:
        raise ExpressionError(f"cannot read expression: {exc}", source, None) from None
    if not isinstance(parsed, _EXPR_TYPES):
        raise ExpressionError("cannot read expression", source, None)
    expr: Expr = parsed
    if _depth(expr) > MAX_DEPTH:
        raise ExpressionError(
            f"expression is nested too deeply (more than {MAX_DEPTH} levels)", source, None
        )
    return expr


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Expr:
    """`parse`, cached: conditions are evaluated on every page view."""
    return parse(source)


def _walk(expr: Expr) -> list[Expr]:
    nodes: list[Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(_children(node))
    return nodes


def references(expr: Expr) -> frozenset[str]:
    """The variable names `${...}` an expression reads."""
    return frozenset(node.name for node in _walk(expr) if isinstance(node, Var))


def reference_nodes(expr: Expr) -> list[Var]:
    """Every `${...}` node with its source position, in source order (for located errors)."""
    found = [node for node in _walk(expr) if isinstance(node, Var)]
    return sorted(found, key=lambda v: v.position)


def uses_current(expr: Expr) -> bool:
    """Whether the expression reads `.` (only allowed in constraints)."""
    return any(isinstance(node, Current) for node in _walk(expr))


# --- evaluation -------------------------------------------------------------------------------

#: Internal values: XPath's number (float), string and boolean.
_Value = float | str | bool

_NAN = float("nan")
_EPOCH = date(1970, 1, 1)
_XPATH_NUMBER = re.compile(r"\s*-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*")
_ISO_DATE = re.compile(r"\s*([0-9]{4})-([0-9]{2})-([0-9]{2})\s*")


def _from_answer(value: object) -> _Value:
    """An answer as stored (see `AnswerValue`) -> the language's value; never raises."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        codes: list[str] = []
        for code in value:
            converted = _from_answer(code)
            text = _to_string(converted)
            if text:
                codes.append(text)
        return " ".join(codes)
    return ""


def _to_number(value: _Value) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if _XPATH_NUMBER.fullmatch(value):
        return float(value)
    match = _ISO_DATE.fullmatch(value)
    if match:
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return _NAN
        return float((day - _EPOCH).days)
    return _NAN


def _to_string(value: _Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value):
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _to_bool(value: _Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    return value != ""


def is_true(value: object) -> bool:
    """Whether a result of `evaluate` (or an answer value) counts as true in a condition."""
    return _to_bool(_from_answer(value))


def _equal(left: _Value, right: _Value) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return _to_bool(left) == _to_bool(right)
    if isinstance(left, float) or isinstance(right, float):
        return _to_number(left) == _to_number(right)
    return left == right


def _compare(op: str, left: _Value, right: _Value) -> bool:
    if op == "=":
        return _equal(left, right)
    if op == "!=":
        if isinstance(left, bool) or isinstance(right, bool):
            return _to_bool(left) != _to_bool(right)
        return not _equal(left, right)
    a, b = _to_number(left), _to_number(right)
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _arithmetic(op: str, left: _Value, right: _Value) -> float:
    a, b = _to_number(left), _to_number(right)
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0 or math.isnan(b):
            return _NAN
        if op == "div":
            return a / b
        return math.fmod(a, b)
    except (ArithmeticError, ValueError):
        return _NAN


def _round(number: float, digits: float) -> float:
    if math.isnan(number) or math.isinf(number) or math.isnan(digits):
        return number if not math.isnan(digits) else _NAN
    places = int(max(-20.0, min(20.0, digits)))
    scale = 10.0**places
    try:
        # XPath rounds half up (towards positive infinity), unlike Python's banker's rounding.
        return math.floor(number * scale + 0.5) / scale
    except (ArithmeticError, ValueError):
        return _NAN


def _regex(value: str, pattern: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except (re.error, RecursionError, OverflowError, ValueError, MemoryError):
        return False


class _Evaluator:
    def __init__(self, values: Mapping[str, object], current: object, today: date) -> None:
        self.values = values
        self.current = current
        self.today = today

    def run(self, node: Expr) -> _Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Var):
            try:
                raw = self.values.get(node.name)
            except Exception:
                raw = None
            return _from_answer(raw)
        if isinstance(node, Current):
            return _from_answer(self.current)
        if isinstance(node, Negate):
            return -_to_number(self.run(node.operand))
        if isinstance(node, Binary):
            return self._binary(node)
        return self._call(node)

    def _binary(self, node: Binary) -> _Value:
        op = node.op
        if op == "or":
            return _to_bool(self.run(node.left)) or _to_bool(self.run(node.right))
        if op == "and":
            return _to_bool(self.run(node.left)) and _to_bool(self.run(node.right))
        left, right = self.run(node.left), self.run(node.right)
        if op in ("=", "!=", "<", "<=", ">", ">="):
            return _compare(op, left, right)
        return _arithmetic(op, left, right)

    def _call(self, node: Call) -> _Value:
        name, args = node.name, node.args
        if name == "if":
            chosen = args[1] if _to_bool(self.run(args[0])) else args[2]
            return self.run(chosen)
        if name == "coalesce":
            first = self.run(args[0])
            return first if _to_string(first) not in ("", "NaN") else self.run(args[1])
        values = [self.run(arg) for arg in args]
        handler = _FUNCTIONS_IMPL[name]
        return handler(values, self)


def _selected(v: list[_Value], _e: _Evaluator) -> _Value:
    return _to_string(v[1]).strip() in _to_string(v[0]).split()


def _int(v: list[_Value], _e: _Evaluator) -> _Value:
    number = _to_number(v[0])
    if math.isnan(number) or math.isinf(number):
        return number
    return float(math.trunc(number))


_FUNCTIONS_IMPL: dict[str, Callable[[list[_Value], _Evaluator], _Value]] = {
    "selected": _selected,
    "count-selected": lambda v, _e: float(len(_to_string(v[0]).split())),
    "string-length": lambda v, _e: float(len(_to_string(v[0]))),
    "regex": lambda v, _e: _regex(_to_string(v[0]), _to_string(v[1])),
    "not": lambda v, _e: not _to_bool(v[0]),
    "number": lambda v, _e: _to_number(v[0]),
    "string": lambda v, _e: _to_string(v[0]),
    "boolean": lambda v, _e: _to_bool(v[0]),
    "int": _int,
    "round": lambda v, _e: _round(_to_number(v[0]), _to_number(v[1]) if len(v) > 1 else 0.0),
    "concat": lambda v, _e: "".join(_to_string(x) for x in v),
    "today": lambda _v, e: e.today.isoformat(),
    "true": lambda _v, _e: True,
    "false": lambda _v, _e: False,
}


def evaluate(
    expr: Expr,
    values: Mapping[str, AnswerValue],
    current: AnswerValue = None,
    *,
    today: date | None = None,
) -> object:
    """Evaluate `expr` over the answers so far (`values`, by variable id; a missing id is
    unanswered) with `current` as `.`. Returns a float, str or bool; use `is_true` for a
    condition. Never raises on any answer values. `today` fixes `today()` (tests)."""
    evaluator = _Evaluator(values, current, today or date.today())
    try:
        return evaluator.run(expr)
    except RecursionError:
        # Only reachable for hand-built trees deeper than `parse` allows.
        return _NAN
