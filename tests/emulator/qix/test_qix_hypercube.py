"""Hypercube layouts and paging, and field lists, against the app's rows."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from qix_support import Rpc, table_def

from qlikauth.emulator.qix import App, Engine, EngineUser, default_apps, large_app
from qlikauth.emulator.qix.data import LARGE_APP_ID, SALES_APP_ID
from qlikauth.emulator.qix.values import Value, text_of

SALES = default_apps()[0]


def grouped(app: App, dimensions: list[str], measure_field: str) -> list[list[Value]]:
    """Rows grouped by ``dimensions`` in load order, with Sum(measure_field) and a count."""
    indexes = [app.fields.index(d) for d in dimensions]
    measure = app.fields.index(measure_field)
    sums: dict[tuple[Value, ...], list[float]] = defaultdict(list)
    for row in app.rows():
        sums[tuple(row[i] for i in indexes)].append(float(row[measure]))  # type: ignore[arg-type]
    return [[*key, math.fsum(values), len(values)] for key, values in sums.items()]


def open_sales(tmp_path: Path, app: App = SALES) -> Rpc:
    engine = Engine([app], tmp_path, server_node_id="node")
    rpc = Rpc(engine.connect(EngineUser("D", "u"), app.app_id))
    rpc.result(-1, "OpenDoc", [app.app_id])
    return rpc


def create(rpc: Rpc, props: dict[str, Any]) -> int:
    handle: int = rpc.result(1, "CreateSessionObject", [props])["qReturn"]["qHandle"]
    return handle


def test_layout_of_a_grouped_cube(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    props = table_def(
        ["Region", "Year"],
        ["Sum(Amount)", "Count(OrderId)"],
        fetch=[{"qLeft": 0, "qTop": 0, "qWidth": 4, "qHeight": 100}],
    )
    props["qHyperCubeDef"]["qMeasures"][0]["qDef"]["qLabel"] = "Revenue"
    cube = rpc.result(create(rpc, props), "GetLayout")["qLayout"]["qHyperCube"]
    expected = grouped(SALES, ["Region", "Year"], "Amount")
    assert cube["qSize"] == {"qcx": 4, "qcy": len(expected)}
    titles = [info["qFallbackTitle"] for info in cube["qDimensionInfo"] + cube["qMeasureInfo"]]
    assert titles == ["Region", "Year", "Revenue", "Count(OrderId)"]
    assert [d["qCardinal"] for d in cube["qDimensionInfo"]] == [
        len(set(SALES.symbols("Region"))),
        len(set(SALES.symbols("Year"))),
    ]
    (page,) = cube["qDataPages"]
    assert page["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 4, "qHeight": len(expected)}
    for cells, row in zip(page["qMatrix"], expected, strict=True):
        region, year, total, count = row
        assert [c["qText"] for c in cells] == [text_of(v) for v in (region, year, total, count)]
        assert cells[0]["qNum"] == "NaN"
        assert cells[1]["qNum"] == year
        assert cells[2]["qNum"] == pytest.approx(total)
        assert cells[0]["qElemNumber"] == SALES.symbols("Region")[region]
        assert [c["qState"] for c in cells] == ["O", "O", "L", "L"]


def test_cube_without_dimensions_is_one_total_row(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    props = table_def([], ["Sum(Quantity)"], fetch=[{"qWidth": 1, "qHeight": 5}])
    cube = rpc.result(create(rpc, props), "GetLayout")["qLayout"]["qHyperCube"]
    quantity = SALES.fields.index("Quantity")
    total = sum(row[quantity] for row in SALES.rows())  # type: ignore[misc]
    assert cube["qSize"] == {"qcx": 1, "qcy": 1}
    assert cube["qDataPages"][0]["qMatrix"] == [
        [{"qText": str(total), "qNum": total, "qElemNumber": 0, "qState": "L"}]
    ]


@given(
    top=st.integers(0, 50),
    left=st.integers(0, 5),
    width=st.integers(0, 5),
    height=st.integers(0, 50),
)
def test_paging_clips_to_the_cube(top: int, left: int, width: int, height: int) -> None:
    engine = Engine([SALES], Path("unused-exports"), server_node_id="node")
    rpc = Rpc(engine.connect(EngineUser("D", "u"), SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    handle = create(rpc, table_def(["Country", "Product"], ["Sum(Amount)", "Count(OrderId)"]))
    page_in = {"qLeft": left, "qTop": top, "qWidth": width, "qHeight": height}
    (page,) = rpc.result(handle, "GetHyperCubeData", ["/qHyperCubeDef", [page_in]])["qDataPages"]
    full = [[text_of(v) for v in row] for row in grouped(SALES, ["Country", "Product"], "Amount")]
    clipped_top = min(top, len(full))
    clipped_left = min(left, 4)
    clipped_width = min(width, 4 - clipped_left)
    clipped_height = min(height, len(full) - clipped_top) if clipped_width > 0 else 0
    expected = [
        row[clipped_left : clipped_left + clipped_width]
        for row in full[clipped_top : clipped_top + clipped_height]
    ]
    assert [[cell["qText"] for cell in row] for row in page["qMatrix"]] == expected
    assert page["qArea"] == {
        "qLeft": clipped_left,
        "qTop": clipped_top,
        "qWidth": clipped_width,
        "qHeight": clipped_height,
    }


def test_get_hypercube_data_with_several_pages_and_named_params(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    handle = create(rpc, table_def(["OrderId"], ["Sum(Amount)"]))
    pages = [{"qLeft": 0, "qTop": t, "qWidth": 2, "qHeight": 10} for t in range(0, 40, 10)]
    result = rpc.result(handle, "GetHyperCubeData", {"qPath": "/qHyperCubeDef", "qPages": pages})
    ids = [int(row[0]["qText"]) for page in result["qDataPages"] for row in page["qMatrix"]]
    order = SALES.fields.index("OrderId")
    assert ids == [row[order] for row in SALES.rows()]


def test_wrong_path_and_bad_pages_are_32602(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    handle = create(rpc, table_def(["Region"], []))
    error = rpc.error(handle, "GetHyperCubeData", ["/qListObjectDef", [{"qHeight": 1}]])
    assert error["code"] == -32602
    assert "qPath" in error["parameter"]
    error = rpc.error(handle, "GetHyperCubeData", ["/qHyperCubeDef", [{"qHeight": -1}]])
    assert error["code"] == -32602


def test_nested_cube_path(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    inner = table_def(["Product"], ["Count(OrderId)"])["qHyperCubeDef"]
    handle = create(rpc, {"qInfo": {"qType": "x"}, "chart": {"qHyperCubeDef": inner}})
    layout = rpc.result(handle, "GetLayout")["qLayout"]
    assert "qHyperCubeDef" not in layout["chart"]
    size = layout["chart"]["qHyperCube"]["qSize"]
    assert size == {"qcx": 2, "qcy": SALES.cardinal("Product")}
    page = {"qWidth": 2, "qHeight": 1}
    (data,) = rpc.result(handle, "GetHyperCubeData", ["/chart/qHyperCubeDef", [page]])["qDataPages"]
    first_product = next(iter(SALES.symbols("Product")))
    assert data["qMatrix"][0][0]["qText"] == first_product


def test_cubes_inside_lists(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    inner = table_def(["Year"], ["Sum(Quantity)"])["qHyperCubeDef"]
    props = {"qInfo": {"qType": "x"}, "charts": [{"name": "a"}, {"qHyperCubeDef": inner}]}
    handle = create(rpc, props)
    layout = rpc.result(handle, "GetLayout")["qLayout"]
    assert layout["charts"][0] == {"name": "a"}
    assert layout["charts"][1]["qHyperCube"]["qSize"]["qcy"] == SALES.cardinal("Year")
    page = [{"qWidth": 1, "qHeight": 1}]
    (data,) = rpc.result(handle, "GetHyperCubeData", ["/charts/1/qHyperCubeDef", page])[
        "qDataPages"
    ]
    assert data["qMatrix"][0][0]["qText"] == text_of(next(iter(SALES.symbols("Year"))))
    bad = {"qInfo": {"qType": "x"}, "charts": [{"qHyperCubeDef": {"qMeasures": 5}}]}
    assert rpc.error(1, "CreateSessionObject", [bad])["code"] == -32602


def test_bad_measure_and_bad_dimension_are_reported_in_the_layout(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    handle = create(rpc, table_def(["Region"], ["Sum(Price)", "Sum(Amount)"]))
    cube = rpc.result(handle, "GetLayout")["qLayout"]["qHyperCube"]
    assert "Price" in cube["qMeasureInfo"][0]["qError"]["qExtendedMessage"]
    assert cube["qMeasureInfo"][0]["qError"]["qErrorCode"] == 7000
    assert "qError" not in cube["qMeasureInfo"][1]
    page = {"qWidth": 3, "qHeight": 1}
    (data,) = rpc.result(handle, "GetHyperCubeData", ["/qHyperCubeDef", [page]])["qDataPages"]
    assert data["qMatrix"][0][1]["qText"] == "-"
    assert data["qMatrix"][0][1].get("qIsNull") is True

    handle = create(rpc, table_def(["Nope"], ["Sum(Amount)"]))
    cube = rpc.result(handle, "GetLayout")["qLayout"]["qHyperCube"]
    assert cube["qSize"]["qcy"] == 0
    assert "Nope" in cube["qError"]["qExtendedMessage"]


def test_malformed_cube_definition_is_refused(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    props = {"qInfo": {"qType": "t"}, "qHyperCubeDef": {"qDimensions": "Region"}}
    error = rpc.error(1, "CreateSessionObject", [props])
    assert error["code"] == -32602


def test_field_list(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    handle = create(rpc, {"qInfo": {"qType": "FieldList"}, "qFieldListDef": {"qShowSystem": False}})
    items = rpc.result(handle, "GetLayout")["qLayout"]["qFieldList"]["qItems"]
    assert [item["qName"] for item in items] == list(SALES.fields)
    for item in items:
        index = SALES.fields.index(item["qName"])
        assert item["qCardinal"] == len({row[index] for row in SALES.rows()})


def test_large_app_cube_pages_by_key_without_reading_the_table(tmp_path: Path) -> None:
    app = large_app(5_000_000)
    rpc = open_sales(tmp_path, app)
    handle = create(rpc, table_def(["OrderId", "Region"], ["Sum(Amount)"]))
    page = {"qLeft": 0, "qTop": 4_999_998, "qWidth": 3, "qHeight": 10}
    (data,) = rpc.result(handle, "GetHyperCubeData", ["/qHyperCubeDef", [page]])["qDataPages"]
    assert data["qArea"]["qHeight"] == 2
    for offset, cells in enumerate(data["qMatrix"]):
        row = app.row(4_999_998 + offset)
        assert [c["qText"] for c in cells] == [text_of(row[0]), text_of(row[1]), text_of(row[7])]
        assert cells[0]["qElemNumber"] == 4_999_998 + offset
    size = rpc.result(handle, "GetLayout")["qLayout"]["qHyperCube"]["qSize"]
    assert size == {"qcx": 3, "qcy": 5_000_000}
    assert app.app_id == LARGE_APP_ID


def test_a_fetch_of_more_than_10000_cells_is_refused(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    handle = create(rpc, table_def(["OrderId", "Region"], ["Sum(Amount)"]))
    # The areas asked for count, not what the cube can fill.
    too_big = [{"qWidth": 3, "qHeight": 3334}]
    error = rpc.error(handle, "GetHyperCubeData", ["/qHyperCubeDef", too_big])
    assert error["code"] == 7009
    two_pages = [{"qWidth": 2, "qHeight": 5000}, {"qWidth": 1, "qHeight": 1}]
    assert rpc.error(handle, "GetHyperCubeData", ["/qHyperCubeDef", two_pages])["code"] == 7009
    just_fits = [{"qWidth": 2, "qHeight": 5000}]
    (page,) = rpc.result(handle, "GetHyperCubeData", ["/qHyperCubeDef", just_fits])["qDataPages"]
    assert page["qArea"]["qHeight"] == SALES.row_count


def test_an_initial_fetch_of_more_than_10000_cells_gives_a_cube_error(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    props = table_def(["Region"], ["Sum(Amount)"], fetch=[{"qWidth": 2, "qHeight": 5001}])
    cube = rpc.result(create(rpc, props), "GetLayout")["qLayout"]["qHyperCube"]
    assert cube["qError"]["qErrorCode"] == 7009
    assert cube["qDataPages"] == []
    assert cube["qSize"]["qcy"] == SALES.cardinal("Region")


def test_a_malformed_initial_fetch_is_refused_at_creation(tmp_path: Path) -> None:
    rpc = open_sales(tmp_path)
    props = table_def(["Region"], [], fetch=[{"qWidth": 1, "qHeight": -5}])
    assert rpc.error(1, "CreateSessionObject", [props])["code"] == -32602
