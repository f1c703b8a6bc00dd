"""The engine objects' helpers as flows, with no I/O: generators of call batches.

A flow yields a batch of :class:`Call` values (sent pipelined), receives their results and
returns a value; :func:`on_handle` binds a flow to the handle it runs on and to a timeout,
and the object's driver (sync or asyncio) sends each :class:`Batch`. The helpers of
:mod:`qlikauth.engine.objects` are written once this way.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias, TypeVar

from qlikauth.engine.messages import JsonObject, JsonValue, ObjectInterface, Params
from qlikauth.engine.values import Cell, DocInfo, FieldValue, Row
from qlikauth.errors import EngineError, ExpressionError

__all__ = [
    "MAX_PAGE_CELLS",
    "Batch",
    "Call",
    "Flow",
    "Steps",
    "call_steps",
    "checked_expression",
    "cube_errors",
    "data_flow",
    "doc_list_flow",
    "engine_version_flow",
    "evaluate_flow",
    "export_flow",
    "hypercube_properties",
    "object_flow",
    "on_handle",
    "params_of",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The engine's limit of cells per ``GetHyperCubeData`` page.
MAX_PAGE_CELLS = 10_000


class Call(NamedTuple):
    """One engine call a flow needs: method and params (by name or position)."""

    method: str
    params: Params | None = ()


#: A helper's logic: yields batches of calls, receives their results, returns ``T``.
Flow: TypeAlias = Generator[list[Call], list[JsonObject], T]


class Batch(NamedTuple):
    """Calls to send pipelined on ``handle``, each answered within ``timeout``."""

    handle: int
    calls: Sequence[Call]
    timeout: float | None


#: A flow bound to a handle: what an object's (or a connection's) driver runs.
Steps: TypeAlias = Generator[Batch, list[JsonObject], T]


def on_handle(handle: int, flow: Flow[T], timeout: float | None) -> Steps[T]:
    """``flow``'s batches, sent on ``handle`` within ``timeout``."""
    results: Any = None
    try:
        while True:
            calls = flow.send(results)
            results = yield Batch(handle, calls, timeout)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


def call_steps(
    handle: int, method: str, params: Params | None, timeout: float | None
) -> Steps[JsonObject]:
    """One call on ``handle`` and its raw result (the hot path: one generator, not two)."""
    (result,) = yield Batch(handle, [Call(method, params)], timeout)
    return result


def params_of(method: str, args: tuple[object, ...], named: Mapping[str, object]) -> Params:
    """Call parameters by position or by name (JSON-RPC cannot mix them)."""
    if args and named:
        raise TypeError(
            f"{method}: give parameters either by position or by name, not both "
            "(JSON-RPC cannot mix them)"
        )
    return dict(named) if named else list(args)


def _returned_object(result: JsonObject, method: str) -> ObjectInterface:
    interface = ObjectInterface.from_json(result.get("qReturn"))
    if interface is None:
        raise EngineError(
            f"{method} returned no object (no qReturn with a qHandle)",
            code=-1,
            method=method,
        )
    return interface


def object_flow(method: str, params: Params) -> Flow[ObjectInterface]:
    """One call that returns an object (``qReturn``)."""
    (result,) = yield [Call(method, params)]
    return _returned_object(result, method)


#: What to change, for an expression the engine refused.
_EXPRESSION_HINT = (
    "Check brackets, commas and quotes; field names are case sensitive, and a name with "
    'spaces goes in [brackets] (qlikauth eval APP "Count(Distinct [Field Name])").'
)


def _bad_field_names(expression: str, ranges: JsonValue) -> list[str]:
    """The text of each ``NxRange`` of ``qBadFieldNames``, brackets and quotes dropped."""
    names: list[str] = []
    for item in ranges if isinstance(ranges, list) else []:
        start = item.get("qFrom") if isinstance(item, dict) else None
        count = item.get("qCount") if isinstance(item, dict) else None
        if isinstance(start, int) and isinstance(count, int) and count > 0:
            name = expression[start : start + count].strip().strip('[]"')
            if name and name not in names:
                names.append(name)
    return names


