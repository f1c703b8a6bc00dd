"""The Qlik engine's JSON-RPC (QIX) protocol as a state machine that does no I/O.

:class:`EngineProtocol` turns calls into request texts and incoming texts into events. It
owns what the sync and asyncio drivers share: request ids, the pending calls, the handle
table (updated by the ``change``/``close``/``suspend`` lists of every response), push
notifications and the greeting (``OnConnected``, ``OnAuthenticationInformation`` and the
proxy's fatal notifications). The drivers only move texts and resolve futures, so this module
is tested by feeding it texts by hand.

The greeting ends at a barrier: the first request (``Global.EngineVersion``) goes out as soon
as the socket opens, and everything the server sends before its answer is greeting. That
also prompts proxies of the classic kind, which say ``OnAuthenticationInformation`` only after
the client's first message.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from qlikauth.errors import (
    AccessDeniedError,
    EngineClosedError,
    EngineSessionError,
    EngineTimeoutError,
    MustAuthenticateError,
    ObjectNotFoundError,
    QlikAuthError,
    SessionExpiredError,
    SessionLimitError,
    engine_error,
    session_count_in,
)

__all__ = [
    "CONNECTION_LOST",
    "GLOBAL_HANDLE",
    "GLOBAL_INTERFACE",
    "GREETING_METHOD",
    "CallFailed",
    "CallSucceeded",
    "EngineProtocol",
    "EngineTimeoutError",
    "Event",
    "GreetingCompleted",
    "GreetingFailed",
    "HandleInfo",
    "HandleState",
    "HandlesChanged",
    "HandlesClosed",
    "HandlesSuspended",
    "JsonObject",
    "JsonValue",
    "NotificationReceived",
    "ObjectInterface",
    "Params",
    "Request",
    "SessionEnded",
    "SessionState",
    "proxy_notification_error",
]

logger = logging.getLogger(__name__)

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"
#: Call parameters: by name (a mapping) or by position (a sequence); values JSON-serialisable.
Params: TypeAlias = "Mapping[str, object] | Sequence[object]"

#: The Global object's handle (not 0, whatever some libraries say).
GLOBAL_HANDLE = -1
#: The call that closes the greeting; its answer also gives the engine version.
GREETING_METHOD = "EngineVersion"
#: ``LOCERR_GENERIC_CONNECTION_LOST``: the code of :class:`EngineClosedError`.
CONNECTION_LOST = 16

_MAX_QUOTED = 300


class SessionState(enum.StrEnum):
    """``qSessionState`` of the ``OnConnected`` greeting."""

    CREATED = "SESSION_CREATED"
    ATTACHED = "SESSION_ATTACHED"
    ERROR_NO_LICENSE = "SESSION_ERROR_NO_LICENSE"
    ERROR_LICENSE_RENEW = "SESSION_ERROR_LICENSE_RENEW"
    ERROR_LIMIT_EXCEEDED = "SESSION_ERROR_LIMIT_EXCEEDED"
    ERROR_SECURITY_HEADER_CHANGED = "SESSION_ERROR_SECURITY_HEADER_CHANGED"
    ACCESS_CONTROL_SETUP_FAILURE = "SESSION_ACCESS_CONTROL_SETUP_FAILURE"
    ERROR_APP_ACCESS_DENIED = "SESSION_ERROR_APP_ACCESS_DENIED"
    ERROR_APP_FAILURE = "SESSION_ERROR_APP_FAILURE"

    @property
    def ok(self) -> bool:
        """True for a usable session (created or attached)."""
        return self in (SessionState.CREATED, SessionState.ATTACHED)


_SESSION_STATE_CODES = {state: number for number, state in enumerate(SessionState)}

_SESSION_STATE_HINTS: Mapping[SessionState, str] = {
    SessionState.ERROR_NO_LICENSE: "the user has no licence (access type); assign one in the QMC",
    SessionState.ERROR_LICENSE_RENEW: "the user's licence could not be renewed; check the QMC",
    SessionState.ERROR_LIMIT_EXCEEDED: (
        "the engine's session limit is reached; close other sessions or connect later"
    ),
    SessionState.ERROR_SECURITY_HEADER_CHANGED: (
        "the same engine session was reached with another identity or security header; "
        "do not reuse an /identity/ of another user"
    ),
    SessionState.ACCESS_CONTROL_SETUP_FAILURE: "the engine could not set up access control",
    SessionState.ERROR_APP_ACCESS_DENIED: "the user may not open this app (security rules)",
    SessionState.ERROR_APP_FAILURE: "the engine failed to load the app",
}


class HandleState(enum.Enum):
    """Where a handle stands, per the ``change``/``close``/``suspend`` lists."""

    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"


@dataclass(frozen=True)
class ObjectInterface:
    """A handle the engine returned (``qReturn``): handle, type and generic id."""

    handle: int
    type: str
    generic_type: str = ""
    generic_id: str = ""

    @classmethod
    def from_json(cls, value: JsonValue) -> ObjectInterface | None:
        """Read an ``ObjectInterface`` (``qHandle`` + ``qType``), or ``None`` if it is not one."""
        if not isinstance(value, dict):
            return None
        handle = value.get("qHandle")
        qtype = value.get("qType")
        if not isinstance(handle, int) or isinstance(handle, bool) or not isinstance(qtype, str):
            return None
        generic_type = value.get("qGenericType")
        generic_id = value.get("qGenericId")
        return cls(
            handle=handle,
            type=qtype,
            generic_type=generic_type if isinstance(generic_type, str) else "",
            generic_id=generic_id if isinstance(generic_id, str) else "",
        )


GLOBAL_INTERFACE = ObjectInterface(handle=GLOBAL_HANDLE, type="Global")


@dataclass
class HandleInfo:
    """One row of the handle table."""

    interface: ObjectInterface
    state: HandleState = HandleState.OPEN


@dataclass(frozen=True)
class Request:
    """A request ready for the wire: ``text`` is what to send."""

    id: int
    handle: int
    method: str
    text: str


@dataclass(frozen=True)
class CallSucceeded:
    """The answer to request ``request_id``."""

    request_id: int
    method: str
    handle: int
    result: JsonObject


@dataclass(frozen=True)
class CallFailed:
    """Request ``request_id`` failed: the engine said no, or the socket closed."""

    request_id: int
    method: str
    handle: int
    error: QlikAuthError


@dataclass(frozen=True)
class NotificationReceived:
    """A push notification (no ``id``), greeting ones included."""

    method: str
    params: JsonValue


@dataclass(frozen=True)
class HandlesChanged:
    """The engine listed these handles as changed (their layout is stale)."""

    handles: tuple[int, ...]


@dataclass(frozen=True)
class HandlesClosed:
    """The engine closed these handles; their objects are gone."""

    handles: tuple[int, ...]


@dataclass(frozen=True)
class HandlesSuspended:
    """The engine suspended these handles."""

    handles: tuple[int, ...]


@dataclass(frozen=True)
class GreetingCompleted:
    """The greeting ended well; ``session_state`` is ``None`` if no ``OnConnected`` came."""

    session_state: SessionState | None


@dataclass(frozen=True)
class GreetingFailed:
    """The greeting ended badly; the driver closes the socket and raises ``error``."""

    error: QlikAuthError


@dataclass(frozen=True)
class SessionEnded:
    """After the greeting, the server said the session is over; the driver closes the socket."""

    error: QlikAuthError


Event: TypeAlias = (
    "CallSucceeded | CallFailed | NotificationReceived | HandlesChanged | HandlesClosed"
    " | HandlesSuspended | GreetingCompleted | GreetingFailed | SessionEnded"
)


@dataclass
class _Pending:
    method: str
    handle: int


_SESSION_END_NOTIFICATIONS: Mapping[str, tuple[str, str]] = {
    "OnSessionClosed": (
        "the proxy session ended",
        "log in again to get a new session",
    ),
    "OnSessionLoggedOut": (
        "the proxy session was logged out (on this or another socket of the session)",
        "log in again to get a new session",
    ),
    "OnSessionTimedOut": (
        "the proxy session timed out for inactivity",
        "log in again; keep the session busy, or raise the virtual proxy's session "
        "inactivity timeout",
    ),
}

_LICENCE_NOTIFICATIONS = frozenset(
    {"OnLicenseAccessDenied", "OnLicenseAccessDeniedPendingUserSync"}
)

#: Proxy notifications that end the connection even when ``severity`` is not given.
_FATAL_NOTIFICATIONS = frozenset(
    {
        *_SESSION_END_NOTIFICATIONS,
        *_LICENCE_NOTIFICATIONS,
        "OnMaxParallelSessionsExceeded",
        "OnNoEngineAvailable",
        "OnEngineWebsocketFailed",
        "OnRepositoryWebsocketFailed",
        "OnNoRepositoryAvailable",
        "OnDataPrepServiceWebsocketFailed",
        "OnNoDataPrepServiceAvailable",
        "OnNoPrintingServiceAvailable",
        "OnExcessLicenseAssignment",
    }
)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 3] + "..."


def _closed_error(message: str, *, hint: str | None = None) -> EngineClosedError:
    return EngineClosedError(message, code=CONNECTION_LOST, hint=hint)


def proxy_notification_error(method: str, params: JsonValue) -> QlikAuthError | None:
    """The error a fatal proxy notification stands for, or ``None`` if it is not fatal."""
    fields = params if isinstance(params, dict) else {}
    severity = fields.get("severity")
    if method not in _FATAL_NOTIFICATIONS and severity != "fatal":
        return None
    raw = fields.get("message")
    said = f' (the proxy said: "{_quote(raw)}")' if isinstance(raw, str) and raw else ""
    if method in _SESSION_END_NOTIFICATIONS:
        what, hint = _SESSION_END_NOTIFICATIONS[method]
        return SessionExpiredError(f"{what}: {method}{said}", hint=hint)
    if method == "OnMaxParallelSessionsExceeded":
        return SessionLimitError(
            f"the user holds too many proxy sessions: {method}{said}",
            session_count=session_count_in(raw) if isinstance(raw, str) else None,
            hint=(
                "reuse one session (one Credentials value) for every socket and download, "
                "log out sessions you no longer need, or wait for them to time out"
            ),
        )
    if method in _LICENCE_NOTIFICATIONS:
        return AccessDeniedError(
            f"the proxy denied access to the app: {method}{said}",
            code=5,
            parameter=method,
            engine_message=raw if isinstance(raw, str) else "",
            hint="the user has no access type (licence) available; assign one in the QMC",
        )
    return _closed_error(
        f"the proxy closed the connection: {method}{said}",
        hint="the proxy could not reach a service it needs; check the Qlik services",
    )


class EngineProtocol:
    """JSON-RPC state for one engine websocket. Not thread-safe: drivers hold a lock.

    ``greeting=False`` skips the greeting (for servers that never send one).
    """

    def __init__(self, *, greeting: bool = True) -> None:
        self._next_id = 1
        self._pending: dict[int, _Pending] = {}
        self._handles: dict[int, HandleInfo] = {GLOBAL_HANDLE: HandleInfo(GLOBAL_INTERFACE)}
        self._closed_handles: set[int] = set()
        self._greeting_id: int | None = None
        self.greeting_done = not greeting
        #: ``qSessionState`` from ``OnConnected`` (``None`` until it arrives).
        self.session_state: SessionState | None = None
        #: The raw ``qSessionState`` text, also when it is a state this module does not know.
        self.session_state_text: str | None = None
        #: ``OnAuthenticationInformation`` params (user id, directory, logout URI), if sent.
        self.authentication: JsonObject | None = None
        #: ``qComponentVersion`` from the greeting call, when the engine answered it.
        self.engine_version: str | None = None
        #: Why the session ended, once the server said so.
        self.fatal_error: QlikAuthError | None = None
        #: True once :meth:`connection_lost` ran: no more requests.
        self.closed = False

    # -- outgoing -----------------------------------------------------------------------------

    def start(self) -> Request:
        """The greeting's barrier call: send it first, as soon as the socket opens."""
        if self._greeting_id is not None or self.greeting_done:
            raise RuntimeError("the greeting was already started")
        request = self.request(GLOBAL_HANDLE, GREETING_METHOD)
        self._greeting_id = request.id
        return request

    def request(self, handle: int, method: str, params: Params | None = None) -> Request:
        """Register a call and return it for the wire.

        Raises :class:`ObjectNotFoundError` without a round trip when ``handle`` was closed,
        and :class:`EngineClosedError` once the connection is closed.
        """
        if not method or not isinstance(method, str):
            raise ValueError("an engine method name is a non-empty string")
        if self.closed:
            error = _closed_error(
                f"cannot call {method}: the engine connection is closed",
                hint=_closed_hint(self.fatal_error),
            )
            raise error from self.fatal_error
        self.check_handle(handle, method)
        body: dict[str, object] = {
            "jsonrpc": "2.0",
            "id": self._next_id,
            "method": method,
            "handle": handle,
            "params": _params_json(params),
        }
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        request = Request(id=self._next_id, handle=handle, method=method, text=text)
        self._pending[request.id] = _Pending(method=method, handle=handle)
        self._next_id += 1
        return request

    def abandon(self, request_id: int) -> bool:
        """Forget a pending call (its timeout passed); a late answer is dropped quietly."""
        return self._pending.pop(request_id, None) is not None

    def check_handle(self, handle: int, method: str | None = None) -> None:
        """Raise :class:`ObjectNotFoundError` if the engine closed ``handle``."""
        if handle not in self._closed_handles:
            return
        what = f"; {method} was not sent" if method else ""
        raise ObjectNotFoundError(
            f"handle {handle} was closed by the engine{what}",
            code=2,
            parameter=str(handle),
            method=method,
            hint="the object is gone (closed, destroyed or its app was closed); get it again",
        )

    # -- incoming -----------------------------------------------------------------------------

    def receive(self, data: str | bytes) -> list[Event]:
        """Digest one text from the server and return what happened."""
        try:
            message = json.loads(data)
        except ValueError:
            logger.warning("ignored a frame from the engine that is not JSON")
            return []
        if not isinstance(message, dict):
            logger.warning("ignored a JSON-RPC frame that is not an object")
            return []
        if "id" in message and message["id"] is not None and "method" not in message:
            return self._receive_response(message)
        method = message.get("method")
        if isinstance(method, str):
            if "id" in message and message["id"] is not None:
                logger.debug("ignored a request from the engine: %s", method)
                return []
            return self._receive_notification(method, message.get("params"))
        logger.debug("ignored a JSON-RPC frame with neither id nor method")
        return []

    def connection_lost(
        self, *, code: int | None = None, reason: str = "", cause: str | None = None
    ) -> list[Event]:
        """The socket is gone: fail every pending call (and the greeting, if still open).

        ``code``/``reason`` are the websocket close code and reason; ``cause`` says what
        failed when there was no close frame (a reset, a TLS error) or who closed.
        """
        if self.closed:
            return []
        self.closed = True
        detail = _close_detail(code, reason, cause)
        events: list[Event] = []
        if not self.greeting_done:
            self.greeting_done = True
            error = self.fatal_error or _closed_error(
                f"the engine websocket closed during the greeting{detail}",
                hint=(
                    "the server accepted the upgrade, then closed; check the credentials, "
                    "the app id and the server's log"
                ),
            )
            events.append(GreetingFailed(error))
        pending, self._pending = self._pending, {}
        if self._greeting_id is not None:
            pending.pop(self._greeting_id, None)
            self._greeting_id = None
        for request_id, call in sorted(pending.items()):
            error = _closed_error(
                f"the engine websocket closed while {call.method} was pending{detail}",
                hint=_closed_hint(self.fatal_error),
            )
            error.method = call.method
            error.__cause__ = self.fatal_error
            events.append(CallFailed(request_id, call.method, call.handle, error))
        return events

    # -- the handle table ---------------------------------------------------------------------

    @property
    def handles(self) -> Mapping[int, HandleInfo]:
        """Known open or suspended handles (Global included)."""
        return self._handles

    @property
    def pending_count(self) -> int:
        """How many calls await an answer."""
        return len(self._pending)

    def handle_state(self, handle: int) -> HandleState | None:
        """The state of ``handle``, or ``None`` if the engine never mentioned it."""
        if handle in self._closed_handles:
            return HandleState.CLOSED
        info = self._handles.get(handle)
        return info.state if info else None

    # -- internals ----------------------------------------------------------------------------

    def _receive_response(self, message: dict[str, JsonValue]) -> list[Event]:
        raw_id = message["id"]
        request_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        call = self._pending.pop(request_id, None) if request_id is not None else None
        events: list[Event] = []
        result = message.get("result")
        error = message.get("error")
        if call is not None and error is None and isinstance(result, dict):
            for value in result.values():
                interface = ObjectInterface.from_json(value)
                if interface is not None:
                    self._open_handle(interface)
        events.extend(self._apply_lists(message))
        if call is None or request_id is None:
            # A late answer to an abandoned call, or to nothing we sent: dropped.
            logger.debug("ignored an answer to an unknown or abandoned request id")
            return events
        if isinstance(error, dict):
            failure = engine_error(error, method=call.method)
            events.append(CallFailed(request_id, call.method, call.handle, failure))
        elif error is not None:
            failure = engine_error({"code": -1, "message": str(error)}, method=call.method)
            events.append(CallFailed(request_id, call.method, call.handle, failure))
        else:
            events.append(
                CallSucceeded(
                    request_id, call.method, call.handle, result if isinstance(result, dict) else {}
                )
            )
        if request_id == self._greeting_id:
            self._greeting_id = None
            events = self._finish_greeting(events[-1], events[:-1])
        return events

    def _finish_greeting(self, answer: Event, events: list[Event]) -> list[Event]:
        if isinstance(answer, CallSucceeded):
            version = answer.result.get("qVersion")
            if isinstance(version, dict):
                component = version.get("qComponentVersion")
                if isinstance(component, str):
                    self.engine_version = component
        if not self.greeting_done:
            self.greeting_done = True
            if self.fatal_error is None:
                events.append(GreetingCompleted(self.session_state))
        return events

    def _receive_notification(self, method: str, params: JsonValue) -> list[Event]:
        events: list[Event] = [NotificationReceived(method, params)]
        error: QlikAuthError | None = None
        fields = params if isinstance(params, dict) else {}
        if method == "OnConnected":
            error = self._on_connected(fields.get("qSessionState"))
        elif method == "OnAuthenticationInformation":
            error = self._on_authentication(fields)
        else:
            error = proxy_notification_error(method, params)
        if error is not None and self.fatal_error is None:
            self.fatal_error = error
            if self.greeting_done:
                events.append(SessionEnded(error))
            else:
                self.greeting_done = True
                events.append(GreetingFailed(error))
        return events

    def _on_connected(self, state: JsonValue) -> QlikAuthError | None:
        if not isinstance(state, str):
            return None
        self.session_state_text = state
        try:
            known = SessionState(state)
        except ValueError:
            if "ERROR" not in state and "FAILURE" not in state:
                return None
            return EngineSessionError(
                f"the engine refused the session: {_quote(state)}",
                code=-1,
                parameter=_quote(state),
            )
        self.session_state = known
        if known.ok:
            return None
        return EngineSessionError(
            f"the engine refused the session: {known.value}",
            code=_SESSION_STATE_CODES[known],
            parameter=known.value,
            hint=_SESSION_STATE_HINTS.get(known),
        )

    def _on_authentication(self, fields: dict[str, JsonValue]) -> QlikAuthError | None:
        if fields.get("mustAuthenticate") is not True:
            self.authentication = dict(fields)
            return None
        login = fields.get("loginUri")
        return MustAuthenticateError(
            "the proxy opened the websocket but says the request is not authenticated "
            "(mustAuthenticate: true)",
            login_uri=login if isinstance(login, str) else None,
            hint=(
                "the upgrade carried no valid session for this virtual proxy: log in first and "
                "send its session cookie (for the right prefix) on the upgrade"
            ),
        )

    def _open_handle(self, interface: ObjectInterface) -> None:
        self._closed_handles.discard(interface.handle)
        self._handles[interface.handle] = HandleInfo(interface)

    def _apply_lists(self, message: Mapping[str, JsonValue]) -> list[Event]:
        events: list[Event] = []
        changed = _handle_list(message.get("change"))
        if changed:
            for handle in changed:
                info = self._handles.get(handle)
                if info is not None and info.state is HandleState.SUSPENDED:
                    info.state = HandleState.OPEN
            events.append(HandlesChanged(changed))
        closed = _handle_list(message.get("close"))
        if closed:
            for handle in closed:
                self._handles.pop(handle, None)
                if handle != GLOBAL_HANDLE:
                    self._closed_handles.add(handle)
            events.append(HandlesClosed(closed))
        suspended = _handle_list(message.get("suspend"))
        if suspended:
            for handle in suspended:
                info = self._handles.get(handle)
                if info is not None:
                    info.state = HandleState.SUSPENDED
            events.append(HandlesSuspended(suspended))
        return events


def _handle_list(value: JsonValue) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(h for h in value if isinstance(h, int) and not isinstance(h, bool))


def _params_json(params: Params | None) -> object:
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return dict(params)
    if isinstance(params, str | bytes):
        raise TypeError("params are a mapping (by name) or a sequence (by position), not a string")
    return list(params)


def _close_detail(code: int | None, reason: str, cause: str | None) -> str:
    parts = []
    if code is not None:
        parts.append(f"close code {code}")
    if reason:
        parts.append(f'reason "{_quote(reason)}"')
    if cause:
        parts.append(cause)
    return f" ({', '.join(parts)})" if parts else ""


def _closed_hint(fatal: QlikAuthError | None) -> str:
    if fatal is not None:
        return f"the server ended the session first: {fatal.message}"
    return "the connection failed or was closed; open a new connection and call again"
