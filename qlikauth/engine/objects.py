"""Handle-bound engine objects (``Global``, ``Doc``, ``GenericObject``, any other type).

Any Qlik method can be called by its Qlik name, with parameters by name or by position::

    doc.call("EvaluateEx", qExpression="Sum(Amount)")   # -> JsonObject
    doc.EvaluateEx("Sum(Amount)")                         # the same, as an attribute

Both return the raw result object typed as :data:`JsonObject` (not ``Any``), and the typed
helpers (:meth:`Doc.evaluate`, :meth:`Doc.create_hypercube`, :meth:`GenericObject.get_data`,
:meth:`GenericObject.export_data`, ...) return plain dataclasses and strings. Each helper is
written once, as a *flow*: a generator that yields the calls it needs (a batch is sent
pipelined) and receives their results. The sync objects run flows over
:class:`~qlikauth.engine.sync.EngineConnection`, the ``Async*`` ones over
:class:`~qlikauth.engine.aio.AsyncEngineConnection`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, TypeAlias, TypeVar, cast

from qlikauth.engine.protocol import (
    HandleState,
    JsonObject,
    JsonValue,
    ObjectInterface,
    Params,
)
from qlikauth.errors import EngineError

__all__ = [
    "AsyncDoc",
    "AsyncEngine",
    "AsyncGenericObject",
    "AsyncGlobal",
    "AsyncQixMethod",
    "AsyncQixObject",
    "Call",
    "Cell",
    "Doc",
    "DocInfo",
    "FieldValue",
    "GenericObject",
    "Global",
    "HandleEventKind",
    "QixMethod",
    "QixObject",
    "Row",
    "SyncEngine",
    "hypercube_properties",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

HandleEventKind: TypeAlias = Literal["changed", "closed", "suspended"]
Listener: TypeAlias = Callable[[], object]

#: The engine's limit of cells per ``GetHyperCubeData`` page.
MAX_PAGE_CELLS = 10_000


class Call(NamedTuple):
    """One engine call a flow needs: method and params (by name or position)."""

    method: str
    params: Params = ()


#: A helper's logic: yields batches of calls, receives their results, returns ``T``.
Flow: TypeAlias = Generator[list[Call], list[JsonObject], T]


class SyncEngine(Protocol):
    """What sync objects need from a connection."""

    def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]: ...

    def add_handle_listener(
        self, handle: int, kind: HandleEventKind, callback: Listener
    ) -> Callable[[], None]: ...

    def handle_state(self, handle: int) -> HandleState | None: ...


class AsyncEngine(Protocol):
    """What asyncio objects need from a connection."""

    async def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]: ...

    def add_handle_listener(
        self, handle: int, kind: HandleEventKind, callback: Listener
    ) -> Callable[[], None]: ...

    def handle_state(self, handle: int) -> HandleState | None: ...


# -- values -----------------------------------------------------------------------------------


def _number(value: JsonValue) -> float | None:
    """The engine's ``qNum``: a number, or ``"NaN"`` (text) when there is none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text(value: JsonValue) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class FieldValue:
    """An evaluated expression (``qValue`` of ``EvaluateEx``)."""

    text: str
    is_numeric: bool
    number: float | None

    @property
    def value(self) -> float | str:
        """The number when there is one, else the text."""
        if self.is_numeric and self.number is not None:
            return self.number
        return self.text

    @classmethod
    def from_json(cls, value: JsonValue) -> FieldValue:
        """Read a ``FieldValue`` object."""
        fields = value if isinstance(value, dict) else {}
        number = _number(fields.get("qNumber"))
        return cls(
            text=_text(fields.get("qText")),
            is_numeric=fields.get("qIsNumeric") is True and number is not None,
            number=number,
        )


@dataclass(frozen=True)
class Cell:
    """One hypercube cell (``NxCell``)."""

    text: str
    number: float | None
    state: str = ""
    is_null: bool = False
    elem_number: int | None = None

    @property
    def value(self) -> float | str:
        """The number when there is one, else the text."""
        return self.number if self.number is not None else self.text

    @classmethod
    def from_json(cls, value: JsonValue) -> Cell:
        """Read an ``NxCell``."""
        fields = value if isinstance(value, dict) else {}
        elem = fields.get("qElemNumber")
        return cls(
            text=_text(fields.get("qText")),
            number=_number(fields.get("qNum")),
            state=_text(fields.get("qState")),
            is_null=fields.get("qIsNull") is True,
            elem_number=elem if isinstance(elem, int) and not isinstance(elem, bool) else None,
        )


Row: TypeAlias = list[Cell]


