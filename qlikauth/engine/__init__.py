"""The Qlik engine (QIX) connector: JSON-RPC over a websocket, sync and asyncio.

:class:`EngineConnection` (threads) and :class:`AsyncEngineConnection` (asyncio) open the
websocket with a :class:`~qlikauth.credentials.Credentials` value, through the proxy or
direct, read the greeting and hand out handle-bound objects (:class:`Global`, :class:`Doc`,
:class:`GenericObject`) that take any Qlik method by its Qlik name.

No I/O below the connections: :mod:`~qlikauth.engine.protocol` (the JSON-RPC state machine,
speaking :mod:`~qlikauth.engine.messages`, judging with :mod:`~qlikauth.engine.notifications`),
:mod:`~qlikauth.engine.flows` (the objects' helpers as steps, returning
:mod:`~qlikauth.engine.values`) and :mod:`~qlikauth.engine.wire` (websockets' Sans-I/O
framing). :mod:`~qlikauth.engine.connection` and :mod:`~qlikauth.engine.objects` describe
the connection and the objects once; :mod:`~qlikauth.engine.sync` and
:mod:`~qlikauth.engine.aio` own the socket.
"""

from __future__ import annotations

from qlikauth.engine._transport import DEFAULT_MAX_MESSAGE_SIZE
from qlikauth.engine.aio import AsyncEngineCall, AsyncEngineConnection
from qlikauth.engine.connection import DEFAULT_CALL_TIMEOUT
from qlikauth.engine.flows import hypercube_properties
from qlikauth.engine.objects import (
    AsyncDoc,
    AsyncGenericObject,
    AsyncGlobal,
    AsyncQixObject,
    Doc,
    GenericObject,
    Global,
    QixObject,
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
from qlikauth.engine.values import Cell, DocInfo, FieldValue, Row

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_MAX_MESSAGE_SIZE",
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
