"""What an engine connection does with its socket's bytes, described once and with no I/O.

:class:`EngineSession` holds the websocket's framing (:class:`~qlikauth.engine.wire.Wire`),
the JSON-RPC state (:class:`~qlikauth.engine.protocol.EngineProtocol`), the pending calls
and the listeners. Bytes a driver reads go to :meth:`EngineSession._feed`, which answers
what the websocket needs answered and resolves the futures and listeners the events name;
calls go out through :meth:`EngineSession._send_call`. A driver supplies the socket: a lock
where threads share the session (:attr:`~EngineSession._guard`), and four hooks: what a
future is (:meth:`~EngineSession._new_future`), how bytes are written
(:meth:`~EngineSession._write`), how the end of a closing handshake is awaited
(:meth:`~EngineSession._expect_close`) and how a listener runs
(:meth:`~EngineSession._start_listener`).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from websockets.exceptions import ConnectionClosed, InvalidState, InvalidURI, PayloadTooBig

from qlikauth.engine._transport import ConnectOptions, close_details, connect_error
from qlikauth.engine.messages import (
    CallFailed,
    CallSucceeded,
    Event,
    GreetingCompleted,
    GreetingFailed,
    HandleEventKind,
    HandlesChanged,
    HandlesClosed,
    HandlesSuspended,
    JsonValue,
    Listener,
    NotificationReceived,
    Params,
    Request,
    SessionEnded,
)
from qlikauth.engine.protocol import EngineProtocol
from qlikauth.engine.wire import Wire

__all__ = ["EngineSession", "NotificationListener"]

C = TypeVar("C")

#: A notification listener: ``callback(method, params)``. On an asyncio connection it may
#: return an awaitable, which then runs as a task.
NotificationListener = Callable[[str, JsonValue], object]

_HANDLE_EVENT_KINDS: tuple[HandleEventKind, ...] = ("changed", "closed", "suspended")


class _Settable(Protocol):
    """What both kinds of future offer (``concurrent.futures`` and ``asyncio``)."""

    def done(self) -> bool: ...

    def set_result(self, result: Any, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


class EngineSession:
    """One engine websocket's state and events, for a driver that owns the socket."""

    #: Seconds between keepalive pings; a ping still unanswered at the next one fails the
    #: socket (websockets' own clients ping every 20 s too).
    _keepalive_interval = 20.0
    #: Seconds the server has to close the socket once the closing handshake started.
    _close_timeout = 10.0

    #: Guards the tables (and the socket's writes) while they are read or changed: a lock
    #: where threads share the session, nothing on an event loop.
    _guard: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    _calls: dict[int, Any]
    _upgraded: Any
    _greeting: Any

    def __init__(self, options: ConnectOptions) -> None:
        try:
            self._wire = Wire(options)
        except InvalidURI as exc:
            raise connect_error(exc, options) from exc
        self._protocol = EngineProtocol()
        self._calls = {}
        self._upgraded = self._new_future()
        self._greeting = self._new_future()
        self._notification_listeners: dict[str, list[NotificationListener]] = defaultdict(list)
        self._handle_listeners: dict[tuple[int, HandleEventKind], list[Listener]] = defaultdict(
            list
        )
        self._closing = False
        self._close_expected = False
        self._cause: str | None = None
        self._max_message_size = options.max_message_size

    def _begin_greeting(self) -> None:
        """Send the greeting's barrier call, the first message on the socket."""
        with self._guard:
            if self._protocol.greeting_done or not self._wire.open:
                return  # the server already refused the session, and it closes
            request = self._protocol.start()
            self._write(self._wire.send_text(request.text))

    def _send_call(
        self, handle: int, method: str, params: Params | None, register: Callable[[Request], C]
    ) -> C:
        """Register a call (``register`` makes the driver's future) and send it."""
        with self._guard:
            request = self._protocol.request(handle, method, params)
            call = register(request)
            try:
                chunks = self._wire.send_text(request.text)
            except InvalidState:
                pass  # the socket is closing: its end fails the call, with the reason
            else:
                self._write(chunks)
        return call

    def _abandon(self, request_id: int) -> bool:
        """Give up on a call; ``False`` when its answer already arrived (and is on its way
        to the future), so the caller must take that answer instead."""
        with self._guard:
            if not self._protocol.abandon(request_id):
                return False
            self._calls.pop(request_id, None)
            return True

    def _listen(self, table: dict[Any, list[Any]], key: Any, callback: Any) -> Callable[[], None]:
        """Add ``callback`` to ``table[key]``; the function that removes it again."""
        with self._guard:
            table[key].append(callback)

        def remove() -> None:
            with self._guard:
                listeners = table.get(key, [])
                if callback in listeners:
                    listeners.remove(callback)

        return remove

    # -- the socket's events ------------------------------------------------------------------

    def _feed(self, data: bytes) -> bool:
        """Digest bytes read from the socket (``b""``: it ended) and act on what they say;
        ``True`` once the stream ended."""
        events: list[Event] = []
        with self._guard:
            received = self._wire.receive(data)
            if received.outgoing:
                self._write(received.outgoing)
            for text in received.texts:
                events.extend(self._protocol.receive(text))
        if received.upgraded and not self._upgraded.done():
            if received.upgrade_error is None:
                self._upgraded.set_result(None)
            else:
                self._upgraded.set_exception(received.upgrade_error)
        if events:
            self._dispatch(events)
        if received.closing:
            self._watch_closing()
        return received.ended

    def _start_closing(self) -> None:
        """Start the closing handshake (the server then closes the socket)."""
        with self._guard:
            self._closing = True
            self._write(self._wire.close())
        self._watch_closing()

    def _keepalive(self) -> bool:
        """Send a keepalive ping; ``False`` when the last one went unanswered: abort then."""
        with self._guard:
            chunks, answered = self._wire.keepalive()
            self._write(chunks)
        if not answered:
            self._cause = "no answer to a keepalive ping"
        return answered

    def _watch_closing(self) -> None:
        if self._wire.closing and not self._close_expected:
            self._close_expected = True
            self._expect_close()

    def _lost(self, failure: BaseException | None) -> list[Event]:
        """The socket ended (``failure`` says how): the protocol fails what is pending."""
        code, reason = close_details(failure)
        if self._cause is not None:
            cause: str | None = self._cause
        elif self._closing:
            cause = "closed by this client"
        elif failure is not None and not isinstance(failure, ConnectionClosed):
            cause = type(failure).__name__
        else:
            cause = None
        # websockets fails the socket (close code 1009) on a message above max_size.
        too_large = (
            self._max_message_size
            if isinstance(failure, ConnectionClosed)
            and isinstance(failure.__cause__, PayloadTooBig)
            else None
        )
        with self._guard:
            return self._protocol.connection_lost(
                code=code, reason=reason, cause=cause, too_large=too_large
            )

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, (CallSucceeded, CallFailed)):
                with self._guard:
                    call: _Settable | None = self._calls.pop(event.request_id, None)
                if call is None or call.done():
                    continue
                if isinstance(event, CallSucceeded):
                    call.set_result(event.result)
                else:
                    call.set_exception(event.error)
            elif isinstance(event, NotificationReceived):
                with self._guard:
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
                self._start_closing()

    def _dispatch_handles(self, event: HandlesChanged | HandlesClosed | HandlesSuspended) -> None:
        kind: HandleEventKind
        if isinstance(event, HandlesChanged):
            kind = "changed"
        elif isinstance(event, HandlesClosed):
            kind = "closed"
        else:
            kind = "suspended"
        for handle in event.handles:
            with self._guard:
                listeners = list(self._handle_listeners.get((handle, kind), ()))
                if kind == "closed":
                    for other in _HANDLE_EVENT_KINDS:
                        self._handle_listeners.pop((handle, other), None)
            for listener in listeners:
                self._start_listener(listener)

    # -- the driver's hooks -------------------------------------------------------------------

    def _new_future(self) -> Any:
        """A future of the driver's kind."""
        raise NotImplementedError

    def _write(self, chunks: list[bytes]) -> None:
        """Write ``chunks`` to the socket in order (``b""``: half-close it)."""
        raise NotImplementedError

    def _expect_close(self) -> None:
        """The closing handshake started: give the server ``_close_timeout`` to close."""
        raise NotImplementedError

    def _start_listener(self, listener: Listener) -> None:
        """Run one listener (the sync connection inline, the asyncio one as a task)."""
        raise NotImplementedError


def _bind(listener: Callable[[str, JsonValue], object], method: str, params: JsonValue) -> Listener:
    return lambda: listener(method, params)
