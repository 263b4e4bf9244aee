"""Parser for lavaan model syntax: `=~`, `~`, `~~`, `~ 1`, premultiplied fixed values, labels and
`NA`, per-group `c(...)` modifiers, and defined parameters `name := expression`.

The parser only reads the text; what a statement means (which parameters it creates) is decided in
`partable`. Errors are `ModelSyntaxError`s pointing at line and column, as lavaan does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vakstem.analysis.sem.errors import ModelSyntaxError

MODEL_OPERATORS = ("=~", "~~", "~", ":=", "==")
# Operators lavaan knows that this engine does not implement yet: named so the error is clear.
UNSUPPORTED_OPERATORS = ("<", ">", "<~", "|", "~*~", "%")

ModValue = float | str | None  # fixed value, label, or None for NA (explicitly free)


@dataclass(frozen=True)
class Token:
    kind: str  # NAME NUMBER OP PLUS MINUS STAR SLASH CARET LPAREN RPAREN COMMA STRING NL EOF
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class Term:
    """One right-hand-side element with its premultipliers, e.g. `a*x2` or `c(1, NA)*x3`."""

    name: str  # variable name, or "1" for an intercept
    fixed: tuple[float | None, ...] = ()  # per group (length 1 = all groups); None = NA
    labels: tuple[str | None, ...] = ()  # per group (length 1 = all groups)


@dataclass(frozen=True)
class Formula:
    lhs: str
    op: str  # "=~", "~", "~~" or "~1"
    term: Term
    line: int


Expr = tuple[object, ...]


@dataclass(frozen=True)
class Definition:
    name: str
    expression: Expr
    text: str
    line: int


@dataclass(frozen=True)
class Constraint:
    """`a == b` (two labels equal) or `a == 0.5` (a label fixed)."""

    lhs: str
    rhs: str | float
    line: int


@dataclass(frozen=True)
class ParsedModel:
    formulas: tuple[Formula, ...]
    definitions: tuple[Definition, ...] = field(default=())
    constraints: tuple[Constraint, ...] = field(default=())


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f]+)
  | (?P<comment>[#!][^\n]*)
  | (?P<nl>[\n;])
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_.][A-Za-z0-9_.]*)
  | (?P<string>"[^"\n]*"|'[^'\n]*')
  | (?P<op>[=~<>:|%*]+)
  | (?P<single>[-+/^(),])
    """,
    re.VERBOSE,
)

_SINGLE_KINDS = {
    "+": "PLUS",
    "-": "MINUS",
    "/": "SLASH",
    "^": "CARET",
    "(": "LPAREN",
    ")": "RPAREN",
    ",": "COMMA",
}

FUNCTIONS: dict[str, Callable[[float], float]] = {
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "abs": abs,
}


