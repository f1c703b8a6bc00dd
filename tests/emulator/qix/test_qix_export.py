"""ExportData: CSV content, the qUrl and export records, serve-once, limits, flat memory."""

from __future__ import annotations

import csv
import gc
import math
import re
import tracemalloc
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from qix_support import Rpc, table_def

from qlikauth.emulator.qix import App, Engine, EngineUser, Export, default_apps, large_app
from qlikauth.emulator.qix.data import SALES_APP_ID
from qlikauth.emulator.qix.values import Value, text_of

USER = EngineUser("CORP", "carol")
SALES = default_apps()[0]
URL_RE = re.compile(
    r"^/tempcontent/(?P<id>[0-9a-f-]{36})/(?P<name>[^/?]+)\?serverNodeId=(?P<node>[^&]+)$"
)


def session(engine: Engine, app: App, channel: str = "direct") -> Rpc:
    rpc = Rpc(engine.connect(USER, app.app_id, channel=channel))
    rpc.result(-1, "OpenDoc", [app.app_id])
    return rpc


def create(rpc: Rpc, props: dict[str, Any]) -> int:
    handle: int = rpc.result(1, "CreateSessionObject", [props])["qReturn"]["qHandle"]
    return handle


def export(engine: Engine, rpc: Rpc, handle: int, params: Any) -> tuple[Export, dict[str, Any]]:
    result = rpc.result(handle, "ExportData", params)
    match = URL_RE.match(result["qUrl"])
    assert match is not None, result["qUrl"]
    assert match["node"] == engine.server_node_id
    found = engine.find_export(match["id"], match["name"])
    assert found is not None
    assert found.path == engine.export_dir / match["id"] / match["name"]
    return found, result


def read_csv(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream, delimiter=delimiter))


def expected_table(app: App, dimensions: list[str], measure_field: str) -> list[list[str]]:
    indexes = [app.fields.index(d) for d in dimensions]
    measure = app.fields.index(measure_field)
    groups: dict[tuple[Value, ...], list[float]] = defaultdict(list)
    for row in app.rows():
        groups[tuple(row[i] for i in indexes)].append(float(row[measure]))  # type: ignore[arg-type]
    return [[*map(text_of, key), text_of(math.fsum(v))] for key, v in groups.items()]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(default_apps(), tmp_path / "state", server_node_id="0b6f-node")


@pytest.mark.parametrize(
    ("file_type", "delimiter"),
    [("CSV_C", ","), ("EXPORT_CSV_C", ","), (0, ","), ("CSV_T", "\t"), ("EXPORT_CSV_T", "\t")],
)
def test_csv_content_matches_the_table(engine: Engine, file_type: Any, delimiter: str) -> None:
    rpc = session(engine, SALES)
    props = table_def(["Region", "Country", "Product"], ["Sum(Amount)"])
    props["qHyperCubeDef"]["qDimensions"][1]["qDef"]["qFieldLabels"] = ["Land, country"]
    handle = create(rpc, props)
    found, result = export(engine, rpc, handle, [file_type, "/qHyperCubeDef"])
    assert result["qWarnings"] == []
    rows = read_csv(found.path, delimiter)
    assert rows[0] == ["Region", "Land, country", "Product", "Sum(Amount)"]
    assert rows[1:] == expected_table(SALES, ["Region", "Country", "Product"], "Amount")


def test_export_record_names_owner_channel_and_serve_once(engine: Engine) -> None:
    rpc = session(engine, SALES, channel="jwt")
    handle = create(rpc, table_def(["Region"], []))
    found, _ = export(
        engine,
        rpc,
        handle,
        {"qFileType": "CSV_C", "qPath": "/qHyperCubeDef", "qServeOnce": True},
    )
    assert found.owner == USER
    assert found.channel == "jwt"
    assert found.serve_once is True
    assert engine.counters["exports"] == 1


def test_serve_once_export_is_gone_after_it_was_served(engine: Engine) -> None:
    rpc = session(engine, SALES)
    handle = create(rpc, table_def(["Region"], []))
    once, result = export(engine, rpc, handle, ["CSV_C", "/qHyperCubeDef", "", "A", True])
    kept, kept_result = export(engine, rpc, handle, ["CSV_C", "/qHyperCubeDef"])
    match = URL_RE.match(result["qUrl"])
    kept_match = URL_RE.match(kept_result["qUrl"])
    assert match is not None
    assert kept_match is not None
    assert once.path.exists()
    engine.mark_served(match["id"], match["name"])
    assert engine.find_export(match["id"], match["name"]) is None
    assert not once.path.exists()
    engine.mark_served(kept_match["id"], kept_match["name"])
    assert engine.find_export(kept_match["id"], kept_match["name"]) == kept
    assert kept.path.exists()