@dataclass(frozen=True)
class DocInfo:
    """One entry of ``GetDocList``; ``raw`` keeps every field the engine sent."""

    doc_id: str
    name: str
    title: str
    last_reload_time: str
    raw: JsonObject

    @classmethod
    def from_json(cls, value: JsonValue) -> DocInfo:
        """Read a ``DocListEntry``."""
        fields = value if isinstance(value, dict) else {}
        return cls(
            doc_id=_text(fields.get("qDocId")),
            name=_text(fields.get("qDocName")),
            title=_text(fields.get("qTitle")) or _text(fields.get("qDocName")),
            last_reload_time=_text(fields.get("qLastReloadTime")),
            raw=fields,
        )


# -- flows ------------------------------------------------------------------------------------


def _returned_object(result: JsonObject, method: str) -> ObjectInterface:
    interface = ObjectInterface.from_json(result.get("qReturn"))
    if interface is None:
        raise EngineError(
            f"{method} returned no object (no qReturn with a qHandle)",
            code=-1,
            method=method,
        )
    return interface


def call_flow(method: str, params: Params) -> Flow[JsonObject]:
    """One call, its raw result."""
    (result,) = yield [Call(method, params)]
    return result


def object_flow(method: str, params: Params) -> Flow[ObjectInterface]:
    """One call that returns an object (``qReturn``)."""
    (result,) = yield [Call(method, params)]
    return _returned_object(result, method)


def evaluate_flow(expression: str) -> Flow[FieldValue]:
    """``Doc.EvaluateEx``."""
    (result,) = yield [Call("EvaluateEx", {"qExpression": expression})]
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
    return _text(version.get("qComponentVersion")) if isinstance(version, dict) else ""


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
    (result,) = yield [Call("ExportData", params)]
    url = result.get("qUrl")
    if not isinstance(url, str) or not url:
        raise EngineError("ExportData returned no qUrl", code=-1, method="ExportData")
    warnings = result.get("qWarnings")
    if isinstance(warnings, list) and warnings:
        # 1000 means the export was truncated to the format's limits.
        logger.warning("ExportData warned: %s", ", ".join(str(w) for w in warnings))
    return url


# -- running flows ----------------------------------------------------------------------------


def _params(method: str, args: tuple[object, ...], named: Mapping[str, object]) -> Params:
    if args and named:
        raise TypeError(
            f"{method}: give parameters either by position or by name, not both "
            "(JSON-RPC cannot mix them)"
        )
    return dict(named) if named else list(args)


def _run_sync(engine: SyncEngine, handle: int, flow: Flow[T], timeout: float | None) -> T:
    try:
        calls = next(flow)
        while True:
            calls = flow.send(engine.call_many(handle, calls, timeout=timeout))
    except StopIteration as done:
        return cast(T, done.value)
    finally:
        flow.close()


async def _run_async(engine: AsyncEngine, handle: int, flow: Flow[T], timeout: float | None) -> T:
    try:
        calls = next(flow)
        while True:
            calls = flow.send(await engine.call_many(handle, calls, timeout=timeout))
    except StopIteration as done:
        return cast(T, done.value)
    finally:
        flow.close()


def _check_method_name(name: str) -> None:
    if not name[:1].isupper():
        raise AttributeError(
            f"{name!r}: engine methods are called by their Qlik name (e.g. 'GetLayout')"
        )


# -- sync objects -----------------------------------------------------------------------------


class QixMethod:
    """A Qlik method bound to an object: ``obj.GetLayout()`` or ``obj.GetField("Region")``."""

    def __init__(self, obj: QixObject, method: str) -> None:
        self._obj = obj
        self._method = method

    def __call__(self, *args: object, timeout: float | None = None, **params: object) -> JsonObject:
        flow = call_flow(self._method, _params(self._method, args, params))
        return self._obj._run(flow, timeout)

    def __repr__(self) -> str:
        return f"<QixMethod {self._obj.type}.{self._method}>"


class _HandleOwner(Protocol):
    """What both kinds of connection offer about handles."""

    def add_handle_listener(
        self, handle: int, kind: HandleEventKind, callback: Listener
    ) -> Callable[[], None]: ...

    def handle_state(self, handle: int) -> HandleState | None: ...


