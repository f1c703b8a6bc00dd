"""Handle-bound engine objects (``Global``, ``Doc``, ``GenericObject``, any other type).

Any Qlik method can be called by its Qlik name, with parameters by name or by position::

    doc.call("EvaluateEx", qExpression="Sum(Amount)")   # -> JsonObject
    doc.EvaluateEx("Sum(Amount)")                         # the same, as an attribute

Both return the raw result object typed as :data:`JsonObject` (not ``Any``), and the typed
helpers (:meth:`Doc.evaluate`, :meth:`Doc.create_hypercube`, :meth:`GenericObject.get_data`,
:meth:`GenericObject.export_data`, ...) return plain dataclasses and strings.

Each method is written once, in the ``*Api`` classes, as the steps it needs
(:mod:`qlikauth.engine.flows`: batches of calls, sent pipelined). The sync objects run the
steps over :class:`~qlikauth.engine.sync.EngineConnection`, the ``Async*`` ones over
:class:`~qlikauth.engine.aio.AsyncEngineConnection`, where each method is a coroutine.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from qlikauth._twins import AsyncDriver, SyncDriver, operation
from qlikauth.engine.flows import (
    MAX_PAGE_CELLS,
    Batch,
    Call,
    Flow,
    Steps,
    call_steps,
    data_flow,
    doc_list_flow,
    engine_version_flow,
    evaluate_flow,
    export_flow,
    hypercube_properties,
    object_flow,
    on_handle,
    params_of,
)
from qlikauth.engine.messages import (
    HandleEventKind,
    HandleState,
    JsonObject,
    Listener,
    ObjectInterface,
)
from qlikauth.engine.values import Cell, DocInfo, FieldValue, Row
from qlikauth.http.drivers import drive, drive_async

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
    "DocApi",
    "DocInfo",
    "FieldValue",
    "GenericObject",
    "GenericObjectApi",
    "Global",
    "GlobalApi",
    "HandleEventKind",
    "QixApi",
    "QixMethod",
    "QixObject",
    "Row",
    "SyncEngine",
    "hypercube_properties",
]

T = TypeVar("T")
R = TypeVar("R")
#: The classes of the family (sync or asyncio) whose objects a method hands out: any type,
#: ``Doc``, ``GenericObject``.
Obj = TypeVar("Obj")
DocT = TypeVar("DocT")
GenT = TypeVar("GenT")


class _HandleOwner(Protocol):
    """What both kinds of connection offer about handles."""

    def add_handle_listener(
        self, handle: int, kind: HandleEventKind, callback: Listener
    ) -> Callable[[], None]: ...

    def handle_state(self, handle: int) -> HandleState | None: ...


class SyncEngine(_HandleOwner, Protocol):
    """What sync objects need from a connection."""

    def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]: ...


class AsyncEngine(_HandleOwner, Protocol):
    """What asyncio objects need from a connection."""

    async def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]: ...


class QixMethod(Generic[R]):
    """A Qlik method bound to an object: ``obj.GetLayout()`` or ``obj.GetField("Region")``."""

    def __init__(self, call: Callable[..., R], owner_type: str, method: str) -> None:
        self._call = call
        self._owner_type = owner_type
        self._method = method

    def __call__(self, *args: object, timeout: float | None = None, **params: object) -> R:
        return self._call(self._method, *args, timeout=timeout, **params)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._owner_type}.{self._method}>"


class AsyncQixMethod(QixMethod[R]):
    """A Qlik method bound to an asyncio object: ``await obj.GetLayout()``."""


def _method_name(name: str) -> str:
    if not name[:1].isupper():
        raise AttributeError(
            f"{name!r}: engine methods are called by their Qlik name (e.g. 'GetLayout')"
        )
    return name


class QixApi(Generic[Obj]):
    """What every engine object offers on either driver: handle, type, id, state, listeners,
    and any method by its Qlik name."""

    _engine: _HandleOwner
    interface: ObjectInterface
    #: The family's classes by engine type ("" for any other type).
    _family: ClassVar[Mapping[str, Callable[[Any, ObjectInterface], Any]]]

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

    @operation
    def call(
        self, /, method: str, *args: object, timeout: float | None = None, **params: object
    ) -> Steps[JsonObject]:
        """Call ``method`` (its Qlik name) with positional or named params; the raw result."""
        return call_steps(self.handle, method, params_of(method, args, params), timeout)

    @operation
    def call_object(
        self, /, method: str, *args: object, timeout: float | None = None, **params: object
    ) -> Steps[Obj]:
        """Call a method that returns an object (``qReturn``) and bind it."""
        flow = object_flow(method, params_of(method, args, params))
        interface = yield from self._steps(flow, timeout)
        return self._bind(interface.type, interface)  # type: ignore[no-any-return]

    def _steps(self, flow: Flow[T], timeout: float | None) -> Steps[T]:
        return on_handle(self.handle, flow, timeout)

    def _object(self, kind: str, flow: Flow[ObjectInterface], timeout: float | None) -> Steps[Any]:
        """Run ``flow`` and bind the object it returns as ``kind`` of this family."""
        interface = yield from self._steps(flow, timeout)
        return self._bind(kind, interface)

    def _bind(self, kind: str, interface: ObjectInterface) -> Any:
        family = self._family
        return family.get(kind, family[""])(self._engine, interface)

    def __repr__(self) -> str:
        ident = f" id={self.generic_id!r}" if self.generic_id else ""
        return f"<{type(self).__name__} {self.type} handle={self.handle}{ident}>"


class GlobalApi(QixApi[Obj], Generic[Obj, DocT]):
    """The Global object (handle -1): apps, versions, the session."""

    @operation
    def get_doc_list(self, *, timeout: float | None = None) -> Steps[list[DocInfo]]:
        """The apps the user may open."""
        return self._steps(doc_list_flow(), timeout)

    @operation
    def open_doc(
        self, app_id: str, *, no_data: bool = False, timeout: float | None = None
    ) -> Steps[DocT]:
        """Open an app (one per engine session) and return it."""
        params: dict[str, object] = {"qDocName": app_id}
        if no_data:
            params["qNoData"] = True
        return self._object("Doc", object_flow("OpenDoc", params), timeout)

    @operation
    def get_active_doc(self, *, timeout: float | None = None) -> Steps[DocT]:
        """The app already open in this engine session (after a resume, for example)."""
        return self._object("Doc", object_flow("GetActiveDoc", {}), timeout)

    @operation
    def engine_version(self, *, timeout: float | None = None) -> Steps[str]:
        """The engine's component version."""
        return self._steps(engine_version_flow(), timeout)