def test_each_export_gets_its_own_url(engine: Engine) -> None:
    rpc = session(engine, SALES)
    handle = create(rpc, table_def(["Region"], []))
    urls = {rpc.result(handle, "ExportData", ["CSV_C", "/qHyperCubeDef"])["qUrl"] for _ in "abc"}
    assert len(urls) == 3


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (["XLS", "/qHyperCubeDef"], "qFileType"),
        (["CSV_C"], "qPath"),
        (["CSV_C", "/nothing/qHyperCubeDef"], "qPath"),
        (["CSV_C", "/qHyperCubeDef", "", "Z"], "qExportState"),
        ({"qFileType": True, "qPath": "/qHyperCubeDef"}, "qFileType"),
    ],
)
def test_bad_export_requests(engine: Engine, params: Any, fragment: str) -> None:
    rpc = session(engine, SALES)
    handle = create(rpc, table_def(["Region"], []))
    error = rpc.error(handle, "ExportData", params)
    assert error["code"] == -32602
    assert fragment in error["parameter"]
    assert not any(engine.export_dir.rglob("*.csv"))


@pytest.mark.parametrize("file_type", ["PARQUET", "EXPORT_PARQUET", 3])
def test_parquet_is_not_implemented(engine: Engine, file_type: Any) -> None:
    rpc = session(engine, SALES)
    handle = create(rpc, table_def(["Region"], []))
    error = rpc.error(handle, "ExportData", [file_type, "/qHyperCubeDef"])
    assert error["code"] == 20
    assert "qFileType" in error["parameter"]


def test_cell_limit_truncates_with_warning_1000(tmp_path: Path) -> None:
    engine = Engine([SALES], tmp_path, server_node_id="n", csv_cell_limit=25)
    rpc = session(engine, SALES)
    handle = create(rpc, table_def(["OrderId"], ["Sum(Amount)"]))
    found, result = export(engine, rpc, handle, ["CSV_C", "/qHyperCubeDef"])
    assert result["qWarnings"] == [1000]
    rows = read_csv(found.path, ",")
    assert len(rows) - 1 == 25 // 2
    order = SALES.fields.index("OrderId")
    assert [r[0] for r in rows[1:]] == [str(row[order]) for row in SALES.rows(0, 12)]


def test_too_many_columns_is_13000(engine: Engine) -> None:
    rpc = session(engine, SALES)
    handle = create(rpc, table_def(["Region"], ["Count(OrderId)"] * 1000))
    error = rpc.error(handle, "ExportData", ["CSV_C", "/qHyperCubeDef"])
    assert error["code"] == 13000


def test_close_deletes_export_files(engine: Engine) -> None:
    rpc = session(engine, SALES)
    handle = create(rpc, table_def(["Region"], []))
    found, _ = export(engine, rpc, handle, ["CSV_T", "/qHyperCubeDef"])
    engine.close()
    assert not found.path.exists()


LARGE_DIMENSIONS = ["OrderId", "Region", "Country", "Product", "Customer", "Year", "Quantity"]