class _Bound:
    """What every engine object offers on either driver: handle, type, id, state, listeners."""

    _engine: _HandleOwner
    interface: ObjectInterface

    @property
    def handle(self) -> int:
        """The engine handle."""
        return self.interface.handle

    @property
    def type(self) -> str:
        """The engine type (``qType``), e.g. ``Doc`` or ``GenericObject``."""
        return self.interface.type

    @property
    def generic_id(self) -> str:
        """``qGenericId``: the app id of a doc, the object id of a generic object."""
        return self.interface.generic_id

    @property
    def state(self) -> HandleState | None:
        """Open, suspended or closed, per the engine's ``change``/``close``/``suspend`` lists."""
        return self._engine.handle_state(self.handle)

    @property
    def closed(self) -> bool:
        """True once the engine closed the handle: calls raise ``ObjectNotFoundError``."""
        return self.state is HandleState.CLOSED

    def on_change(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback()`` when the engine lists this handle as changed; returns an undo."""
        return self._engine.add_handle_listener(self.handle, "changed", callback)

    def on_close(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback()`` when the engine closes this handle; returns an undo."""
        return self._engine.add_handle_listener(self.handle, "closed", callback)

    def on_suspend(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback()`` when the engine suspends this handle; returns an undo."""
        return self._engine.add_handle_listener(self.handle, "suspended", callback)

    def __repr__(self) -> str:
        ident = f" id={self.generic_id!r}" if self.generic_id else ""
        return f"<{type(self).__name__} {self.type} handle={self.handle}{ident}>"


class QixObject(_Bound):
    """An engine object of any type, bound to its handle on one connection."""

    _engine: SyncEngine

    def __init__(self, engine: SyncEngine, interface: ObjectInterface) -> None:
        self._engine = engine
        self.interface = interface

    def call(
        self, method: str, *args: object, timeout: float | None = None, **params: object
    ) -> JsonObject:
        """Call ``method`` (its Qlik name) with positional or named params; the raw result."""
        flow = call_flow(method, _params(method, args, params))
        return _run_sync(self._engine, self.handle, flow, timeout)

    def call_object(
        self, method: str, *args: object, timeout: float | None = None, **params: object
    ) -> QixObject:
        """Call a method that returns an object (``qReturn``) and bind it."""
        flow = object_flow(method, _params(method, args, params))
        return self._wrap(_run_sync(self._engine, self.handle, flow, timeout))

    def _run(self, flow: Flow[T], timeout: float | None = None) -> T:
        return _run_sync(self._engine, self.handle, flow, timeout)

    def _wrap(self, interface: ObjectInterface) -> QixObject:
        return _SYNC_TYPES.get(interface.type, QixObject)(self._engine, interface)

    def __getattr__(self, name: str) -> QixMethod:
        _check_method_name(name)
        return QixMethod(self, name)


class Global(QixObject):
    """The Global object (handle -1): apps, versions, the session."""

    def get_doc_list(self, *, timeout: float | None = None) -> list[DocInfo]:
        """The apps the user may open."""
        return self._run(doc_list_flow(), timeout)

    def open_doc(self, app_id: str, *, no_data: bool = False, timeout: float | None = None) -> Doc:
        """Open an app (one per engine session) and return it."""
        params: dict[str, object] = {"qDocName": app_id}
        if no_data:
            params["qNoData"] = True
        return Doc(self._engine, self._run(object_flow("OpenDoc", params), timeout))

    def get_active_doc(self, *, timeout: float | None = None) -> Doc:
        """The app already open in this engine session (after a resume, for example)."""
        return Doc(self._engine, self._run(object_flow("GetActiveDoc", {}), timeout))

    def engine_version(self, *, timeout: float | None = None) -> str:
        """The engine's component version."""
        return self._run(engine_version_flow(), timeout)


class Doc(QixObject):
    """An open app."""

    def evaluate(self, expression: str, *, timeout: float | None = None) -> float | str:
        """Evaluate an expression: the number when it is numeric, else its text."""
        return self._run(evaluate_flow(expression), timeout).value

    def evaluate_ex(self, expression: str, *, timeout: float | None = None) -> FieldValue:
        """Evaluate an expression: text, number and whether it is numeric."""
        return self._run(evaluate_flow(expression), timeout)

    def create_session_object(
        self, properties: Mapping[str, object], *, timeout: float | None = None
    ) -> GenericObject:
        """Create a session object (gone when the session ends)."""
        flow = object_flow("CreateSessionObject", {"qProp": dict(properties)})
        return GenericObject(self._engine, self._run(flow, timeout))

    def get_object(self, object_id: str, *, timeout: float | None = None) -> GenericObject:
        """A stored object of the app by id."""
        flow = object_flow("GetObject", {"qId": object_id})
        return GenericObject(self._engine, self._run(flow, timeout))

    def destroy_session_object(self, object_id: str, *, timeout: float | None = None) -> bool:
        """Destroy a session object; its handle closes."""
        result = self.call("DestroySessionObject", qId=object_id, timeout=timeout)
        return result.get("qSuccess") is True

    def create_hypercube(
        self,
        dimensions: Sequence[str | Mapping[str, object]],
        measures: Sequence[str | Mapping[str, object]],
        *,
        object_type: str = "qlikauth-hypercube",
        timeout: float | None = None,
    ) -> GenericObject:
        """A session object holding a straight-table hypercube (:func:`hypercube_properties`)."""
        properties = hypercube_properties(dimensions, measures, object_type=object_type)
        return self.create_session_object(properties, timeout=timeout)


class GenericObject(QixObject):
    """A generic object: a chart, a table, a session hypercube."""

    def get_layout(self, *, timeout: float | None = None) -> JsonObject:
        """The evaluated layout (``qLayout``)."""
        layout = self.call("GetLayout", timeout=timeout).get("qLayout")
        return layout if isinstance(layout, dict) else {}

    def get_properties(self, *, timeout: float | None = None) -> JsonObject:
        """The properties (``qProp``)."""
        prop = self.call("GetProperties", timeout=timeout).get("qProp")
        return prop if isinstance(prop, dict) else {}

    def get_data(
        self,
        path: str = "/qHyperCubeDef",
        *,
        max_rows: int | None = None,
        page_cells: int = MAX_PAGE_CELLS,
        in_flight: int = 4,
        timeout: float | None = None,
    ) -> list[Row]:
        """Every row of the hypercube at ``path``, fetched in pages of ``page_cells`` cells."""
        flow = data_flow(path, max_rows=max_rows, page_cells=page_cells, in_flight=in_flight)
        return self._run(flow, timeout)

    def export_data(
        self,
        file_type: str = "CSV_C",
        *,
        path: str | None = "/qHyperCubeDef",
        file_name: str | None = None,
        export_state: str = "A",
        serve_once: bool | None = None,
        timeout: float | None = None,
    ) -> str:
        """Export the data (``OOXML``, ``CSV_C``, ``CSV_T``, ``PARQUET``); returns ``qUrl``.

        Download the file with the same credentials, through the same virtual proxy.
        """
        flow = export_flow(
            file_type,
            path=path,
            file_name=file_name,
            export_state=export_state,
            serve_once=serve_once,
        )
        return self._run(flow, timeout)


_SYNC_TYPES: Mapping[str, type[QixObject]] = {
    "Global": Global,
    "Doc": Doc,
    "GenericObject": GenericObject,
}


# -- asyncio objects --------------------------------------------------------------------------


class AsyncQixMethod:
    """A Qlik method bound to an asyncio object: ``await obj.GetLayout()``."""

    def __init__(self, obj: AsyncQixObject, method: str) -> None:
        self._obj = obj
        self._method = method

    async def __call__(
        self, *args: object, timeout: float | None = None, **params: object
    ) -> JsonObject:
        flow = call_flow(self._method, _params(self._method, args, params))
        return await self._obj._run(flow, timeout)

    def __repr__(self) -> str:
        return f"<AsyncQixMethod {self._obj.type}.{self._method}>"


class AsyncQixObject(_Bound):
    """An engine object of any type on an asyncio connection."""

    _engine: AsyncEngine

    def __init__(self, engine: AsyncEngine, interface: ObjectInterface) -> None:
        self._engine = engine
        self.interface = interface

    async def call(
        self, method: str, *args: object, timeout: float | None = None, **params: object
    ) -> JsonObject:
        """Call ``method`` (its Qlik name) with positional or named params; the raw result."""
        flow = call_flow(method, _params(method, args, params))
        return await _run_async(self._engine, self.handle, flow, timeout)

    async def call_object(
        self, method: str, *args: object, timeout: float | None = None, **params: object
    ) -> AsyncQixObject:
        """Call a method that returns an object (``qReturn``) and bind it."""
        flow = object_flow(method, _params(method, args, params))
        return self._wrap(await _run_async(self._engine, self.handle, flow, timeout))

    async def _run(self, flow: Flow[T], timeout: float | None = None) -> T:
        return await _run_async(self._engine, self.handle, flow, timeout)

    def _wrap(self, interface: ObjectInterface) -> AsyncQixObject:
        return _ASYNC_TYPES.get(interface.type, AsyncQixObject)(self._engine, interface)

    def __getattr__(self, name: str) -> AsyncQixMethod:
        _check_method_name(name)
        return AsyncQixMethod(self, name)


class AsyncGlobal(AsyncQixObject):
    """The Global object (handle -1) on an asyncio connection."""

    async def get_doc_list(self, *, timeout: float | None = None) -> list[DocInfo]:
        """The apps the user may open."""
        return await self._run(doc_list_flow(), timeout)

    async def open_doc(
        self, app_id: str, *, no_data: bool = False, timeout: float | None = None
    ) -> AsyncDoc:
        """Open an app (one per engine session) and return it."""
        params: dict[str, object] = {"qDocName": app_id}
        if no_data:
            params["qNoData"] = True
        return AsyncDoc(self._engine, await self._run(object_flow("OpenDoc", params), timeout))

    async def get_active_doc(self, *, timeout: float | None = None) -> AsyncDoc:
        """The app already open in this engine session."""
        return AsyncDoc(self._engine, await self._run(object_flow("GetActiveDoc", {}), timeout))

    async def engine_version(self, *, timeout: float | None = None) -> str:
        """The engine's component version."""
        return await self._run(engine_version_flow(), timeout)


class AsyncDoc(AsyncQixObject):
    """An open app on an asyncio connection."""

    async def evaluate(self, expression: str, *, timeout: float | None = None) -> float | str:
        """Evaluate an expression: the number when it is numeric, else its text."""
        return (await self._run(evaluate_flow(expression), timeout)).value

    async def evaluate_ex(self, expression: str, *, timeout: float | None = None) -> FieldValue:
        """Evaluate an expression: text, number and whether it is numeric."""
        return await self._run(evaluate_flow(expression), timeout)

    async def create_session_object(
        self, properties: Mapping[str, object], *, timeout: float | None = None
    ) -> AsyncGenericObject:
        """Create a session object (gone when the session ends)."""
        flow = object_flow("CreateSessionObject", {"qProp": dict(properties)})
        return AsyncGenericObject(self._engine, await self._run(flow, timeout))

    async def get_object(
        self, object_id: str, *, timeout: float | None = None
    ) -> AsyncGenericObject:
        """A stored object of the app by id."""
        flow = object_flow("GetObject", {"qId": object_id})
        return AsyncGenericObject(self._engine, await self._run(flow, timeout))

    async def destroy_session_object(self, object_id: str, *, timeout: float | None = None) -> bool:
        """Destroy a session object; its handle closes."""
        result = await self.call("DestroySessionObject", qId=object_id, timeout=timeout)
        return result.get("qSuccess") is True

    async def create_hypercube(
        self,
        dimensions: Sequence[str | Mapping[str, object]],
        measures: Sequence[str | Mapping[str, object]],
        *,
        object_type: str = "qlikauth-hypercube",
        timeout: float | None = None,
    ) -> AsyncGenericObject:
        """A session object holding a straight-table hypercube."""
        properties = hypercube_properties(dimensions, measures, object_type=object_type)
        return await self.create_session_object(properties, timeout=timeout)


class AsyncGenericObject(AsyncQixObject):
    """A generic object on an asyncio connection."""

    async def get_layout(self, *, timeout: float | None = None) -> JsonObject:
        """The evaluated layout (``qLayout``)."""
        layout = (await self.call("GetLayout", timeout=timeout)).get("qLayout")
        return layout if isinstance(layout, dict) else {}

    async def get_properties(self, *, timeout: float | None = None) -> JsonObject:
        """The properties (``qProp``)."""
        prop = (await self.call("GetProperties", timeout=timeout)).get("qProp")
        return prop if isinstance(prop, dict) else {}

    async def get_data(
        self,
        path: str = "/qHyperCubeDef",
        *,
        max_rows: int | None = None,
        page_cells: int = MAX_PAGE_CELLS,
        in_flight: int = 4,
        timeout: float | None = None,
    ) -> list[Row]:
        """Every row of the hypercube at ``path``, fetched in pages of ``page_cells`` cells."""
        flow = data_flow(path, max_rows=max_rows, page_cells=page_cells, in_flight=in_flight)
        return await self._run(flow, timeout)

    async def export_data(
        self,
        file_type: str = "CSV_C",
        *,
        path: str | None = "/qHyperCubeDef",
        file_name: str | None = None,
        export_state: str = "A",
        serve_once: bool | None = None,
        timeout: float | None = None,
    ) -> str:
        """Export the data; returns the ``qUrl`` to download with the same credentials."""
        flow = export_flow(
            file_type,
            path=path,
            file_name=file_name,
            export_state=export_state,
            serve_once=serve_once,
        )
        return await self._run(flow, timeout)


_ASYNC_TYPES: Mapping[str, type[AsyncQixObject]] = {
    "Global": AsyncGlobal,
    "Doc": AsyncDoc,
    "GenericObject": AsyncGenericObject,
}
