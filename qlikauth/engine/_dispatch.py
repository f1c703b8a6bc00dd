"""What the sync and asyncio connections share: the protocol's state, and event routing.

The sync and asyncio connections differ only in how they guard their tables (a lock, or the
event loop), how a listener runs (inline, or as a task) and how the socket is closed when
the session ends; those are the three hooks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from qlikauth.engine._transport import close_details
from qlikauth.engine.objects import HandleEventKind, Listener
from qlikauth.engine.protocol import (
    CallFailed,
    CallSucceeded,
    EngineProtocol,
    Event,
    GreetingCompleted,
    GreetingFailed,
    HandlesChanged,
    HandlesClosed,
    HandlesSuspended,
    HandleState,
    JsonObject,
    JsonValue,
    NotificationReceived,
    SessionEnded,
    SessionState,
)
from qlikauth.errors import QlikAuthError

__all__ = ["ConnectionCore"]

HANDLE_EVENT_KINDS: tuple[HandleEventKind, ...] = ("changed", "closed", "suspended")


class _Settable(Protocol):
    """What both kinds of future offer (``concurrent.futures`` and ``asyncio``)."""

    def done(self) -> bool: ...

    def set_result(self, result: Any, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


class ConnectionCore:
    """The protocol's state as properties, and each protocol event handed to its future or
    listeners."""

    _protocol: EngineProtocol
    _closing: bool
    _calls: dict[int, Any]
    _greeting: Any
    _notification_listeners: dict[str, list[Callable[[str, JsonValue], object]]]
    _handle_listeners: dict[tuple[int, HandleEventKind], list[Listener]]

    @property
    def session_state(self) -> SessionState | None:
        """``qSessionState`` of the greeting: ``SESSION_CREATED`` or ``SESSION_ATTACHED``."""
        return self._protocol.session_state

    @property
    def session_state_text(self) -> str | None:
        """The raw ``qSessionState`` text."""
        return self._protocol.session_state_text

    @property
    def authentication(self) -> JsonObject | None:
        """``OnAuthenticationInformation`` from the proxy (user id and directory), if sent."""
        return self._protocol.authentication

    @property
    def engine_version(self) -> str | None:
        """The engine's version, read during the greeting."""
        return self._protocol.engine_version

    @property
    def closed(self) -> bool:
        """True once the socket is closed; calls then raise :class:`EngineClosedError`."""
        return self._protocol.closed

    @property
    def close_reason(self) -> QlikAuthError | None:
        """Why the server ended the session (timeout, logout, ...), once it said so."""
        return self._protocol.fatal_error

    def handle_state(self, handle: int) -> HandleState | None:
        """Open, suspended or closed, per the engine's lists."""
        with self._tables():
            return self._protocol.handle_state(handle)

    def add_handle_listener(
        self, handle: int, kind: HandleEventKind, callback: Listener
    ) -> Callable[[], None]:
        """Call ``callback()`` when ``handle`` is changed, closed or suspended."""
        return self._listen(self._handle_listeners, (handle, kind), callback)

    def _listen(self, table: dict[Any, list[Any]], key: Any, callback: Any) -> Callable[[], None]:
        """Add ``callback`` to ``table[key]``; the function that removes it again."""
        with self._tables():
            table[key].append(callback)

        def remove() -> None:
            with self._tables():
                listeners = table.get(key, [])
                if callback in listeners:
                    listeners.remove(callback)

        return remove

    def _lost(self, failure: BaseException | None) -> list[Event]:
        """The socket ended (``failure`` says how): the protocol fails what is pending."""
        code, reason = close_details(failure)
        if self._closing:
            cause: str | None = "closed by this client"
        elif failure is not None and not isinstance(failure, ConnectionClosed):
            cause = type(failure).__name__
        else:
            cause = None
        with self._tables():
            return self._protocol.connection_lost(code=code, reason=reason, cause=cause)

    def _tables(self) -> contextlib.AbstractContextManager[object]:
        """Guards the tables while they are read or changed."""
        return contextlib.nullcontext()

    def _start_listener(self, listener: Listener) -> None:
        """Run one listener (the sync connection inline, the asyncio one as a task)."""
        raise NotImplementedError

    def _session_ended(self, event: GreetingFailed | SessionEnded) -> None:
        """The session is over: close the socket."""
        raise NotImplementedError

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, CallSucceeded | CallFailed):
                with self._tables():
                    call: _Settable | None = self._calls.pop(event.request_id, None)
                if call is None or call.done():
                    continue
                if isinstance(event, CallSucceeded):
                    call.set_result(event.result)
                else:
                    call.set_exception(event.error)
            elif isinstance(event, NotificationReceived):
                with self._tables():
                    listeners = [
                        *self._notification_listeners.get(event.method, ()),
                        *self._notification_listeners.get("*", ()),
                    ]
                for listener in listeners:
                    self._start_listener(_bind(listener, event.method, event.params))
            elif isinstance(event, HandlesChanged | HandlesClosed | HandlesSuspended):
                self._dispatch_handles(event)
            elif isinstance(event, GreetingCompleted):
                if not self._greeting.done():
                    self._greeting.set_result(event)
            elif isinstance(event, GreetingFailed | SessionEnded):
                if isinstance(event, GreetingFailed) and not self._greeting.done():
                    self._greeting.set_exception(event.error)
                self._session_ended(event)

    def _dispatch_handles(self, event: HandlesChanged | HandlesClosed | HandlesSuspended) -> None:
        kind: HandleEventKind
        if isinstance(event, HandlesChanged):
            kind = "changed"
        elif isinstance(event, HandlesClosed):
            kind = "closed"
        else:
            kind = "suspended"
        for handle in event.handles:
            with self._tables():
                listeners = list(self._handle_listeners.get((handle, kind), ()))
                if kind == "closed":
                    for other in HANDLE_EVENT_KINDS:
                        self._handle_listeners.pop((handle, other), None)
            for listener in listeners:
                self._start_listener(listener)


def _bind(listener: Callable[[str, JsonValue], object], method: str, params: JsonValue) -> Listener:
    return lambda: listener(method, params)
