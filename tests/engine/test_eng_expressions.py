"""Expression and hypercube errors are errors, on both drivers: the engine's CheckExpression
and a hypercube's qError become ExpressionError, never a value or a header-only export."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from engine_support import direct_credentials

from qlikauth.engine import AsyncEngineConnection, Doc, EngineConnection
from qlikauth.engine.flows import checked_expression
from qlikauth.engine.messages import JsonObject
from qlikauth.errors import EngineError, ExpressionError
from qlikauth.site import Site

#: (expression, what the error names)
WRONG = [
    ("Sum(Amount", "')' expected"),
    ("Sum(Amout)", "Amout"),
    ("Sum([Unit Price]) + Sum(Amount)", "Unit Price"),
]


@pytest.fixture
def doc(site: Site, sales_app: str) -> Iterator[Doc]:
    with EngineConnection.open(site, direct_credentials(), sales_app, timeout=10) as connection:
        yield connection.open_doc()


@pytest.mark.parametrize(("expression", "named"), WRONG)
def test_sync_evaluate_raises_the_engines_message(doc: Doc, expression: str, named: str) -> None:
    for evaluate in (doc.evaluate, doc.evaluate_ex):
        with pytest.raises(ExpressionError) as caught:
            evaluate(expression)
        error = caught.value
        assert isinstance(error, EngineError)
        assert named in error.message
        assert error.expression == expression
        assert error.hint
    assert doc.evaluate("Sum(Amount)") == pytest.approx(28510.9)


def test_sync_bad_fields_are_listed(doc: Doc) -> None:
    with pytest.raises(ExpressionError) as caught:
        doc.evaluate("Sum(Amout) + Count([Coun try]) + Sum(Amount)")
    assert caught.value.bad_fields == ("Amout", "Coun try")


def test_sync_export_of_an_unknown_dimension_fails(doc: Doc) -> None:
    cube = doc.create_hypercube(["Regoin"], ["Sum(Amount)"])
    with pytest.raises(ExpressionError) as caught:
        cube.export_data("CSV_C")
    assert "Regoin" in caught.value.message
    assert caught.value.bad_fields == ("Regoin",)
    assert caught.value.code == 7000  # LOCERR_CALC_INVALID_DEF
    good = doc.create_hypercube(["Region"], ["Sum(Amount)"])
    assert good.export_data("CSV_C").startswith("/tempcontent/")


def test_sync_export_of_a_wrong_measure_fails(doc: Doc) -> None:
    cube = doc.create_hypercube(["Region"], ["Sum(Amount"])
    with pytest.raises(ExpressionError, match="Sum\\(Amount"):
        cube.export_data("CSV_C")


def test_asyncio_evaluate_and_export_raise_the_same(site: Site, sales_app: str) -> None:
    async def main() -> None:
        async with await AsyncEngineConnection.open(
            site, direct_credentials(), sales_app, timeout=10
        ) as conn:
            doc = await conn.open_doc()
            for expression, named in WRONG:
                with pytest.raises(ExpressionError, match=re.escape(named)):
                    await doc.evaluate(expression)
            assert await doc.evaluate("Sum(Amount)") == pytest.approx(28510.9)
            cube = await doc.create_hypercube(["Regoin"], ["Sum(Amount)"])
            with pytest.raises(ExpressionError) as caught:
                await cube.export_data("CSV_C")
            assert caught.value.bad_fields == ("Regoin",)

    asyncio.run(main())


# -- CheckExpression answers as a real engine may give them (no socket) ----------------------


def test_an_engine_message_with_bad_field_ranges_keeps_both() -> None:
    check: JsonObject = {
        "qErrorMsg": "Bad field name(s): Amout",
        "qBadFieldNames": [{"qFrom": 4, "qCount": 5}],
        "qDangerousFieldNames": [],
    }
    with pytest.raises(ExpressionError) as caught:
        checked_expression("Sum(Amout)", check)
    assert caught.value.engine_message == "Bad field name(s): Amout"
    assert caught.value.bad_fields == ("Amout",)


def test_dangerous_field_names_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    check: JsonObject = {
        "qErrorMsg": "",
        "qBadFieldNames": [],
        "qDangerousFieldNames": [{"qFrom": 4, "qCount": 6}],
    }
    checked_expression("Sum(Amount)", check)
    assert "Amount" in caplog.text


@pytest.mark.parametrize(
    "check",
    [
        {},
        {"qErrorMsg": "", "qBadFieldNames": [], "qDangerousFieldNames": []},
        {"qErrorMsg": None, "qBadFieldNames": [{"qFrom": "x", "qCount": 2}]},
    ],
)
def test_an_empty_or_malformed_answer_is_no_error(check: JsonObject) -> None:
    checked_expression("Sum(Amount)", check)
