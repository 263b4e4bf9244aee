"""The lavaan-syntax parser: what it accepts, and where it points when it does not."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vakstem.analysis.sem.errors import ModelSyntaxError
from vakstem.analysis.sem.syntax import ParsedModel, evaluate, parse_model


def test_measurement_regression_and_covariance_statements_are_split_per_term() -> None:
    parsed = parse_model("f =~ x1 + x2\nf ~ z\nx1 ~~ x2")
    assert [(f.lhs, f.op, f.term.name) for f in parsed.formulas] == [
        ("f", "=~", "x1"),
        ("f", "=~", "x2"),
        ("f", "~", "z"),
        ("x1", "~~", "x2"),
    ]


def test_premultipliers_give_fixed_values_labels_and_freed_markers() -> None:
    parsed = parse_model("f =~ NA*x1 + 0.5*x2 + a*x3 + -1*x4 + c(b1, b2)*x5 + c(1, NA)*x6")
    terms = {f.term.name: f.term for f in parsed.formulas}
    assert terms["x1"].fixed == (None,)
    assert terms["x2"].fixed == (0.5,)
    assert terms["x3"].labels == ("a",)
    assert terms["x4"].fixed == (-1.0,)
    assert terms["x5"].labels == ("b1", "b2")
    assert terms["x6"].fixed == (1.0, None)


def test_intercepts_and_several_left_hand_sides() -> None:
    parsed = parse_model("y1 + y2 ~ 1\ny3 ~ a*1")
    assert [(f.lhs, f.op) for f in parsed.formulas] == [("y1", "~1"), ("y2", "~1"), ("y3", "~1")]
    assert parsed.formulas[2].term.labels == ("a",)


def test_statements_continue_over_lines_and_comments_are_ignored() -> None:
    parsed = parse_model(
        "# model\nf =~ x1 +   # first\n   x2\n   + x3; g =~ x4 + x5 ! other comment\n"
    )
    assert [f.term.name for f in parsed.formulas if f.lhs == "f"] == ["x1", "x2", "x3"]
    assert [f.term.name for f in parsed.formulas if f.lhs == "g"] == ["x4", "x5"]


def test_equality_constraints_between_labels_or_to_a_number() -> None:
    parsed = parse_model("f =~ x1 + a*x2 + b*x3 + c*x4\na == b\nc == -0.5")
    assert [(c.lhs, c.rhs) for c in parsed.constraints] == [("a", "b"), ("c", -0.5)]


def test_defined_parameters_keep_lavaan_text_and_evaluate() -> None:
    parsed = parse_model("y ~ a*x\nind := a*b\ntotal := c + (a*b)\nq := sqrt(a^2)/2 - -1")
    ind, total, q = parsed.definitions
    assert (ind.name, ind.text) == ("ind", "a*b")
    assert total.text == "c+(a*b)"
    assert evaluate(total.expression, {"a": 2.0, "b": 3.0, "c": 1.0}) == 7.0
    assert evaluate(q.expression, {"a": -4.0}) == 3.0


@pytest.mark.parametrize(
    ("text", "line", "column", "reason"),
    [
        ("f =~ x1 + x2\nx1 ~~ x2\nx1 ~~~ x3", 3, 4, "unexpected '~~~'"),
        ("f =~ x1 +", 1, 10, "unexpected end of model"),
        ("f =~ 0.5 x1", 1, 6, "a number must premultiply a variable (like 0.5*x1)"),
        ("f x1 + x2", 1, 3, "expected an operator"),
        ("f =~ x1 $ x2", 1, 9, "unexpected character '$'"),
        ("f < g", 1, 3, "operator '<' is not supported by this engine"),
        ("a == 2*b", 1, 7, "only 'label == label' and 'label == number' constraints"),
        ("ab := a * (b", 1, 13, "expected ')'"),
        ("ab := foo(a)", 1, 7, "unknown function 'foo'"),
        ("f =~ x1 + NA", 1, 11, "NA must premultiply a variable"),
        ("   ", 1, 1, "the model is empty"),
    ],
)
def test_syntax_errors_point_at_line_and_column(
    text: str, line: int, column: int, reason: str
) -> None:
    with pytest.raises(ModelSyntaxError) as caught:
        parse_model(text)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert error.reason.startswith(reason)
    message_lines = str(error).split("\n")
    assert message_lines[0] == f"line {line}: {error.reason}"
    assert message_lines[2].index("^") == column + 1  # two spaces of indent before the source


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"fxyab12 =~+*\n#();:.-c,^/!\"'", "=~", "~~", ":=", "NA", "x1", "0.5"]),
        max_size=30,
    ).map("".join)
)
def test_any_text_gives_a_model_or_a_syntax_error(text: str) -> None:
    try:
        result = parse_model(text)
    except ModelSyntaxError as error:
        assert error.line >= 1 and error.column >= 1
    else:
        assert isinstance(result, ParsedModel)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_unicode_gives_a_model_or_a_syntax_error(text: str) -> None:
    with contextlib.suppress(ModelSyntaxError):
        parse_model(text)