class DocApi(QixApi[Obj], Generic[Obj, GenT]):
    """An open app."""

    @operation
    def evaluate(self, expression: str, *, timeout: float | None = None) -> Steps[float | str]:
        """Evaluate an expression: the number when it is numeric, else its text."""
        return (yield from self._steps(evaluate_flow(expression), timeout)).value

    @operation
    def evaluate_ex(self, expression: str, *, timeout: float | None = None) -> Steps[FieldValue]:
        """Evaluate an expression: text, number and whether it is numeric."""
        return self._steps(evaluate_flow(expression), timeout)

    @operation
    def create_session_object(
        self, properties: Mapping[str, object], *, timeout: float | None = None
    ) -> Steps[GenT]:
        """Create a session object (gone when the session ends)."""
        return self._session_object(properties, timeout)

    @operation
    def get_object(self, object_id: str, *, timeout: float | None = None) -> Steps[GenT]:
        """A stored object of the app by id."""
        flow = object_flow("GetObject", {"qId": object_id})
        return self._object("GenericObject", flow, timeout)

    @operation
    def destroy_session_object(
        self, object_id: str, *, timeout: float | None = None
    ) -> Steps[bool]:
        """Destroy a session object; its handle closes."""
        steps = call_steps(self.handle, "DestroySessionObject", {"qId": object_id}, timeout)
        return (yield from steps).get("qSuccess") is True

    @operation
    def create_hypercube(
        self,
        dimensions: Sequence[str | Mapping[str, object]],
        measures: Sequence[str | Mapping[str, object]],
        *,
        object_type: str = "qlikauth-hypercube",
        timeout: float | None = None,
    ) -> Steps[GenT]:
        """A session object holding a straight-table hypercube (:func:`hypercube_properties`)."""
        properties = hypercube_properties(dimensions, measures, object_type=object_type)
        return self._session_object(properties, timeout)

    def _session_object(
        self, properties: Mapping[str, object], timeout: float | None
    ) -> Steps[GenT]:
        flow = object_flow("CreateSessionObject", {"qProp": dict(properties)})
        return self._object("GenericObject", flow, timeout)


