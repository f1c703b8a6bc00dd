"""Apps and their data: small deterministic tables, and a large table generated on the fly.

An app holds one table. Rows are read by index (``row_at``), so a ten-million-row app is a
function, not a list: nothing reads the whole table into memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

from qlikauth.emulator.qix.values import Value

__all__ = [
    "INVENTORY_APP_ID",
    "LARGE_APP_ID",
    "SALES_APP_ID",
    "App",
    "Row",
    "default_apps",
    "large_app",
]

Row = tuple[Value, ...]
"""One row of an app's table, in the order of ``App.fields``."""

SALES_APP_ID = "4f3c2a1b-6d5e-4a7b-9c8d-0e1f2a3b4c5d"
INVENTORY_APP_ID = "8a7b6c5d-4e3f-4a2b-8c1d-9e0f1a2b3c4d"
LARGE_APP_ID = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"

_RELOAD_TIME = "2026-01-15T08:30:00.000Z"


class App:
    """A Qlik app as the engine model sees it: id, name, stream and one table.

    ``row_at(i)`` returns row ``i`` (0-based) of ``row_count`` rows. ``key_fields`` are fields
    whose value is unique per row (a hypercube with one as a dimension has a row per table
    row, which lets exports stream). If the other fields repeat every ``period`` rows, say so:
    their value lists are then read from the first period only.
    """

    def __init__(
        self,
        app_id: str,
        name: str,
        fields: Sequence[str],
        row_count: int,
        row_at: Callable[[int], Row],
        *,
        key_fields: Sequence[str] = (),
        period: int | None = None,
        stream: str = "Everyone",
        description: str = "",
        last_reload_time: str = _RELOAD_TIME,
    ) -> None:
        if len(set(fields)) != len(fields):
            raise ValueError(f"app {name!r} has duplicate field names")
        unknown = set(key_fields) - set(fields)
        if unknown:
            raise ValueError(f"app {name!r}: key fields {sorted(unknown)} are not fields")
        if row_count < 0:
            raise ValueError("row_count must not be negative")
        self.app_id = app_id
        self.name = name
        self.fields: tuple[str, ...] = tuple(fields)
        self.row_count = row_count
        self.key_fields = frozenset(key_fields)
        self.stream = stream
        self.description = description
        self.last_reload_time = last_reload_time
        self._row_at = row_at
        self._period = period
        self._index = {field: i for i, field in enumerate(self.fields)}
        self._symbols: dict[str, dict[Value, int]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_rows(
        cls,
        app_id: str,
        name: str,
        fields: Sequence[str],
        rows: Sequence[Row],
        *,
        key_fields: Sequence[str] = (),
        stream: str = "Everyone",
        description: str = "",
    ) -> App:
        """An app over rows held in memory (small apps)."""
        table = tuple(tuple(row) for row in rows)
        for row in table:
            if len(row) != len(fields):
                raise ValueError(f"app {name!r}: row {row!r} does not have {len(fields)} cells")
        for key in key_fields:
            column = fields.index(key)
            if len({row[column] for row in table}) != len(table):
                raise ValueError(f"app {name!r}: key field {key!r} repeats a value")
        return cls(
            app_id,
            name,
            fields,
            len(table),
            table.__getitem__,
            key_fields=key_fields,
            stream=stream,
            description=description,
        )

    def __repr__(self) -> str:
        return f"App(app_id={self.app_id!r}, name={self.name!r}, rows={self.row_count})"

    def row(self, index: int) -> Row:
        """Row ``index`` (0-based)."""
        return self._row_at(index)

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[Row]:
        """Rows ``start`` to ``stop`` (exclusive), generated one at a time."""
        end = self.row_count if stop is None else min(stop, self.row_count)
        row_at = self._row_at
        for index in range(max(start, 0), end):
            yield row_at(index)

    def field_index(self, field: str) -> int | None:
        """The column of ``field``, or None when the app has no such field."""
        return self._index.get(field)

    def symbols(self, field: str) -> Mapping[Value, int]:
        """The field's distinct non-null values in load order, each with its element number."""
        with self._lock:
            table = self._symbols.get(field)
            if table is None:
                table = self._scan_symbols(field)
                self._symbols[field] = table
            return table

    def cardinal(self, field: str) -> int:
        """How many distinct non-null values ``field`` has."""
        if field in self.key_fields:
            return self.row_count
        return len(self.symbols(field))

    def elem_number(self, field: str, value: Value, row_index: int) -> int:
        """The element number of ``value`` in ``field`` (-2 for null, as the engine sends)."""
        if value is None:
            return -2
        if field in self.key_fields:
            return row_index
        return self.symbols(field).get(value, -2)

    def _scan_symbols(self, field: str) -> dict[Value, int]:
        column = self._index[field]
        stop = self.row_count if self._period is None else min(self.row_count, self._period)
        table: dict[Value, int] = {}
        for row in self.rows(0, stop):
            value = row[column]
            if value is not None and value not in table:
                table[value] = len(table)
        return table


_SALES_FIELDS = ("OrderId", "Region", "Country", "Product", "Year", "Quantity", "Amount")
_COUNTRIES = (
    ("Europe", "Sweden"),
    ("Europe", "Germany"),
    ("Americas", "USA"),
    ("Europe", "France"),
    ("Asia", "Japan"),
    ("Americas", "Brazil"),
    ("Asia", "India"),
)
_PRODUCTS = (("Bike", 450.0), ("Helmet", 55.5), ("Lock", 19.9), ("Pump", 24.25))
_YEARS = (2023, 2024, 2025)


def _sales_rows() -> list[Row]:
    rows: list[Row] = []
    for i in range(36):
        region, country = _COUNTRIES[(i * 3) % len(_COUNTRIES)]
        product, price = _PRODUCTS[(i * 5 + i // 7) % len(_PRODUCTS)]
        year = _YEARS[(i // 2) % len(_YEARS)]
        quantity = 1 + (i * 7) % 9
        amount = round(quantity * price, 2)
        rows.append((10001 + i, region, country, product, year, quantity, amount))
    return rows


def _inventory_rows() -> list[Row]:
    items = (("Bike", 310.0), ("Helmet", 31.0), ("Lock", 9.5), ("Pump", 12.0), ("Bell", 3.2))
    rows: list[Row] = []
    for w, warehouse in enumerate(("Malmö", "Lyon", "Osaka")):
        for n, (item, unit_cost) in enumerate(items):
            stock = (w * 17 + n * 11) % 40 + (0 if (w + n) % 4 else 5)
            rows.append((warehouse, item, stock, unit_cost))
    return rows


def default_apps() -> list[App]:
    """The apps every emulator has: ``Sales`` and ``Inventory`` (fixed ids and data)."""
    return [
        App.from_rows(
            SALES_APP_ID,
            "Sales",
            _SALES_FIELDS,
            _sales_rows(),
            key_fields=("OrderId",),
            description="Bicycle shop orders, 36 rows",
        ),
        App.from_rows(
            INVENTORY_APP_ID,
            "Inventory",
            ("Warehouse", "Item", "Stock", "UnitCost"),
            _inventory_rows(),
            stream="Operations",
            description="Stock per warehouse, 15 rows",
        ),
    ]


# Every field but OrderId repeats with this period, so a field's values are known after it.
_LARGE_PERIOD = 9973
_LARGE_CUSTOMERS = 500


def _large_row(index: int) -> Row:
    phase = index % _LARGE_PERIOD
    # A multiplicative hash spreads the phase over the small value lists deterministically.
    h = (phase * 2654435761) & 0xFFFFFFFF
    region, country = _COUNTRIES[h % len(_COUNTRIES)]
    product, price = _PRODUCTS[(h >> 3) % len(_PRODUCTS)]
    year = _YEARS[(h >> 6) % len(_YEARS)]
    quantity = 1 + (h >> 9) % 20
    customer = f"Customer {(h >> 14) % _LARGE_CUSTOMERS:04d}"
    amount = round(quantity * price, 2)
    return (index + 1, region, country, product, customer, year, quantity, amount)


def large_app(rows: int, app_id: str = LARGE_APP_ID, name: str = "Large") -> App:
    """An app of ``rows`` generated rows (for export benchmarks); no row is stored."""
    return App(
        app_id,
        name,
        ("OrderId", "Region", "Country", "Product", "Customer", "Year", "Quantity", "Amount"),
        rows,
        _large_row,
        key_fields=("OrderId",),
        period=_LARGE_PERIOD,
        description=f"Generated orders, {rows} rows",
    )
