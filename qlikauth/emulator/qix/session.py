"""The engine and its connections: greeting, engine sessions, handles and dispatch.

The servers own the sockets; they hand each incoming text to :meth:`EngineConnection.handle`
and send back what it returns. Engine sessions are keyed by (user, app, identity) and outlive
a socket by its ``ttl``, so a reconnect within it is ``SESSION_ATTACHED`` and finds its open
doc and objects again.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlikauth._clock import Clock, monotonic
from qlikauth.emulator.qix.data import App
from qlikauth.emulator.qix.delta import DeltaCache
from qlikauth.emulator.qix.export import CSV_CELL_LIMIT, Export
from qlikauth.emulator.qix.methods import ENGINE_VERSION, METHODS, Call, Reply
from qlikauth.emulator.qix.objects import DocState, SessionObject, SessionState
from qlikauth.emulator.qix.rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    bind_params,
)
from qlikauth.emulator.qix.user import EngineUser

__all__ = [
    "SESSION_STATES",
    "Engine",
    "EngineConnection",
    "EngineUser",
]

SESSION_STATES = (
    "SESSION_CREATED",
    "SESSION_ATTACHED",
    "SESSION_ERROR_NO_LICENSE",
    "SESSION_ERROR_LICENSE_RENEW",
    "SESSION_ERROR_LIMIT_EXCEEDED",
    "SESSION_ERROR_SECURITY_HEADER_CHANGED",
    "SESSION_ACCESS_CONTROL_SETUP_FAILURE",
    "SESSION_ERROR_APP_ACCESS_DENIED",
    "SESSION_ERROR_APP_FAILURE",
)
"""``qSessionState`` values (qlik-protocol.md §3.2), in enum order."""

_GLOBAL_ONLY = "engineData"


@dataclass
class _EngineSession:
    key: tuple[EngineUser, str, str | None]
    state: SessionState
    ttl: float
    connections: int = 0
    detached_at: float = 0.0


def _dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class Engine:
    """The engine model shared by every socket: apps, engine sessions, exports, counters."""

    def __init__(
        self,
        apps: Sequence[App],
        export_dir: Path,
        *,
        server_node_id: str,
        license_denied_users: Iterable[EngineUser] = (),
        csv_cell_limit: int | None = CSV_CELL_LIMIT,
        engine_version: str = ENGINE_VERSION,
        product_version: str = ENGINE_VERSION,
        clock: Clock = monotonic,
    ) -> None:
        self.apps: Mapping[str, App] = {app.app_id: app for app in apps}
        if len(self.apps) != len(apps):
            raise ValueError("two apps share an id")
        self.export_dir = Path(export_dir)
        self.server_node_id = server_node_id
        self.csv_cell_limit = csv_cell_limit
        self.engine_version = engine_version
        self.product_version = product_version
        self.license_denied_users = frozenset(license_denied_users)
        self.counters: dict[str, int] = {
            "connections": 0,
            "engine_sessions": 0,
            "sessions_attached": 0,
            "calls": 0,
            "errors": 0,
            "exports": 0,
        }
        self._clock = clock
        self._lock = threading.RLock()
        self._sessions: dict[tuple[EngineUser, str, str | None], _EngineSession] = {}
        self._exports: dict[tuple[str, str], Export] = {}
        self._closed = False

    # Services for methods.

    def all_apps(self) -> list[App]:
        """Every app, in the order given."""
        return list(self.apps.values())

    def find_app(self, name: str) -> App | None:
        """An app by id (any case) or by exact name."""
        app = self.apps.get(name) or self.apps.get(name.lower())
        if app is not None:
            return app
        return next((a for a in self.apps.values() if a.name == name), None)

    def add_export(self, export_id: str, file_name: str, export: Export) -> None:
        """Record an export for :meth:`find_export`."""
        with self._lock:
            self._exports[(export_id, file_name)] = export
            self.counters["exports"] += 1

    def count(self, name: str, amount: int = 1) -> None:
        """Add to a counter."""
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + amount

    # The interface the servers use.

    def connect(
        self,
        user: EngineUser,
        app_id: str | None,
        *,
        identity: str | None = None,
        ttl: float = 0.0,
        channel: str = "direct",
        force_state: str | None = None,
    ) -> EngineConnection:
        """A new socket for ``user`` on ``app_id`` (None or ``engineData``: global only).

        ``force_state`` makes the greeting report that ``qSessionState`` (an error state, for
        tests); users in ``license_denied_users`` get ``SESSION_ERROR_NO_LICENSE``. After an
        error greeting the connection answers nothing and the server should close it.
        """
        if force_state is not None and force_state not in SESSION_STATES:
            raise ValueError(f"unknown qSessionState {force_state!r}")
        bound = None if app_id in (None, _GLOBAL_ONLY) else app_id
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self.counters["connections"] += 1
            error_state = force_state
            if error_state is None and user in self.license_denied_users:
                error_state = "SESSION_ERROR_NO_LICENSE"
            if error_state is not None and error_state not in SESSION_STATES[:2]:
                return EngineConnection(self, user, None, bound, channel, error_state)
            self._expire()
            key = (user, bound or _GLOBAL_ONLY, identity)
            session = self._sessions.get(key)
            if session is None:
                session = _EngineSession(key, SessionState(), ttl)
                self._sessions[key] = session
                self.counters["engine_sessions"] += 1
                greeting = "SESSION_CREATED"
            else:
                self.counters["sessions_attached"] += 1
                greeting = "SESSION_ATTACHED"
            session.ttl = ttl
            session.connections += 1
            return EngineConnection(self, user, session, bound, channel, greeting)

    def _expire(self) -> None:
        now = self._clock()
        for key, session in list(self._sessions.items()):
            if session.connections == 0 and now - session.detached_at >= session.ttl:
                del self._sessions[key]

    def _detach(self, session: _EngineSession) -> None:
        with self._lock:
            session.connections -= 1
            if session.connections == 0:
                session.detached_at = self._clock()
                if session.ttl <= 0:
                    self._sessions.pop(session.key, None)

    def find_export(self, export_id: str, file_name: str) -> Export | None:
        """The export at ``/tempcontent/{export_id}/{file_name}``, if it is still there."""
        with self._lock:
            return self._exports.get((export_id, file_name))

    def mark_served(self, export_id: str, file_name: str) -> None:
        """The proxy served this export: a ``serve_once`` export is then gone, file and all."""
        with self._lock:
            export = self._exports.get((export_id, file_name))
            if export is None or not export.serve_once:
                return
            del self._exports[(export_id, file_name)]
        with contextlib.suppress(FileNotFoundError):
            export.path.unlink()
        with contextlib.suppress(OSError):
            export.path.parent.rmdir()

    def engine_sessions(self) -> int:
        """How many engine sessions are alive (attached, or detached within their ttl)."""
        with self._lock:
            self._expire()
            return len(self._sessions)

    def close(self) -> None:
        """Drop every engine session and delete every export file this engine wrote."""
        with self._lock:
            self._closed = True
            self._sessions.clear()
            exports = list(self._exports.values())
            self._exports.clear()
        for export in exports:
            shutil.rmtree(export.path.parent, ignore_errors=True)


class EngineConnection:
    """One socket's view of the engine: greet, then answer JSON-RPC texts one at a time."""

    def __init__(
        self,
        engine: Engine,
        user: EngineUser,
        session: _EngineSession | None,
        bound_app_id: str | None,
        channel: str,
        session_state: str,
    ) -> None:
        self.engine = engine
        self.user = user
        self.channel = channel
        self.session_state = session_state
        self._session = session
        self._bound_app_id = bound_app_id
        self._closed = session is None
        # Delta patches are against what this socket was sent (enigma.js caches per socket).
        self._delta = DeltaCache()

    def __repr__(self) -> str:
        return (
            f"EngineConnection(user={self.user.directory}\\{self.user.user_id}, "
            f"app={self._bound_app_id}, state={self.session_state})"
        )

    @property
    def closed(self) -> bool:
        """True after an error greeting or :meth:`close`: the server should close the socket."""
        return self._closed

    def greeting(self) -> list[str]:
        """The texts to send right after the upgrade: ``OnConnected``."""
        message = {
            "jsonrpc": "2.0",
            "method": "OnConnected",
            "params": {"qSessionState": self.session_state},
        }
        return [_dumps(message)]

    def close(self) -> None:
        """The socket ended: detach from the engine session (it lives on for its ttl)."""
        if self._session is not None and not self._closed:
            self._closed = True
            self.engine._detach(self._session)

    def handle(self, text: str) -> list[str]:
        """Answer one incoming JSON-RPC text; notifications (no ``id``) get no answer."""
        if self._closed or self._session is None:
            return []
        self.engine.count("calls")
        try:
            request = json.loads(text)
        except ValueError:
            return [self._error(None, RpcError(PARSE_ERROR, "the message is not JSON"))]
        if not isinstance(request, dict):
            return [self._error(None, RpcError(INVALID_REQUEST, "the message is not an object"))]
        request_id = request.get("id")
        try:
            reply = self._dispatch(request)
        except RpcError as exc:
            return [] if "id" not in request else [self._error(request_id, exc)]
        except Exception as exc:  # an engine bug must not kill the socket
            error = RpcError(INTERNAL_ERROR, type(exc).__name__)
            return [] if "id" not in request else [self._error(request_id, error)]
        self._delta.forget(reply.close)
        if "id" not in request:
            return []
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if request.get("delta") is True:
            message["delta"] = True
            message["result"] = self._delta.patches(
                request["handle"], request["method"], reply.result
            )
        else:
            message["result"] = reply.result
        if reply.change:
            message["change"] = reply.change
        if reply.close:
            message["close"] = reply.close
        return [_dumps(message)]

    def _error(self, request_id: Any, error: RpcError) -> str:
        self.engine.count("errors")
        return _dumps({"jsonrpc": "2.0", "id": request_id, "error": error.to_json()})

    def _dispatch(self, request: dict[str, Any]) -> Reply:
        if request.get("jsonrpc", "2.0") != "2.0":
            raise RpcError(INVALID_REQUEST, 'jsonrpc must be "2.0"')
        method = request.get("method")
        handle = request.get("handle")
        if not isinstance(method, str) or not method:
            raise RpcError(INVALID_REQUEST, "method")
        if isinstance(handle, bool) or not isinstance(handle, int):
            raise RpcError(INVALID_REQUEST, "handle")
        assert self._session is not None
        state = self._session.state
        with state.lock:
            target = state.target(handle)
            if target is None:
                raise RpcError(INVALID_PARAMS, "Invalid handle")
            if isinstance(target, DocState):
                class_name = "Doc"
            elif isinstance(target, SessionObject):
                class_name = "GenericObject"
            else:
                class_name = "Global"
            spec = METHODS[class_name].get(method)
            if spec is None:
                raise RpcError(METHOD_NOT_FOUND, method)
            args = bind_params(request.get("params"), spec.params)
            call = Call(state, self.user, self.channel, self._bound_app_id, self.engine)
            return spec.handler(call, target, args)
