"""Hypercubes and field lists: what a ``qHyperCubeDef`` or ``qFieldListDef`` lays out as.

Rows are grouped by the dimensions in load order (the engine's default with no sort
criteria) and each measure is computed per group with the expression evaluator. When a
dimension is one of the app's key fields every group is one table row, so rows are computed
on demand by index and an export streams without holding the table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qlikauth.emulator.qix.data import App, Row
from qlikauth.emulator.qix.expressions import Expression, ExpressionError, compile_expression
from qlikauth.emulator.qix.values import Value, is_number, json_number, text_of

__all__ = [
    "CALC_PAGES_TOO_LARGE",
    "MAX_PAGE_CELLS",
    "DefinitionError",
    "HyperCube",
    "field_list",
    "requested_cells",
]

_NUM_FORMAT = {"qType": "U", "qnDec": 10, "qUseThou": 0}
# LocalizedErrorCode values from enigma.js's schema (which error goes where is INFERRED).
_CALC_INVALID_DEF = 7000
CALC_PAGES_TOO_LARGE = 7009
MAX_PAGE_CELLS = 10_000
"""Most cells one data fetch may ask for (the rectangles' areas, before clipping)."""


class DefinitionError(ValueError):
    """A ``qHyperCubeDef`` that is not shaped like one (wrong types)."""


@dataclass(frozen=True)
class _Dimension:
    field: str
    label: str
    column: int
    error: str | None


@dataclass(frozen=True)
class _Measure:
    label: str
    expression: Expression | None
    error: str | None


def _strip_brackets(name: str) -> str:
    name = name.strip()
    if name.startswith("[") and name.endswith("]"):
        return name[1:-1].replace("]]", "]")
    return name


def _list_of_dicts(definition: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = definition.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise DefinitionError(f"{key} must be a list of objects")
    return items


def _def_of(item: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    inner = item.get("qDef", {})
    if not isinstance(inner, dict):
        raise DefinitionError(f"{where}.qDef must be an object")
    return inner


def _error(message: str, context: str = "") -> dict[str, Any]:
    """An ``NxValidationError``; ``qContext`` names the field or object when there is one."""
    return {"qErrorCode": _CALC_INVALID_DEF, "qContext": context, "qExtendedMessage": message}


def _tags(values: Sequence[Value]) -> list[str]:
    if values and all(is_number(value) for value in values):
        integer = all(float(value).is_integer() for value in values)  # type: ignore[arg-type]
        return ["$numeric", "$integer"] if integer else ["$numeric"]
    if values and all(isinstance(value, str) and value.isascii() for value in values):
        return ["$ascii", "$text"]
    return ["$text"]


def _field_sample(app: App, field: str) -> list[Value]:
    if field in app.key_fields:
        column = app.field_index(field)
        assert column is not None
        return [app.row(0)[column], app.row(app.row_count - 1)[column]] if app.row_count else []
    return list(app.symbols(field))


class HyperCube:
    """One hypercube over an app: size, dimension and measure info, pages, export rows."""

    def __init__(self, app: App, definition: Mapping[str, Any]) -> None:
        self.app = app
        self.dimensions = [self._dimension(d) for d in _list_of_dicts(definition, "qDimensions")]
        self.measures = [self._measure(m) for m in _list_of_dicts(definition, "qMeasures")]
        initial = definition.get("qInitialDataFetch", [])
        if not isinstance(initial, list) or not all(isinstance(p, dict) for p in initial):
            raise DefinitionError("qInitialDataFetch must be a list of NxPage objects")
        requested_cells(initial)  # malformed pages fail at creation, not at GetLayout
        self.initial_fetch: list[Mapping[str, Any]] = initial
        self._wrong = next((d for d in self.dimensions if d.error), None)
        self.error = self._wrong.error if self._wrong is not None else None
        self._per_row = any(d.field in app.key_fields for d in self.dimensions)
        self._groups: list[tuple[tuple[Value, ...], int, list[Value]]] | None = None
        self._lock = threading.Lock()

    def _dimension(self, item: Mapping[str, Any]) -> _Dimension:
        inner = _def_of(item, "qDimensions[]")
        field_defs = inner.get("qFieldDefs", [])
        labels = inner.get("qFieldLabels", [])
        if not isinstance(field_defs, list) or not isinstance(labels, list):
            raise DefinitionError("qFieldDefs and qFieldLabels must be lists")
        raw = field_defs[0] if field_defs and isinstance(field_defs[0], str) else ""
        field = _strip_brackets(raw)
        label = labels[0] if labels and isinstance(labels[0], str) and labels[0] else field
        column = self.app.field_index(field)
        if raw.lstrip().startswith("="):
            return _Dimension(field, label, -1, "Calculated dimensions are not supported")
        if column is None:
            return _Dimension(field, label, -1, f"Bad field name(s): {field}")
        return _Dimension(field, label, column, None)

    def _measure(self, item: Mapping[str, Any]) -> _Measure:
        inner = _def_of(item, "qMeasures[]")
        text = inner.get("qDef", "")
        label = inner.get("qLabel", "")
        if not isinstance(text, str) or not isinstance(label, str):
            raise DefinitionError("qMeasures[].qDef.qDef and qLabel must be strings")
        title = label or text.strip().removeprefix("=").strip()
        try:
            return _Measure(title, compile_expression(text, self.app.fields), None)
        except ExpressionError as exc:
            return _Measure(title, None, str(exc))

    @property
    def width(self) -> int:
        """qcx: dimensions plus measures."""
        return len(self.dimensions) + len(self.measures)

    @property
    def height(self) -> int:
        """qcy: the number of rows."""
        if self.error is not None:
            return 0
        if self._per_row:
            return self.app.row_count
        return len(self._all_groups())

    def _measure_values(self, rows: Iterable[Row]) -> list[Value]:
        """Every measure over ``rows``, in one pass."""
        expressions = [m.expression for m in self.measures]
        states = [e.start() if e is not None else None for e in expressions]
        for row in rows:
            for expression, state in zip(expressions, states, strict=True):
                if expression is not None and state is not None:
                    expression.feed(state, row)
        return [
            e.finish(s) if e is not None and s is not None else None
            for e, s in zip(expressions, states, strict=True)
        ]

    def _all_groups(self) -> list[tuple[tuple[Value, ...], int, list[Value]]]:
        with self._lock:
            if self._groups is None:
                self._groups = self._compute_groups()
            return self._groups

    def _compute_groups(self) -> list[tuple[tuple[Value, ...], int, list[Value]]]:
        if not self.dimensions:
            return [((), 0, self._measure_values(self.app.rows()))] if self.measures else []
        expressions = [m.expression for m in self.measures]
        columns = [d.column for d in self.dimensions]
        states: dict[tuple[Value, ...], tuple[int, list[Any]]] = {}
        for index, row in enumerate(self.app.rows()):
            key = tuple(row[c] for c in columns)
            entry = states.get(key)
            if entry is None:
                entry = (index, [e.start() if e else None for e in expressions])
                states[key] = entry
            for expression, state in zip(expressions, entry[1], strict=True):
                if expression is not None:
                    expression.feed(state, row)
        groups = []
        for key, (first, accumulators) in states.items():
            values = [
                e.finish(s) if e is not None else None
                for e, s in zip(expressions, accumulators, strict=True)
            ]
            groups.append((key, first, values))
        return groups

    def _row(self, index: int) -> tuple[tuple[Value, ...], int, list[Value]]:
        """Row ``index``: dimension values, the first table row in it, measure values."""
        if self._per_row:
            return next(self._rows(index, index + 1))
        return self._all_groups()[index]

    def _rows(self, start: int, stop: int) -> Iterator[tuple[tuple[Value, ...], int, list[Value]]]:
        if self._per_row:
            columns = [d.column for d in self.dimensions]
            expressions = [m.expression for m in self.measures]
            for offset, row in enumerate(self.app.rows(start, stop)):
                key = tuple([row[c] for c in columns])
                values = [e.evaluate_row(row) if e is not None else None for e in expressions]
                yield key, start + offset, values
        else:
            for index in range(start, stop):
                yield self._row(index)

    def page(self, page: Mapping[str, Any]) -> dict[str, Any]:
        """One ``NxDataPage`` for an ``NxPage`` rectangle, clipped to the cube."""
        left, top, width, height = (
            _page_int(page, "qLeft"),
            _page_int(page, "qTop"),
            _page_int(page, "qWidth"),
            _page_int(page, "qHeight"),
        )
        total_height = self.height
        left = min(left, self.width)
        top = min(top, total_height)
        width = min(width, self.width - left)
        height = min(height, total_height - top)
        matrix = []
        if width > 0:
            for key, first, values in self._rows(top, top + height):
                cells = self._cells(key, first, values)
                matrix.append(cells[left : left + width])
        else:
            height = 0
        area = {"qLeft": left, "qTop": top, "qWidth": width, "qHeight": height}
        return {"qMatrix": matrix, "qTails": [], "qArea": area}

    def _cells(self, key: tuple[Value, ...], first: int, values: list[Value]) -> list[Any]:
        cells: list[dict[str, Any]] = []
        for dimension, value in zip(self.dimensions, key, strict=True):
            cell = {
                "qText": text_of(value),
                "qNum": json_number(value),
                "qElemNumber": self.app.elem_number(dimension.field, value, first),
                "qState": "O",
            }
            if value is None:
                cell["qIsNull"] = True
            cells.append(cell)
        for value in values:
            cell = {"qText": text_of(value), "qNum": json_number(value), "qElemNumber": 0}
            cell["qState"] = "L"
            if value is None:
                cell["qIsNull"] = True
                cell["qElemNumber"] = -2
            cells.append(cell)
        return cells

    def layout(self) -> dict[str, Any]:
        """The ``qHyperCube`` layout, with the pages ``qInitialDataFetch`` asked for."""
        layout: dict[str, Any] = {
            "qSize": {"qcx": self.width, "qcy": self.height},
            "qDimensionInfo": [self._dimension_info(d) for d in self.dimensions],
            "qMeasureInfo": [self._measure_info(m) for m in self.measures],
            "qEffectiveInterColumnSortOrder": list(range(self.width)),
            "qGrandTotalRow": [],
            "qDataPages": [],
            "qPivotDataPages": [],
            "qStackedDataPages": [],
            "qMode": "S",
            "qNoOfLeftDims": -1,
            "qIndentMode": False,
            "qHasOtherValues": False,
        }
        if self.error is not None:
            layout["qError"] = _error(self.error, self._wrong.field if self._wrong else "")
        elif requested_cells(self.initial_fetch) > MAX_PAGE_CELLS:
            layout["qError"] = {"qErrorCode": CALC_PAGES_TOO_LARGE}
        else:
            layout["qDataPages"] = [self.page(p) for p in self.initial_fetch]
        return layout

    def _dimension_info(self, dimension: _Dimension) -> dict[str, Any]:
        info: dict[str, Any] = {
            "qFallbackTitle": dimension.label,
            "qApprMaxGlyphCount": 0,
            "qCardinal": 0,
            "qSortIndicator": "N",
            "qGroupFallbackTitles": [dimension.label],
            "qGroupPos": 0,
            "qTags": [],
            "qDimensionType": "D",
            "qGrouping": "N",
            "qNumFormat": dict(_NUM_FORMAT),
            "qIsAutoFormat": True,
            "qGroupFieldDefs": [dimension.field],
        }
        if dimension.error is not None:
            info["qError"] = _error(dimension.error, dimension.field)
            return info
        sample = _field_sample(self.app, dimension.field)
        info["qCardinal"] = self.app.cardinal(dimension.field)
        info["qApprMaxGlyphCount"] = max((len(text_of(v)) for v in sample), default=0)
        info["qTags"] = _tags(sample)
        info["qDimensionType"] = "N" if "$numeric" in info["qTags"] else "D"
        return info

    def _measure_info(self, measure: _Measure) -> dict[str, Any]:
        info: dict[str, Any] = {
            "qFallbackTitle": measure.label,
            "qApprMaxGlyphCount": 0,
            "qCardinal": 0,
            "qSortIndicator": "N",
            "qNumFormat": dict(_NUM_FORMAT),
            "qIsAutoFormat": True,
        }
        if measure.error is not None:
            info["qError"] = _error(measure.error)
        return info

    def header(self) -> list[str]:
        """Column titles: dimension labels, then measure labels."""
        return [d.label for d in self.dimensions] + [m.label for m in self.measures]

    def value_rows(self, limit: int | None = None) -> Iterator[list[Value]]:
        """Every row's values (dimensions, then measures), one at a time (for exports)."""
        stop = self.height if limit is None else min(limit, self.height)
        if not self._per_row:
            for key, _first, values in self._rows(0, stop):
                yield [*key, *values]
            return
        # The streaming path: one table row in, one line out, nothing kept.
        columns = [d.column for d in self.dimensions]
        expressions = [m.expression for m in self.measures]
        for row in self.app.rows(0, stop):
            line = [row[c] for c in columns]
            for expression in expressions:
                line.append(expression.evaluate_row(row) if expression else None)
            yield line

    def text_rows(self, limit: int | None = None) -> Iterator[list[str]]:
        """Every row as display texts, one at a time (for CSV exports)."""
        for values in self.value_rows(limit):
            yield [text_of(value) for value in values]


def _page_int(page: Mapping[str, Any], key: str) -> int:
    value = page.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DefinitionError(f"{key} must be a non-negative number")
    return int(value)


def requested_cells(pages: Sequence[Mapping[str, Any]]) -> int:
    """How many cells ``pages`` ask for in all (``DefinitionError`` for malformed pages)."""
    return sum(_page_int(p, "qWidth") * _page_int(p, "qHeight") for p in pages)


def field_list(app: App, definition: Mapping[str, Any]) -> dict[str, Any]:
    """The ``qFieldList`` layout for a ``qFieldListDef``: one item per field of the app."""
    items = []
    for field in app.fields:
        sample = _field_sample(app, field)
        items.append(
            {
                "qName": field,
                "qCardinal": app.cardinal(field),
                "qTags": _tags(sample),
                "qIsSystem": False,
                "qIsHidden": False,
                "qIsSemantic": False,
                "qAndMode": False,
            }
        )
    del definition  # qShowSystem and friends change nothing: the emulator has no system fields
    return {"qItems": items}