def _tokenize(text: str, lines: list[str]) -> list[Token]:
    tokens: list[Token] = []
    line = 1
    line_start = 0
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        column = pos - line_start + 1
        if match is None:
            raise ModelSyntaxError(
                f"unexpected character {text[pos]!r}", line, column, lines[line - 1]
            )
        kind = match.lastgroup
        value = match.group()
        if kind == "nl":
            tokens.append(Token("NL", value, line, column))
            if value == "\n":
                line += 1
                line_start = match.end()
        elif kind == "number":
            tokens.append(Token("NUMBER", value, line, column))
        elif kind == "name":
            tokens.append(Token("NAME", value, line, column))
        elif kind == "string":
            tokens.append(Token("STRING", value[1:-1], line, column))
        elif kind == "op":
            # `*` alone is the premultiplier; any other run of operator characters must be one
            # of lavaan's operators, so `~~~` is reported as a whole.
            tokens.append(Token("STAR" if value == "*" else "OP", value, line, column))
        elif kind == "single":
            tokens.append(Token(_SINGLE_KINDS[value], value, line, column))
        pos = match.end()
    tokens.append(Token("EOF", "", line, pos - line_start + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.tokens = _tokenize(text, self.lines)
        self.pos = 0

    # -- token helpers -------------------------------------------------------------------
    def peek(self, skip_newlines: bool = False) -> Token:
        i = self.pos
        if skip_newlines:
            while self.tokens[i].kind == "NL":
                i += 1
        return self.tokens[i]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def skip_newlines(self) -> None:
        while self.tokens[self.pos].kind == "NL":
            self.pos += 1

    def error(self, token: Token, message: str | None = None) -> ModelSyntaxError:
        if message is None:
            if token.kind == "EOF":
                message = "unexpected end of model"
            elif token.kind == "NL":
                message = "unexpected end of line"
            else:
                message = f"unexpected {token.text!r}"
        source = self.lines[token.line - 1] if token.line - 1 < len(self.lines) else ""
        return ModelSyntaxError(message, token.line, token.column, source)

    def expect(self, kind: str, what: str) -> Token:
        # Inside an unfinished statement a line break is not the end: continue on the next line.
        self.skip_newlines()
        token = self.peek()
        if token.kind != kind:
            raise self.error(
                token,
                f"expected {what}, found "
                + ("end of model" if token.kind == "EOF" else f"{token.text!r}"),
            )
        return self.advance()

    def continues_with(self, *kinds: str) -> bool:
        """A statement continues over a line break when the next line starts with one of
        `kinds` (e.g. a `+`)."""
        return self.peek(skip_newlines=True).kind in kinds

    # -- grammar ------------------------------------------------------------------------
    def parse(self) -> ParsedModel:
        formulas: list[Formula] = []
        definitions: list[Definition] = []
        constraints: list[Constraint] = []
        while True:
            self.skip_newlines()
            token = self.peek()
            if token.kind == "EOF":
                break
            self.statement(formulas, definitions, constraints)
            end = self.peek()
            if end.kind not in ("NL", "EOF"):
                raise self.error(end)
        return ParsedModel(tuple(formulas), tuple(definitions), tuple(constraints))

    def statement(
        self,
        formulas: list[Formula],
        definitions: list[Definition],
        constraints: list[Constraint],
    ) -> None:
        first = self.peek()
        if first.kind != "NAME":
            raise self.error(first)
        lhs = [self.advance().text]
        while self.peek().kind == "PLUS":
            self.advance()
            lhs.append(self.expect("NAME", "a variable name").text)
        op_token = self.peek()
        if op_token.kind != "OP":
            found = "end of line" if op_token.kind in ("NL", "EOF") else repr(op_token.text)
            raise self.error(
                op_token, f"expected an operator (=~, ~, ~~, :=) after {lhs[-1]!r}, found {found}"
            )
        op = op_token.text
        if op not in MODEL_OPERATORS:
            if op in UNSUPPORTED_OPERATORS:
                raise self.error(op_token, f"operator {op!r} is not supported by this engine")
            raise self.error(op_token)
        self.advance()
        if op == "==":
            if len(lhs) != 1:
                raise self.error(first, "an equality constraint has one label on the left")
            self.skip_newlines()
            token = self.peek()
            rhs: str | float
            if token.kind == "NAME" and token.text != "NA":
                self.advance()
                rhs = token.text
            elif token.kind in ("NUMBER", "MINUS"):
                rhs = self.number()
            else:
                raise self.error(
                    token, "only 'label == label' and 'label == number' constraints are supported"
                )
            if self.peek().kind not in ("NL", "EOF"):
                raise self.error(
                    self.peek(),
                    "only 'label == label' and 'label == number' constraints are supported",
                )
            constraints.append(Constraint(lhs[0], rhs, first.line))
            return
        if op == ":=":
            if len(lhs) != 1:
                raise self.error(first, "a defined parameter has one name on the left of ':='")
            start = self.pos
            expression = self.expression()
            text = self._source_between(start, self.pos)
            definitions.append(Definition(lhs[0], expression, text, first.line))
            return
        terms = [self.term(op)]
        while self.continues_with("PLUS"):
            self.skip_newlines()
            self.advance()
            terms.append(self.term(op))
        for name in lhs:
            for term in terms:
                if term.name == "1":
                    formulas.append(Formula(name, "~1", term, first.line))
                else:
                    formulas.append(Formula(name, op, term, first.line))

    def _source_between(self, start: int, end: int) -> str:
        """The expression text as lavaan shows it: its tokens joined without spaces."""
        return "".join(token.text for token in self.tokens[start:end] if token.kind != "NL")

    def term(self, op: str) -> Term:
        fixed: tuple[float | None, ...] = ()
        labels: tuple[str | None, ...] = ()
        while True:
            self.skip_newlines()
            token = self.peek()
            if token.kind == "NUMBER" or token.kind == "MINUS":
                value = self.number()
                if self.peek().kind != "STAR":
                    if value == 1.0 and op == "~" and token.text == "1":
                        return Term("1", fixed, labels)
                    raise self.error(
                        self.peek() if token.kind == "MINUS" else token,
                        "a number must premultiply a variable (like 0.5*x1)"
                        if token.text != "1"
                        else "an intercept '1' is only allowed after '~'",
                    )
                fixed = (value,)
                self.advance()
                continue
            if token.kind != "NAME":
                raise self.error(token)
            self.advance()
            name = token.text
            if self.peek().kind == "LPAREN" and name in ("c", "start", "label", "equal"):
                values = self.call_arguments()
                if self.peek().kind != "STAR":
                    raise self.error(self.peek(), f"expected '*' after {name}(...)")
                self.advance()
                if name == "c":
                    if all(isinstance(v, str) for v in values):
                        labels = tuple(str(v) for v in values)
                    elif all(not isinstance(v, str) for v in values):
                        fixed = tuple(v if not isinstance(v, str) else None for v in values)
                    else:
                        raise self.error(token, "c(...) mixes labels and numbers")
                elif name in ("label", "equal"):
                    if len(values) != 1 or not isinstance(values[0], str):
                        raise self.error(token, f"{name}(...) takes one quoted name")
                    labels = (values[0],)
                # start values are accepted and ignored: the optimiser chooses its own.
                continue
            if self.peek().kind == "STAR":
                self.advance()
                if name == "NA":
                    fixed = (None,)
                else:
                    labels = (name,)
                continue
            if name == "NA":
                raise self.error(token, "NA must premultiply a variable (like NA*x1)")
            return Term(name, fixed, labels)

    def number(self) -> float:
        sign = 1.0
        if self.peek().kind == "MINUS":
            self.advance()
            sign = -1.0
        token = self.peek()
        if token.kind != "NUMBER":
            raise self.error(token)
        self.advance()
        return sign * float(token.text)

    def call_arguments(self) -> list[float | str | None]:
        self.advance()  # "("
        values: list[float | str | None] = []
        while True:
            self.skip_newlines()
            token = self.peek()
            if token.kind in ("NUMBER", "MINUS"):
                values.append(self.number())
            elif token.kind == "NAME" and token.text == "NA":
                self.advance()
                values.append(None)
            elif token.kind == "NAME" or token.kind == "STRING":
                self.advance()
                values.append(token.text)
            else:
                raise self.error(token)
            self.skip_newlines()
            token = self.advance()
            if token.kind == "RPAREN":
                return values
            if token.kind != "COMMA":
                raise self.error(token)

    # -- arithmetic for `:=` -------------------------------------------------------------
    def expression(self) -> Expr:
        left = self.product()
        while self.continues_with("PLUS", "MINUS"):
            self.skip_newlines()
            op = self.advance().text
            self.skip_newlines()
            left = ("bin", op, left, self.product())
        return left

    def product(self) -> Expr:
        left = self.unary()
        while self.peek().kind in ("STAR", "SLASH"):
            op = self.advance().text
            self.skip_newlines()
            left = ("bin", op, left, self.unary())
        return left

    def unary(self) -> Expr:
        self.skip_newlines()
        if self.peek().kind == "MINUS":
            self.advance()
            return ("neg", self.unary())
        if self.peek().kind == "PLUS":
            self.advance()
            return self.unary()
        return self.power()

    def power(self) -> Expr:
        base = self.atom()
        if self.peek().kind == "CARET":
            self.advance()
            return ("bin", "^", base, self.unary())
        return base

    def atom(self) -> Expr:
        self.skip_newlines()
        token = self.peek()
        if token.kind == "NUMBER":
            self.advance()
            return ("num", float(token.text))
        if token.kind == "NAME":
            self.advance()
            if self.peek().kind == "LPAREN":
                if token.text not in FUNCTIONS:
                    raise self.error(
                        token,
                        f"unknown function {token.text!r} (known: {', '.join(FUNCTIONS)})",
                    )
                self.advance()
                argument = self.expression()
                self.expect("RPAREN", "')'")
                return ("call", token.text, argument)
            return ("var", token.text)
        if token.kind == "LPAREN":
            self.advance()
            inner = self.expression()
            self.expect("RPAREN", "')'")
            return inner
        raise self.error(token)


def parse_model(text: str) -> ParsedModel:
    """Parse lavaan model syntax; raise `ModelSyntaxError` pointing at the first problem."""
    if not isinstance(text, str):
        raise TypeError("the model must be a string of lavaan syntax")
    parsed = _Parser(text).parse()
    if not parsed.formulas and not parsed.definitions and not parsed.constraints:
        lines = text.split("\n")
        raise ModelSyntaxError("the model is empty", 1, 1, lines[0] if lines else "")
    return parsed


def expression_names(expression: Expr) -> list[str]:
    """The labels an expression refers to, in order of first appearance."""
    kind = expression[0]
    if kind == "var":
        return [str(expression[1])]
    names: list[str] = []
    for part in expression[1:]:
        if isinstance(part, tuple):
            for name in expression_names(part):
                if name not in names:
                    names.append(name)
    return names


def evaluate(expression: Expr, values: Mapping[str, float]) -> float:
    """Evaluate a parsed `:=` expression with the given label values."""
    kind = expression[0]
    if kind == "num":
        return float(expression[1])  # type: ignore[arg-type]
    if kind == "var":
        return float(values[str(expression[1])])
    if kind == "neg":
        return -evaluate(expression[1], values)  # type: ignore[arg-type]
    if kind == "call":
        function = FUNCTIONS[str(expression[1])]
        return float(function(evaluate(expression[2], values)))  # type: ignore[arg-type]
    op = expression[1]
    a = evaluate(expression[2], values)  # type: ignore[arg-type]
    b = evaluate(expression[3], values)  # type: ignore[arg-type]
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b != 0 else math.nan
    try:
        return float(a**b)
    except (OverflowError, ZeroDivisionError):
        return math.nan
