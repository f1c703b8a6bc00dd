"""The expression evaluator against Python computations on the same rows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qix_support import Rpc

from qlikauth.emulator.qix import App, Engine, EngineUser, default_apps
from qlikauth.emulator.qix.data import SALES_APP_ID
from qlikauth.emulator.qix.expressions import ExpressionError, compile_expression
from qlikauth.emulator.qix.values import Value, format_number, text_of

FIELDS = ("Name", "N", "M")

texts = st.sampled_from(["a", "b", "c", "d e", "ö"]) | st.none()
numbers = st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False) | st.none()
rows_strategy = st.lists(st.tuples(texts, numbers, st.integers(-50, 50)), max_size=40)


def evaluate(expression: str, rows: list[tuple[Value, ...]]) -> Value:
    return compile_expression(expression, FIELDS).evaluate(iter(rows))


def numeric(rows: list[tuple[Value, ...]], column: int) -> list[float]:
    return [float(row[column]) for row in rows if row[column] is not None]  # type: ignore[arg-type]


@given(rows_strategy)
def test_sum_count_avg_min_max(rows: list[tuple[Value, ...]]) -> None:
    values = numeric(rows, 1)
    assert evaluate("Sum(N)", rows) == pytest.approx(math.fsum(values), rel=1e-9, abs=1e-6)
    assert evaluate("Count(N)", rows) == len(values)
    assert evaluate("count(distinct N)", rows) == len(set(values))
    if values:
        assert evaluate("Avg(N)", rows) == pytest.approx(math.fsum(values) / len(values))
        assert evaluate("Min(N)", rows) == min(values)
        assert evaluate("Max(N)", rows) == max(values)
    else:
        assert evaluate("Avg(N)", rows) is None
        assert evaluate("Min(N)", rows) is None
        assert evaluate("Max(N)", rows) is None


@given(rows_strategy)
def test_text_fields_count_distinct_and_only(rows: list[tuple[Value, ...]]) -> None:
    names = [row[0] for row in rows if row[0] is not None]
    assert evaluate("Count(Name)", rows) == len(names)
    assert evaluate("Count(DISTINCT [Name])", rows) == len(set(names))
    expected_only = names[0] if len(set(names)) == 1 else None
    assert evaluate("Only(Name)", rows) == expected_only
    # A bare field outside an aggregation means Only(field).
    assert evaluate("Name", rows) == expected_only
    # Text never adds up.
    assert evaluate("Sum(Name)", rows) == 0


@given(rows_strategy)
def test_row_level_arithmetic_inside_aggregations(rows: list[tuple[Value, ...]]) -> None:
    expected = math.fsum(
        float(row[1]) * float(row[2]) + 1  # type: ignore[arg-type]
        for row in rows
        if row[1] is not None
    )
    result = evaluate("Sum(N * M + 1)", rows)
    assert result == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(rows_strategy)
def test_aggregates_combine_with_arithmetic(rows: list[tuple[Value, ...]]) -> None:
    ms = numeric(rows, 2)
    result = evaluate("(Sum(M) - Min(M)) / 2 + Count(M) * 3", rows)
    if ms:
        assert result == pytest.approx((sum(ms) - min(ms)) / 2 + len(ms) * 3)
    else:
        assert result is None  # Min of nothing is null, and null spreads through arithmetic


@given(rows_strategy)
def test_conditional_sums(rows: list[tuple[Value, ...]]) -> None:
    positives = [v for v in numeric(rows, 1) if v > 0]
    result = evaluate("Sum(If(N > 0, N, 0))", rows)
    assert result == pytest.approx(math.fsum(positives), rel=1e-9, abs=1e-6)
    named_b = sum(1 for row in rows if row[0] == "b")
    assert evaluate("Sum(If(Name = 'b', 1))", rows) == named_b
    nulls = sum(1 for row in rows if row[1] is None)
    assert evaluate("Sum(IsNull(N))", rows) == -nulls


@given(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([1, 0.5, 10, 0.25]))
def test_round_goes_half_up_to_the_step(number: float, step: float) -> None:
    result = evaluate(f"Round({number!r}, {step!r})", [])
    assert result == math.floor(number / step + 0.5) * step
    assert isinstance(result, float)
    assert abs(result - number) <= step / 2 + 1e-6


integer_trees = st.recursive(
    st.integers(0, 99).map(str),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    ),
    max_leaves=12,
)


@given(integer_trees)
def test_integer_arithmetic_matches_python(expression: str) -> None:
    expected = eval(expression, {"__builtins__": {}})  # noqa: S307 - digits, parens, + - * only
    assert evaluate(expression, []) == expected
    assert text_of(evaluate(expression, [])) == str(expected)


@settings(max_examples=50)
@given(st.floats(-1e12, 1e12, allow_nan=False))
def test_number_format_round_trips_to_fourteen_digits(number: float) -> None:
    text = format_number(number)
    if number.is_integer():
        assert text == str(int(number))
    else:
        assert float(text) == pytest.approx(number, rel=1e-13, abs=1e-300)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("7 / 2", 3.5),
        ("1 / 0", None),
        ("-(2 - 5)", 3.0),
        ("'a' & 'b' & 1", "ab1"),
        ("'x' & Only(Name)", "x"),
        ("2 > 1", -1.0),
        ("2 < 1", 0.0),
        ("'abc' = 'abc'", -1.0),
        ("1 <> 1 or 2 >= 2", -1.0),
        ("not 1 = 1", 0.0),
        ("'3' + 4", 7.0),
        ("'x' + 4", None),
        ("=10", 10.0),
        ("'it''s'", "it's"),
        ("If(1 = 1, 'yes', 'no')", "yes"),
        ("If(1 = 2, 'yes', 'no')", "no"),
        ("If(1 = 2, 'yes')", None),
        ("Round(2.5)", 3.0),
        ("Round(-2.5)", -2.0),
        ("Round(7, 0)", None),
        ("Abs(-4) + Abs(4)", 8.0),
        ("Upper('ab') & lower('CD')", "ABcd"),
        ("IsNull(Only(Name)) & IsNull(1)", "-10"),
        ("If(Count(M) = 1, 'one row')", "one row"),
    ],
)
def test_operators(expression: str, expected: Value) -> None:
    assert evaluate(expression, [(None, None, 0)]) == expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("Sum(", "Error in expression"),
        ("Sum(N", "')' expected"),
        ("1 +", "Error in expression"),
        ("Total(N)", "not a valid function"),
        ("Sum(Sum(N))", "nested aggregation"),
        ("Sum(Price)", "Bad field name(s): Price"),
        ("[Unknown] + Nope", "Bad field name(s): Unknown, Nope"),
        ("", "empty"),
        ("1 ? 2", "unexpected"),
        ("Sum(N))", "unexpected ')'"),
        ("If(1)", "If takes 2 to 3 arguments"),
        ("Round(1, 2, 3)", "Round takes 1 to 2 arguments"),
        ("Sum(If(Sum(N) > 1, 1, 0))", "nested aggregation"),
        ("If(Price > 1, 1)", "Bad field name(s): Price"),
    ],
)
def test_bad_expressions(expression: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(expression, FIELDS)
    assert fragment in str(caught.value)


# Through the engine, on the Sales app.


@pytest.fixture
def rpc(tmp_path: Path) -> Rpc:
    engine = Engine(default_apps(), tmp_path, server_node_id="node")
    rpc = Rpc(engine.connect(EngineUser("D", "u"), SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    return rpc


@pytest.fixture
def sales() -> App:
    return default_apps()[0]


def column(app: App, name: str) -> list[Value]:
    index = app.fields.index(name)
    return [row[index] for row in app.rows()]


def test_evaluate_ex_on_sales(rpc: Rpc, sales: App) -> None:
    amounts = column(sales, "Amount")
    total = math.fsum(amounts)  # type: ignore[arg-type]
    value = rpc.result(1, "EvaluateEx", ["Sum(Amount)"])["qValue"]
    assert value == {"qText": format_number(total), "qIsNumeric": True, "qNumber": total}
    countries = set(column(sales, "Country"))
    value = rpc.result(1, "EvaluateEx", ["Count(DISTINCT Country)"])["qValue"]
    assert value == {"qText": str(len(countries)), "qIsNumeric": True, "qNumber": len(countries)}


def test_evaluate_returns_text(rpc: Rpc, sales: App) -> None:
    years = column(sales, "Year")
    expected = f"{min(years)}-{max(years)}"  # type: ignore[type-var]
    assert rpc.result(1, "Evaluate", ["Min(Year) & '-' & Max(Year)"]) == {"qReturn": expected}


def test_text_result_is_not_numeric(rpc: Rpc) -> None:
    value = rpc.result(1, "EvaluateEx", ["'Total: ' & 5"])["qValue"]
    assert value == {"qText": "Total: 5", "qIsNumeric": False, "qNumber": 0}


def test_null_result_shows_the_null_symbol(rpc: Rpc) -> None:
    value = rpc.result(1, "EvaluateEx", ["Only(Country)"])["qValue"]
    assert value["qText"] == "-"
    assert value["qIsNumeric"] is False


def test_bad_expression_is_an_error_text_not_an_rpc_error(rpc: Rpc) -> None:
    value = rpc.result(1, "EvaluateEx", ["Sum(Price)"])["qValue"]
    assert value["qText"].startswith("Error: ")
    assert "Price" in value["qText"]
    assert value["qIsNumeric"] is False
    assert rpc.result(1, "Evaluate", ["Sum("])["qReturn"].startswith("Error: ")


def test_check_expression_reports_syntax_errors_as_a_message(rpc: Rpc) -> None:
    result = rpc.result(1, "CheckExpression", ["Sum(Amount"])
    assert result["qErrorMsg"].startswith("Error in expression")
    assert result["qBadFieldNames"] == []
    assert result["qDangerousFieldNames"] == []


def test_check_expression_names_each_bad_field_by_its_range(rpc: Rpc) -> None:
    expression = "= Sum(Amout) + Count([Coun try]) + Sum(Amount)"
    result = rpc.result(1, "CheckExpression", {"qExpr": expression})
    assert result["qErrorMsg"] == ""
    spans = [expression[r["qFrom"] : r["qFrom"] + r["qCount"]] for r in result["qBadFieldNames"]]
    assert spans == ["Amout", "[Coun try]"]


def test_check_expression_of_a_valid_expression_is_all_empty(rpc: Rpc) -> None:
    result = rpc.result(1, "CheckExpression", ["Sum(Amount) / Count(DISTINCT Country)", []])
    assert result == {"qErrorMsg": "", "qBadFieldNames": [], "qDangerousFieldNames": []}