def peak_export_memory(tmp_path: Path, rows: int) -> tuple[int, Export, App]:
    app = large_app(rows)
    engine = Engine([app], tmp_path / f"large-{rows}", server_node_id="n", csv_cell_limit=None)
    rpc = session(engine, app)
    handle = create(rpc, table_def(LARGE_DIMENSIONS, ["Sum(Amount)"]))
    gc.collect()
    tracemalloc.start()
    try:
        found, result = export(engine, rpc, handle, ["CSV_C", "/qHyperCubeDef"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["qWarnings"] == []
    return peak, found, app


@pytest.mark.slow
def test_large_export_streams_with_flat_memory(tmp_path: Path) -> None:
    small_peak, _, _ = peak_export_memory(tmp_path, 10_000)
    peak, found, app = peak_export_memory(tmp_path, 100_000)
    size = found.path.stat().st_size
    # Ten times the rows must not cost more memory: the table is never held.
    assert peak < small_peak + 1_000_000, (peak, small_peak)
    assert peak < size / 4, (peak, size)
    with found.path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        assert next(reader) == [*LARGE_DIMENSIONS, "Sum(Amount)"]
        count = 0
        for index, cells in enumerate(reader):
            if index % 997 == 0 or index == app.row_count - 1:
                assert cells == [text_of(v) for v in app.row(index)]
            count += 1
    assert count == app.row_count


def test_large_export_of_a_grouped_cube(tmp_path: Path) -> None:
    app = large_app(30_000)
    engine = Engine([app], tmp_path, server_node_id="n")
    rpc = session(engine, app)
    handle = create(rpc, table_def(["Region", "Product"], ["Sum(Amount)"]))
    found, _ = export(engine, rpc, handle, ["CSV_C", "/qHyperCubeDef"])
    assert read_csv(found.path, ",")[1:] == expected_table(app, ["Region", "Product"], "Amount")


def test_sales_app_is_the_default_first_app() -> None:
    assert SALES.app_id == SALES_APP_ID
    assert SALES.name == "Sales"
    assert 20 <= SALES.row_count <= 50


SHEET_NS = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def read_xlsx(path: Path) -> list[list[str | float | None]]:
    """The first sheet's cells: numbers as floats, inline strings as text, gaps as None."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"} <= names
        # The file is the one this test just had the engine write.
        root = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))  # noqa: S314
    table: list[list[str | float | None]] = []
    for number, row in enumerate(root.iterfind("s:sheetData/s:row", SHEET_NS), start=1):
        assert row.get("r") == str(number)
        cells: list[str | float | None] = []
        for cell in row.iterfind("s:c", SHEET_NS):
            ref = cell.get("r") or ""
            column = ord(ref[0]) - ord("A")
            cells.extend([None] * (column - len(cells)))
            if cell.get("t") == "inlineStr":
                cells.append(cell.findtext("s:is/s:t", default="", namespaces=SHEET_NS))
            else:
                cells.append(float(cell.findtext("s:v", default="nan", namespaces=SHEET_NS)))
        table.append(cells)
    return table


@pytest.mark.parametrize("file_type", ["OOXML", "EXPORT_OOXML", 2])
def test_ooxml_export_holds_numbers_and_texts(engine: Engine, file_type: Any) -> None:
    rpc = session(engine, SALES)
    props = table_def(["Country", "Year"], ["Sum(Amount)", "Only(Product) & ' <&>'"])
    handle = create(rpc, props)
    found, result = export(engine, rpc, handle, [file_type, "/qHyperCubeDef"])
    assert found.path.suffix == ".xlsx"
    assert result["qWarnings"] == []
    table = read_xlsx(found.path)
    assert table[0] == ["Country", "Year", "Sum(Amount)", "Only(Product) & ' <&>'"]
    country, year = SALES.fields.index("Country"), SALES.fields.index("Year")
    amount, product = SALES.fields.index("Amount"), SALES.fields.index("Product")
    groups: dict[tuple[Value, ...], list[tuple[Value, ...]]] = defaultdict(list)
    for row in SALES.rows():
        groups[(row[country], row[year])].append(row)
    expected = []
    for (name, when), rows in groups.items():
        products = {r[product] for r in rows}
        only = f"{products.pop()} <&>" if len(products) == 1 else " <&>"
        total = math.fsum(r[amount] for r in rows)  # type: ignore[misc]
        expected.append([name, float(when), total, only])  # type: ignore[arg-type]
    assert len(table) - 1 == len(expected)
    for got, want in zip(table[1:], expected, strict=True):
        assert got[0] == want[0]
        assert got[1] == want[1]
        assert got[2] == pytest.approx(want[2])
        assert got[3] == want[3]


def test_ooxml_export_streams_a_large_app(tmp_path: Path) -> None:
    app = large_app(20_000)
    engine = Engine([app], tmp_path, server_node_id="n")
    rpc = session(engine, app)
    handle = create(rpc, table_def(["OrderId", "Customer"], ["Sum(Quantity)"]))
    found, _ = export(engine, rpc, handle, ["OOXML", "/qHyperCubeDef"])
    table = read_xlsx(found.path)
    assert len(table) == app.row_count + 1
    for index in (0, 1, 9_999, app.row_count - 1):
        row = app.row(index)
        assert table[index + 1] == [float(row[0]), row[4], float(row[6])]  # type: ignore[arg-type]