def checked_expression(expression: str, check: JsonObject) -> None:
    """Raise :class:`ExpressionError` when ``CheckExpression`` found ``expression`` wrong.

    A ``qErrorMsg`` or ``qBadFieldNames`` fails; ``qDangerousFieldNames`` (names the engine
    can compute but warns about) is logged, as the expression still evaluates.
    """
    message = check.get("qErrorMsg")
    message = message.strip() if isinstance(message, str) else ""
    bad = _bad_field_names(expression, check.get("qBadFieldNames"))
    dangerous = _bad_field_names(expression, check.get("qDangerousFieldNames"))
    if dangerous:
        logger.warning("the engine warns about field names in %r: %s", expression, dangerous)
    if not message and not bad:
        return
    message = message or f"Bad field name(s): {', '.join(bad)}"
    raise ExpressionError(
        f"the engine refused the expression {expression!r}: {message}",
        expression=expression,
        bad_fields=bad,
        engine_message=message,
        method="CheckExpression",
        hint=_EXPRESSION_HINT,
    )


def evaluate_flow(expression: str) -> Flow[FieldValue]:
    """``Doc.CheckExpression`` and ``Doc.EvaluateEx``, pipelined: the value of a valid
    expression, else :class:`ExpressionError` (the engine answers an error as text)."""
    check, result = yield [
        Call("CheckExpression", {"qExpr": expression}),
        Call("EvaluateEx", {"qExpression": expression}),
    ]
    checked_expression(expression, check)
    return FieldValue.from_json(result.get("qValue"))


def doc_list_flow() -> Flow[list[DocInfo]]:
    """``Global.GetDocList``."""
    (result,) = yield [Call("GetDocList")]
    entries = result.get("qDocList")
    return [DocInfo.from_json(e) for e in entries] if isinstance(entries, list) else []


def engine_version_flow() -> Flow[str]:
    """``Global.EngineVersion``."""
    (result,) = yield [Call("EngineVersion")]
    version = result.get("qVersion")
    component = version.get("qComponentVersion") if isinstance(version, dict) else None
    return component if isinstance(component, str) else ""


def hypercube_properties(
    dimensions: Sequence[str | Mapping[str, object]],
    measures: Sequence[str | Mapping[str, object]],
    *,
    object_type: str = "qlikauth-hypercube",
    object_id: str | None = None,
) -> dict[str, object]:
    """Session object properties for a straight table of ``dimensions`` and ``measures``.

    A dimension is a field name (or ``=expression``) or a full ``NxDimension``; a measure is
    an expression such as ``Sum(Amount)`` or a full ``NxMeasure``.
    """
    dims: list[object] = [
        {"qDef": {"qFieldDefs": [d]}} if isinstance(d, str) else dict(d) for d in dimensions
    ]
    meas: list[object] = [
        {"qDef": {"qDef": m}} if isinstance(m, str) else dict(m) for m in measures
    ]
    info: dict[str, object] = {"qType": object_type}
    if object_id is not None:
        info["qId"] = object_id
    return {
        "qInfo": info,
        "qHyperCubeDef": {
            "qDimensions": dims,
            "qMeasures": meas,
            "qMode": "S",
            "qSuppressZero": False,
            "qSuppressMissing": False,
            "qInitialDataFetch": [],
        },
    }


def _layout_at(layout: JsonObject, path: str) -> JsonObject:
    """The layout part a property path points at: ``/qHyperCubeDef`` -> ``qHyperCube``."""
    node: JsonValue = layout
    for segment in (s for s in path.split("/") if s):
        key = segment[:-3] if segment.endswith("Def") else segment
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _size(cube: JsonObject) -> tuple[int, int]:
    size = cube.get("qSize")
    if not isinstance(size, dict):
        return 0, 0
    width, height = size.get("qcx"), size.get("qcy")
    return (
        width if isinstance(width, int) else 0,
        height if isinstance(height, int) else 0,
    )