class GenericObjectApi(QixApi[Obj]):
    """A generic object: a chart, a table, a session hypercube."""

    @operation
    def get_layout(self, *, timeout: float | None = None) -> Steps[JsonObject]:
        """The evaluated layout (``qLayout``)."""
        layout = (yield from call_steps(self.handle, "GetLayout", (), timeout)).get("qLayout")
        return layout if isinstance(layout, dict) else {}

    @operation
    def get_properties(self, *, timeout: float | None = None) -> Steps[JsonObject]:
        """The properties (``qProp``)."""
        prop = (yield from call_steps(self.handle, "GetProperties", (), timeout)).get("qProp")
        return prop if isinstance(prop, dict) else {}

    @operation
    def get_data(
        self,
        path: str = "/qHyperCubeDef",
        *,
        max_rows: int | None = None,
        page_cells: int = MAX_PAGE_CELLS,
        in_flight: int = 4,
        timeout: float | None = None,
    ) -> Steps[list[Row]]:
        """Every row of the hypercube at ``path``, fetched in pages of ``page_cells`` cells."""
        flow = data_flow(path, max_rows=max_rows, page_cells=page_cells, in_flight=in_flight)
        return self._steps(flow, timeout)

    @operation
    def export_data(
        self,
        file_type: str = "CSV_C",
        *,
        path: str | None = "/qHyperCubeDef",
        file_name: str | None = None,
        export_state: str = "A",
        serve_once: bool | None = None,
        timeout: float | None = None,
    ) -> Steps[str]:
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
        return self._steps(flow, timeout)


# -- the sync family --------------------------------------------------------------------------


class QixObject(QixApi["QixObject"], SyncDriver):
    """An engine object of any type, bound to its handle on one connection."""

    def __init__(self, engine: SyncEngine, interface: ObjectInterface) -> None:
        self._engine: SyncEngine = engine
        self.interface = interface

    def _run(self, steps: Steps[T]) -> T:
        return drive(steps, self._send)

    def _send(self, batch: Batch) -> list[JsonObject]:
        return self._engine.call_many(batch.handle, batch.calls, timeout=batch.timeout)

    def __getattr__(self, name: str) -> QixMethod[JsonObject]:
        return QixMethod(self.call, self.type, _method_name(name))


class Global(GlobalApi[QixObject, "Doc"], QixObject):
    """The Global object (handle -1): apps, versions, the session."""


class Doc(DocApi[QixObject, "GenericObject"], QixObject):
    """An open app."""


class GenericObject(GenericObjectApi[QixObject], QixObject):
    """A generic object: a chart, a table, a session hypercube."""


# -- the asyncio family -----------------------------------------------------------------------


class AsyncQixObject(QixApi["AsyncQixObject"], AsyncDriver):
    """An engine object of any type on an asyncio connection."""

    def __init__(self, engine: AsyncEngine, interface: ObjectInterface) -> None:
        self._engine: AsyncEngine = engine
        self.interface = interface

    async def _run(self, steps: Steps[T]) -> T:
        return await drive_async(steps, self._send)

    def _send(self, batch: Batch) -> Coroutine[Any, Any, list[JsonObject]]:
        return self._engine.call_many(batch.handle, batch.calls, timeout=batch.timeout)

    def __getattr__(self, name: str) -> AsyncQixMethod[Coroutine[Any, Any, JsonObject]]:
        return AsyncQixMethod(self.call, self.type, _method_name(name))


class AsyncGlobal(GlobalApi[AsyncQixObject, "AsyncDoc"], AsyncQixObject):
    """The Global object (handle -1) on an asyncio connection."""


class AsyncDoc(DocApi[AsyncQixObject, "AsyncGenericObject"], AsyncQixObject):
    """An open app on an asyncio connection."""


class AsyncGenericObject(GenericObjectApi[AsyncQixObject], AsyncQixObject):
    """A generic object on an asyncio connection."""


QixObject._family = {"": QixObject, "Global": Global, "Doc": Doc, "GenericObject": GenericObject}
AsyncQixObject._family = {
    "": AsyncQixObject,
    "Global": AsyncGlobal,
    "Doc": AsyncDoc,
    "GenericObject": AsyncGenericObject,
}
