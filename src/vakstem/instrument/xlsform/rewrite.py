"""Rewriting XLSForm conditions for Vakstem: renamed variables, and choice names that became
numeric codes (`selected(${q}, 'yes')` -> `selected(${q}, '1')`, `${q} = 'yes'` -> `${q} = 1`).

Rewriting works on the parsed expression (never on the text with a regular expression, which
would also change a quoted `'yes'` that is compared with something else), then prints it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vakstem.instrument.expressions import (
    Binary,
    Call,
    Current,
    Expr,
    ExpressionError,
    Negate,
    Number,
    String,
    Var,
    parse,
)

_VAR = re.compile(r"\$\{([^}]*)\}")

_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "=": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "div": 6,
    "mod": 6,
}
_UNARY = 7
_PRIMARY = 8


def rename_references(source: str, renamed: Mapping[str, str]) -> str:
    """`${Q1}` -> `${q1}` for every renamed name (text-level: `${...}` cannot occur otherwise
    outside a quoted string, and a renamed name is not a valid one, so the parser would refuse
    it before any tree could be built)."""
    if not renamed:
        return source
    return _VAR.sub(lambda m: "${" + renamed.get(m[1].strip(), m[1]) + "}", source)


def _precedence(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, Negate) or (isinstance(expr, Number) and expr.value < 0):
        return _UNARY
    return _PRIMARY


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _string(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


def unparse(expr: Expr) -> str:
    """Expression text that `parse` reads back to an equal tree."""
    if isinstance(expr, Number):
        return _number(expr.value)
    if isinstance(expr, String):
        return _string(expr.value)
    if isinstance(expr, Var):
        return "${" + expr.name + "}"
    if isinstance(expr, Current):
        return "."
    if isinstance(expr, Negate):
        inner = unparse(expr.operand)
        if _precedence(expr.operand) < _PRIMARY:
            inner = f"({inner})"
        return f"-{inner}"
    if isinstance(expr, Call):
        return f"{expr.name}({', '.join(unparse(a) for a in expr.args)})"
    own = _PRECEDENCE[expr.op]
    left, right = unparse(expr.left), unparse(expr.right)
    if _precedence(expr.left) < own:
        left = f"({left})"
    # Operators are left-associative: an equal-precedence right operand needs parentheses.
    if _precedence(expr.right) <= own:
        right = f"({right})"
    return f"{left} {expr.op} {right}"


@dataclass(frozen=True)
class UnknownChoice:
    """A quoted choice name that is not in the list of the item it is compared with."""

    variable: str
    name: str


#: (variable or None for `.`) -> {XLSForm choice name: code}, or None when the variable's
#: choices kept their own (numeric) names.
CodeLookup = Callable[[str | None], Mapping[str, int] | None]


def _subject(expr: Expr) -> str | bool | None:
    """The variable an operand stands for: its name, None for `.`, False for anything else."""
    if isinstance(expr, Var):
        return expr.name
    if isinstance(expr, Current):
        return None
    return False


def rewrite_choice_names(source: str, lookup: CodeLookup) -> tuple[str, list[UnknownChoice]] | None:
    """The expression with choice names replaced by codes, and the names that are no choice of
    their item; None when the expression does not parse (the validator reports that)."""
    try:
        tree = parse(source)
    except ExpressionError:
        return None
    unknown: list[UnknownChoice] = []
    changed = False

    def code_for(subject: str | None, literal: String) -> int | None:
        codes = lookup(subject)
        if codes is None:
            return None
        code = codes.get(literal.value.strip())
        if code is None:
            unknown.append(UnknownChoice(subject or ".", literal.value))
        return code

    def walk(node: Expr) -> Expr:
        nonlocal changed
        if isinstance(node, Call):
            args = tuple(walk(a) for a in node.args)
            if node.name == "selected" and isinstance(args[1], String):
                subject = _subject(args[0])
                if subject is not False:
                    code = code_for(subject if isinstance(subject, str) else None, args[1])
                    if code is not None:
                        changed = True
                        args = (args[0], String(str(code)))
            return Call(node.name, args)
        if isinstance(node, Binary):
            left, right = walk(node.left), walk(node.right)
            if node.op in ("=", "!="):
                for var_side, literal, flip in ((left, right, False), (right, left, True)):
                    subject = _subject(var_side)
                    if subject is False or not isinstance(literal, String):
                        continue
                    code = code_for(subject if isinstance(subject, str) else None, literal)
                    if code is not None:
                        changed = True
                        number = Number(float(code))
                        left, right = (number, var_side) if flip else (var_side, number)
                    break
            return Binary(node.op, left, right)
        if isinstance(node, Negate):
            return Negate(walk(node.operand))
        return node

    rewritten = walk(tree)
    return (unparse(rewritten) if changed else source), unknown