def data_flow(
    path: str = "/qHyperCubeDef",
    *,
    max_rows: int | None = None,
    page_cells: int = MAX_PAGE_CELLS,
    in_flight: int = 4,
) -> Flow[list[Row]]:
    """All rows of a hypercube, page by page, ``in_flight`` pages pipelined at a time."""
    if not 1 <= page_cells <= MAX_PAGE_CELLS:
        raise ValueError(f"page_cells must be between 1 and {MAX_PAGE_CELLS}")
    (result,) = yield [Call("GetLayout")]
    layout = result.get("qLayout")
    width, height = _size(_layout_at(layout if isinstance(layout, dict) else {}, path))
    if max_rows is not None:
        height = min(height, max(max_rows, 0))
    if width <= 0 or height <= 0:
        return []
    page_height = max(1, page_cells // width)
    tops = list(range(0, height, page_height))
    rows: list[Row] = []
    for start in range(0, len(tops), max(1, in_flight)):
        batch = tops[start : start + max(1, in_flight)]
        calls = [
            Call(
                "GetHyperCubeData",
                {
                    "qPath": path,
                    "qPages": [
                        {
                            "qTop": top,
                            "qLeft": 0,
                            "qWidth": width,
                            "qHeight": min(page_height, height - top),
                        }
                    ],
                },
            )
            for top in batch
        ]
        for page_result in (yield calls):
            pages = page_result.get("qDataPages")
            for page in pages if isinstance(pages, list) else []:
                matrix = page.get("qMatrix") if isinstance(page, dict) else None
                for row in matrix if isinstance(matrix, list) else []:
                    if isinstance(row, list):
                        rows.append([Cell.from_json(c) for c in row])
    return rows


class _CubeProblem(NamedTuple):
    """One ``NxValidationError`` of a hypercube layout, and the column that reports it."""

    title: str
    code: int
    context: str
    message: str


def _problem(title: JsonValue, value: JsonValue) -> _CubeProblem | None:
    if not isinstance(value, dict):
        return None
    code = value.get("qErrorCode")
    context, message = value.get("qContext"), value.get("qExtendedMessage")
    return _CubeProblem(
        title if isinstance(title, str) else "",
        code if isinstance(code, int) and not isinstance(code, bool) else -1,
        context if isinstance(context, str) else "",
        message if isinstance(message, str) else "",
    )


def cube_errors(layout: JsonValue, path: str = "/qHyperCubeDef") -> None:
    """Raise :class:`ExpressionError` when the hypercube at ``path`` of ``layout`` reports
    a ``qError`` (on a dimension, a measure or the cube)."""
    cube = _layout_at(layout if isinstance(layout, dict) else {}, path)
    problems = []
    for kind in ("qDimensionInfo", "qMeasureInfo"):
        infos = cube.get(kind)
        for info in infos if isinstance(infos, list) else []:
            if isinstance(info, dict):
                problems.append(_problem(info.get("qFallbackTitle"), info.get("qError")))
    found = [p for p in problems if p is not None] or [
        p for p in [_problem("", cube.get("qError"))] if p is not None
    ]
    if not found:
        return
    described = "; ".join(
        f"{p.title or p.context or 'the table'}: {p.message or f'engine error {p.code}'}"
        for p in found
    )
    raise ExpressionError(
        f"the engine cannot compute the table at {path}: {described}",
        expression=", ".join(p.title or p.context for p in found if p.title or p.context),
        bad_fields=[p.context for p in found if p.context],
        code=found[0].code,
        engine_message="; ".join(p.message for p in found if p.message),
        method="GetLayout",
        hint="A dimension must be a field of the app and a measure a valid expression "
        "(names are case sensitive); qlikauth eval APP EXPR shows what the engine says of "
        "an expression. Nothing was exported.",
    )


def export_flow(
    file_type: str = "CSV_C",
    *,
    path: str | None = "/qHyperCubeDef",
    file_name: str | None = None,
    export_state: str = "A",
    serve_once: bool | None = None,
) -> Flow[str]:
    """``GenericObject.ExportData``: the ``qUrl`` to download (server-relative, usually)."""
    params: dict[str, object] = {"qFileType": file_type, "qExportState": export_state}
    if path is not None:
        params["qPath"] = path
    if file_name is not None:
        params["qFileName"] = file_name
    if serve_once is not None:
        params["qServeOnce"] = serve_once
    if path is not None:
        # The engine exports a header-only file for a hypercube it cannot compute.
        (layout,) = yield [Call("GetLayout")]
        cube_errors(layout.get("qLayout"), path)
    (result,) = yield [Call("ExportData", params)]
    url = result.get("qUrl")
    if not isinstance(url, str) or not url:
        raise EngineError("ExportData returned no qUrl", code=-1, method="ExportData")
    warnings = result.get("qWarnings")
    if isinstance(warnings, list) and warnings:
        # 1000 means the export was truncated to the format's limits.
        logger.warning("ExportData warned: %s", ", ".join(str(w) for w in warnings))
    return url
