"""The expression language: parsing, located errors, XLSForm value semantics, and robustness."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vakstem.instrument.expressions import (
    MAX_DEPTH,
    Binary,
    Call,
    Current,
    ExpressionError,
    Negate,
    Number,
    String,
    Var,
    compile_expression,
    evaluate,
    is_true,
    parse,
    reference_nodes,
    references,
    uses_current,
)

TODAY = date(2026, 11, 26)


def ev(source: str, current: object = None, **values: object) -> object:
    return evaluate(parse(source), values, current, today=TODAY)  # type: ignore[arg-type]


# --- parsing -------------------------------------------------------------------------------


def test_parse_builds_typed_ast() -> None:
    assert parse("${a} = 2 and selected(${b}, 'x')") == Binary(
        "and",
        Binary("=", Var("a"), Number(2.0)),
        Call("selected", (Var("b"), String("x"))),
    )


def test_parse_current_and_negation() -> None:
    assert parse(". > -1") == Binary(">", Current(), Number(-1.0))
    assert parse("-${a}") == Negate(Var("a"))


def test_double_quoted_strings_and_decimal_literals() -> None:
    assert parse('"ja"') == String("ja")
    assert parse(".5") == Number(0.5)
    assert parse("2.") == Number(2.0)


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("1 or 2 and 3", Binary("or", Number(1), Binary("and", Number(2), Number(3)))),
        ("1 and 2 = 3", Binary("and", Number(1), Binary("=", Number(2), Number(3)))),
        ("1 = 2 < 3", Binary("=", Number(1), Binary("<", Number(2), Number(3)))),
        ("1 < 2 + 3", Binary("<", Number(1), Binary("+", Number(2), Number(3)))),
        ("1 + 2 * 3", Binary("+", Number(1), Binary("*", Number(2), Number(3)))),
        ("1 - 2 - 3", Binary("-", Binary("-", Number(1), Number(2)), Number(3))),
        ("6 div 3 mod 2", Binary("mod", Binary("div", Number(6), Number(3)), Number(2))),
        ("(1 + 2) * 3", Binary("*", Binary("+", Number(1), Number(2)), Number(3))),
        ("-${a} * 2", Binary("*", Negate(Var("a")), Number(2))),
    ],
)
def test_precedence_follows_xpath(source: str, tree: object) -> None:
    assert parse(source) == tree


def test_keywords_are_operators_only_between_operands() -> None:
    assert parse("${a} and (${b})") == Binary("and", Var("a"), Var("b"))
    assert parse("${a} div(2)") == Binary("div", Var("a"), Number(2))


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("(${a} = 1))", "unexpected ')' at column 11", 10),
        ("${a} = ", "unexpected end of expression", 7),
        ("1 2", "unexpected '2' at column 3", 2),
        ("${a} == 1", "unexpected '=' at column 7", 6),
        ("${Naam} = 1", "invalid variable name 'Naam' in ${...} at column 1", 0),
        ("${a} = 1 and ${b", "unclosed '${' at column 14", 13),
        ("${a} = 'ja", "unclosed string at column 8", 7),
        ("${a} = ja", "unexpected name 'ja' at column 8: write ${ja}", 7),
        ("foo(${a})", "unknown function 'foo' at column 1", 0),
        ("selected(${a})", "selected() takes 2 arguments, got 1 at column 1", 0),
        ("if(1, 2)", "if() takes 3 arguments, got 2", 0),
        ("x ${a} # 2", "unexpected name 'x' at column 1", 0),
        ("${a} # 2", "unexpected character '#' at column 6", 5),
        ("${a} = 1 AND ${b}", "unexpected 'AND' at column 10: write 'and' in lowercase", 9),
        ("", "empty expression", None),
        ("   ", "empty expression", None),
    ],
)
def test_parse_errors_name_the_column(source: str, message: str, position: int | None) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert message in caught.value.message
    assert caught.value.position == position
    assert caught.value.expression == source


def test_too_deep_nesting_is_a_parse_error_not_a_crash() -> None:
    assert parse("(" * 500 + "1" + ")" * 500) == Number(1.0)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("not(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse(" or ".join(["${a}"] * (MAX_DEPTH + 5)))


def test_references_and_current() -> None:
    expr = parse("if(${a} > 1, selected(${b}, 2), . = ${a})")
    assert references(expr) == frozenset({"a", "b"})
    assert uses_current(expr)
    assert not uses_current(parse("${a} = 1"))
    assert [(v.name, v.position) for v in reference_nodes(expr)] == [
        ("a", 3),
        ("b", 22),
        ("a", 36),
    ]


def test_compile_expression_caches() -> None:
    assert compile_expression("${a} = 1") is compile_expression("${a} = 1")
    with pytest.raises(ExpressionError):
        compile_expression("${a} =")


# --- evaluation: operators -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2", 3.0),
        ("5 - 7", -2.0),
        ("3 * 4", 12.0),
        ("7 div 2", 3.5),
        ("7 mod 3", 1.0),
        ("-7 mod 3", -1.0),
        ("-(2 + 3)", -5.0),
        ("2 + 3 * 4", 14.0),
        ("(2 + 3) * 4", 20.0),
        ("1 = 1", True),
        ("1 != 1", False),
        ("1 < 2", True),
        ("2 <= 2", True),
        ("1 > 2", False),
        ("2 >= 3", False),
        ("'a' = 'a'", True),
        ("'a' != 'b'", True),
        ("1 and 0", False),
        ("1 or 0", True),
        ("not(0)", True),
        ("true() and not(false())", True),
    ],
)
def test_operators(source: str, expected: object) -> None:
    assert ev(source) == expected


def test_and_or_short_circuit_to_booleans() -> None:
    assert ev("0 and 1 div 0") is False
    assert ev("'x' or 0") is True


# --- evaluation: functions -----------------------------------------------------------------


def test_selected_accepts_numeric_and_string_codes() -> None:
    assert ev("selected(${m}, 2)", m=[1, 2]) is True
    assert ev("selected(${m}, '2')", m=[1, 2]) is True
    assert ev("selected(${m}, 3)", m=[1, 2]) is False
    assert ev("selected(${m}, '-1')", m=[-1]) is True
    assert ev("selected(${m}, 2)", m=None) is False
    # On a single choice it works too (XLSForm allows it).
    assert ev("selected(${s}, 2)", s=2) is True


def test_count_selected() -> None:
    assert ev("count-selected(${m})", m=[1, 5, 7]) == 3.0
    assert ev("count-selected(${m})", m=[]) == 0.0
    assert ev("count-selected(${m})") == 0.0


def test_string_length() -> None:
    assert ev("string-length(${t})", t="klant") == 5.0
    assert ev("string-length(${t})") == 0.0
    assert ev("string-length(.)", current="ab") == 2.0


def test_if_evaluates_only_the_chosen_branch() -> None:
    assert ev("if(${a} > 1, 'veel', 'weinig')", a=3) == "veel"
    assert ev("if(${a} > 1, 'veel', 'weinig')", a=1) == "weinig"
    assert ev("if(${a} > 1, 'veel', 'weinig')") == "weinig"


def test_regex_searches_and_bad_patterns_are_false() -> None:
    assert ev("regex(., '^[0-9]{4}[A-Z]{2}$')", current="1234AB") is True
    assert ev("regex(., '^[0-9]{4}[A-Z]{2}$')", current="1234 AB") is False
    assert ev("regex(., '[')", current="[") is False


def test_number_string_boolean_int_round_concat_coalesce() -> None:
    assert ev("number('3.5') + 1") == 4.5
    assert math.isnan(ev("number('abc')"))  # type: ignore[arg-type]
    assert ev("string(2)") == "2"
    assert ev("string(2.5)") == "2.5"
    assert ev("string(0.0000001)") == "0.0000001"
    assert ev("boolean('')") is False
    assert ev("int(-2.7)") == -2.0
    assert ev("round(2.5)") == 3.0
    assert ev("round(3.14159, 2)") == 3.14
    assert ev("concat('a', 1, ${t})", t="b") == "a1b"
    assert ev("coalesce(${a}, 7)") == 7.0
    assert ev("coalesce(${a}, 7)", a=3) == 3.0


def test_today_and_date_arithmetic() -> None:
    assert ev("today()") == "2026-11-26"
    assert ev(". <= today()", current="2026-11-25") is True
    assert ev(". <= today()", current="2026-11-27") is False
    assert ev("today() - ${d}", d="2026-11-20") == 6.0
    assert ev("${d} = '2026-11-20'", d="2026-11-20") is True


# --- evaluation: the empty value -----------------------------------------------------------


def test_unanswered_equals_empty_string() -> None:
    assert ev("${a} = ''") is True
    assert ev("${a} != ''") is False
    assert ev("${a} = ''", a=0) is False
    assert ev("${a} = ''", a="") is True
    assert ev("${m} = ''", m=[]) is True


def test_numeric_comparison_with_empty_is_false() -> None:
    for op in ("<", "<=", ">", ">=", "="):
        assert ev(f"${{a}} {op} 3") is False, op
    assert ev("${a} != 3") is True


def test_arithmetic_with_empty_is_nan() -> None:
    assert math.isnan(ev("${a} + 1"))  # type: ignore[arg-type]
    assert ev("${a} + 1 > 0") is False
    assert ev("string(${a} + 1)") == "NaN"


def test_choice_code_equals_number_and_string() -> None:
    assert ev("${s} = 2", s=2) is True
    assert ev("${s} = '2'", s=2) is True
    assert ev("${s} != '2'", s=2) is False
    assert ev("${s} = 2", s=3) is False


def test_multiple_choice_is_space_separated_codes() -> None:
    assert ev("${m} = '1 3'", m=[1, 3]) is True
    assert ev("string-length(${m})", m=[1, 3]) == 3.0


def test_consent_no_is_false_and_yes_true() -> None:
    assert is_true(ev("${c}", c=0)) is False
    assert is_true(ev("${c}", c=1)) is True


def test_division_and_mod_by_zero_are_nan_not_errors() -> None:
    assert math.isnan(ev("1 div 0"))  # type: ignore[arg-type]
    assert math.isnan(ev("1 mod 0"))  # type: ignore[arg-type]
    assert ev("1 div 0 > 0") is False


def test_is_true_on_result_and_answer_values() -> None:
    assert is_true(True) and not is_true(False)
    assert is_true(1.0) and not is_true(0.0) and not is_true(float("nan"))
    assert is_true("x") and not is_true("")
    assert not is_true(None) and is_true([1]) and not is_true([])


# --- robustness ----------------------------------------------------------------------------

_EXPR_ALPHABET = st.sampled_from(
    [
        "${a}",
        "${b}",
        "${m}",
        ".",
        "1",
        "0",
        "2.5",
        "'2'",
        "''",
        "'x'",
        "'[('",
        "'2024-02-30'",
        "(",
        ")",
        ",",
        " = ",
        " != ",
        " < ",
        " >= ",
        " and ",
        " or ",
        " + ",
        " - ",
        " * ",
        " div ",
        " mod ",
        "-",
        "not(",
        "selected(",
        "count-selected(",
        "string-length(",
        "if(",
        "regex(",
        "number(",
        "string(",
        "int(",
        "round(",
        "concat(",
        "coalesce(",
        "today()",
        "1e309",
        "99999999999999999999999",
    ]
)

answer_values = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=5),
    st.dates().map(date.isoformat),
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_expression_error(source: str) -> None:
    try:
        parse(source)
    except ExpressionError as exc:
        assert exc.position is None or 0 <= exc.position <= len(source)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EXPR_ALPHABET, min_size=1, max_size=15).map("".join))
def test_token_soup_parses_or_raises_expression_error(source: str) -> None:
    try:
        expr = parse(source)
    except ExpressionError as exc:
        assert exc.message
        assert exc.position is None or 0 <= exc.position <= len(source)
    else:
        assert isinstance(references(expr), frozenset)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """Well-formed expressions built from the grammar, so evaluation is really exercised."""

    def build(depth: int) -> str:
        if depth <= 0 or draw(st.booleans()):
            return draw(
                st.sampled_from(
                    ["${a}", "${b}", "${m}", ".", "1", "0", "-3", "2.5", "'2'", "''", "'x'", "'('"]
                )
            )
        kind = draw(st.integers(0, 3))
        if kind == 0:
            op = draw(
                st.sampled_from(
                    ["=", "!=", "<", "<=", ">", ">=", "and", "or", "+", "-", "*", "div", "mod"]
                )
            )
            return f"({build(depth - 1)} {op} {build(depth - 1)})"
        if kind == 1:
            return f"-{build(depth - 1)}"
        name = draw(
            st.sampled_from(
                [
                    ("selected", 2),
                    ("count-selected", 1),
                    ("string-length", 1),
                    ("if", 3),
                    ("regex", 2),
                    ("not", 1),
                    ("number", 1),
                    ("string", 1),
                    ("boolean", 1),
                    ("int", 1),
                    ("round", 2),
                    ("concat", 3),
                    ("coalesce", 2),
                    ("today", 0),
                ]
            )
        )
        args = ", ".join(build(depth - 1) for _ in range(name[1]))
        return f"{name[0]}({args})"

    return build(4)


@settings(max_examples=400, deadline=None)
@given(expressions(), answer_values, answer_values, answer_values, answer_values)
def test_evaluation_never_raises_on_any_answers(
    source: str, a: object, b: object, m: object, current: object
) -> None:
    expr = parse(source)
    result = evaluate(expr, {"a": a, "b": b, "m": m}, current)  # type: ignore[dict-item,arg-type]
    assert isinstance(result, (bool, float, str))
    is_true(result)
