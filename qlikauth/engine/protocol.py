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

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from qlikauth.engine.messages import (
    GLOBAL_HANDLE,
    GLOBAL_INTERFACE,
    CallFailed,
    CallSucceeded,
    Event,
    GreetingCompleted,
    GreetingFailed,
    HandleInfo,
    HandlesChanged,
    HandlesClosed,
    HandlesSuspended,
    HandleState,
    JsonObject,
    JsonValue,
    NotificationReceived,
    ObjectInterface,
    Params,
    Request,
    SessionEnded,
    SessionState,
)
from qlikauth.engine.notifications import (
    CONNECTION_LOST,
    close_detail,
    closed_error,
    closed_hint,
    must_authenticate_error,
    proxy_notification_error,
    session_state_error,
    too_large_error,
)
from qlikauth.errors import (
    EngineClosedError,
    EngineTimeoutError,
    ObjectNotFoundError,
    QlikAuthError,
    engine_error,
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

#: The call that closes the greeting; its answer also gives the engine version.
GREETING_METHOD = "EngineVersion"

#: The keys under which an answer lists changed, closed and suspended handles.
_LISTS = frozenset({"change", "close", "suspend"})
# One encoder for every request: json.dumps() with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass
class _Pending:
    method: str
    handle: int


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
            error = closed_error(
                f"cannot call {method}: the engine connection is closed",
                hint=closed_hint(self.fatal_error),
            )
            raise error from self.fatal_error
        if handle in self._closed_handles:
            self.check_handle(handle, method)
        body: dict[str, object] = {
            "jsonrpc": "2.0",
            "id": self._next_id,
            "method": method,
            "handle": handle,
            "params": _params_json(params),
        }
        text = _ENCODER.encode(body)
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
            message = json.loads(data.decode() if isinstance(data, bytes) else data)
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
        self,
        *,
        code: int | None = None,
        reason: str = "",
        cause: str | None = None,
        too_large: int | None = None,
    ) -> list[Event]:
        """The socket is gone: fail every pending call (and the greeting, if still open).

        ``code``/``reason`` are the websocket close code and reason; ``cause`` says what
        failed when there was no close frame (a reset, a TLS error) or who closed.
        ``too_large`` is the message size limit when this client closed because the server
        sent a bigger message: the calls then fail with :class:`EngineMessageTooLargeError`.
        """
        if self.closed:
            return []
        self.closed = True
        detail = close_detail(code, reason, cause)
        events: list[Event] = []
        if not self.greeting_done:
            self.greeting_done = True
            refusal: QlikAuthError
            if too_large is not None:
                refusal = too_large_error("the engine greeting failed", too_large)
            else:
                refusal = self.fatal_error or closed_error(
                    f"the engine websocket closed during the greeting{detail}",
                    hint=(
                        "the server accepted the upgrade, then closed; check the credentials, "
                        "the app id and the server's log"
                    ),
                )
            events.append(GreetingFailed(refusal))
        pending, self._pending = self._pending, {}
        if self._greeting_id is not None:
            pending.pop(self._greeting_id, None)
            self._greeting_id = None
        for request_id, call in sorted(pending.items()):
            error: EngineClosedError
            if too_large is not None:
                error = too_large_error(f"{call.method} failed", too_large)
            else:
                error = closed_error(
                    f"the engine websocket closed while {call.method} was pending{detail}",
                    hint=closed_hint(self.fatal_error),
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
                if isinstance(value, dict) and "qHandle" in value:
                    interface = ObjectInterface.from_json(value)
                    if interface is not None:
                        self._open_handle(interface)
        if _LISTS.intersection(message):
            events.extend(self._apply_lists(message))
        if call is None or request_id is None:
            self._log_stray_answer(raw_id, request_id)
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

    def _log_stray_answer(self, raw_id: JsonValue, request_id: int | None) -> None:
        """Say which answer was dropped: a late one to an abandoned call, or one to an id
        this connection never sent (a confused or hostile server)."""
        if request_id is not None and 0 < request_id < self._next_id:
            logger.info(
                "ignored a late answer to request id %d (abandoned after its timeout)", request_id
            )
        else:
            # repr() keeps a server's text to one line; the cut keeps it short.
            logger.warning(
                "ignored an answer to request id %s, which this connection never sent",
                repr(raw_id)[:40],
            )

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
            self.session_state = SessionState(state)
        except ValueError:
            self.session_state = None
        return session_state_error(state)

    def _on_authentication(self, fields: dict[str, JsonValue]) -> QlikAuthError | None:
        error = must_authenticate_error(fields)
        if error is None:
            self.authentication = dict(fields)
        return error

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
