"""Conditions for the table: `relevant` expressions evaluated with the study's own language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vakstem.export.table import Relevance


def expression_relevance() -> Relevance:
    """A `Relevance` that parses each expression once and evaluates it like the survey does."""
    from vakstem.instrument.expressions import compile_expression, evaluate, is_true

    compiled: dict[str, Any] = {}

    def relevant(expression: str, answers: Mapping[str, Any]) -> bool:
        tree = compiled.get(expression)
        if tree is None:
            tree = compiled[expression] = compile_expression(expression)
        return is_true(evaluate(tree, answers))

    return relevant
