"""The Qlik engine (QIX) connector: JSON-RPC over a websocket, sync and asyncio.

:class:`EngineConnection` (threads) and :class:`AsyncEngineConnection` (asyncio) open the
websocket with a :class:`~qlikauth.credentials.Credentials` value, through the proxy or
direct, read the greeting and hand out handle-bound objects (:class:`Global`, :class:`Doc`,
:class:`GenericObject`) that take any Qlik method by its Qlik name. The protocol itself lives
in :mod:`qlikauth.engine.protocol` and does no I/O.
"""

from __future__ import annotations

from qlikauth.engine.aio import AsyncEngineCall, AsyncEngineConnection
from qlikauth.engine.objects import (
    AsyncDoc,
    AsyncGenericObject,
    AsyncGlobal,
    AsyncQixObject,
    Cell,
    Doc,
    DocInfo,
    FieldValue,
    GenericObject,
    Global,
    QixObject,
    Row,
    hypercube_properties,
)
from qlikauth.engine.protocol import (
    GLOBAL_HANDLE,
    EngineProtocol,
    EngineTimeoutError,
    HandleState,
    JsonObject,
    JsonValue,
    ObjectInterface,
    SessionState,
)
from qlikauth.engine.sync import EngineCall, EngineConnection

__all__ = [
    "GLOBAL_HANDLE",
    "AsyncDoc",
    "AsyncEngineCall",
    "AsyncEngineConnection",
    "AsyncGenericObject",
    "AsyncGlobal",
    "AsyncQixObject",
    "Cell",
    "Doc",
    "DocInfo",
    "EngineCall",
    "EngineConnection",
    "EngineProtocol",
    "EngineTimeoutError",
    "FieldValue",
    "GenericObject",
    "Global",
    "HandleState",
    "JsonObject",
    "JsonValue",
    "ObjectInterface",
    "QixObject",
    "Row",
    "SessionState",
    "hypercube_properties",
]
