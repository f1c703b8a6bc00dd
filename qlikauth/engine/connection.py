"""An engine connection described once: its state, its calls, and what each event does.

:class:`ConnectionApi` is what :class:`~qlikauth.engine.sync.EngineConnection` (threads) and
:class:`~qlikauth.engine.aio.AsyncEngineConnection` (asyncio) share: the websocket's framing
(:class:`~qlikauth.engine.wire.Wire`), the JSON-RPC state
(:class:`~qlikauth.engine.protocol.EngineProtocol`), the pending calls and listeners, every
public method that does no I/O of its own, and the ones written once as steps (``call``,
``open_doc``, the ``open`` and ``connect`` constructors). A driver adds the socket and four
hooks: how its tables are guarded (:meth:`_tables`), what a future is (:meth:`_new_future`),
how bytes are written (:meth:`_write`) and how a listener runs (:meth:`_start_listener`).
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from websockets.exceptions import ConnectionClosed, InvalidURI

from qlikauth._twins import constructor, operation, operation_returning
from qlikauth.engine._transport import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_OPEN_TIMEOUT,
    ConnectOptions,
    close_details,
    connect_error,
    options_for,
)
from qlikauth.engine.flows import Steps, call_flow, on_handle
from qlikauth.engine.messages import (
    GLOBAL_INTERFACE,
    CallFailed,
    CallSucceeded,
    Event,
    GreetingCompleted,
    GreetingFailed,
    HandleEventKind,
    HandlesChanged,
    HandlesClosed,
    HandlesSuspended,
    HandleState,
    JsonObject,
    JsonValue,
    Listener,
    NotificationReceived,
    Params,
    Request,
    SessionEnded,
    SessionState,
)
from qlikauth.engine.objects import AsyncDoc, Doc, GlobalApi
from qlikauth.engine.protocol import EngineProtocol
from qlikauth.engine.wire import Wire
from qlikauth.errors import (
    ConfigurationError,
    EngineSessionError,
    EngineTimeoutError,
    QlikAuthError,
)

if TYPE_CHECKING:
    from qlikauth.credentials import Credentials
    from qlikauth.site import Site

__all__ = ["ConnectionApi", "NotificationListener", "Opening"]

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


@dataclass(frozen=True)
class Opening:
    """What to open (the upgrade), and what to check once open."""

    options: ConnectOptions
    app_id: str | None = None
    call_timeout: float | None = None
    require_attached: bool = False
    started: float = field(default_factory=time.monotonic)

    def time_left(self) -> float | None:
        """What the open timeout leaves (at least 0.1 s); ``None``: no limit."""
        if self.options.open_timeout is None:
            return None
        return max(0.1, self.options.open_timeout - (time.monotonic() - self.started))


class ConnectionApi:
    """One engine websocket (one engine session), on either driver."""

    #: Seconds between keepalive pings; a ping still unanswered at the next one fails the
    #: socket (websockets' own clients ping every 20 s too).
    _keepalive_interval = 20.0
    #: Seconds the server has to close the socket once the closing handshake started.
    _close_timeout = 10.0

    _calls: dict[int, Any]
    _upgraded: Any
    _greeting: Any

    def __init__(self, opening: Opening, global_class: Callable[[Any, Any], Any]) -> None:
        self._opening = opening
        try:
            self._wire = Wire(opening.options)
        except InvalidURI as exc:
            raise connect_error(exc, opening.options) from exc
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
        self.url = opening.options.safe_url
        self.app_id = opening.app_id
        self.call_timeout = opening.call_timeout
        self.global_ = global_class(self, GLOBAL_INTERFACE)

    # -- opening ------------------------------------------------------------------------------

    @constructor
    def open(
        cls,
        site: Site,
        credentials: Credentials,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
        timeout: float | None = DEFAULT_OPEN_TIMEOUT,
        call_timeout: float | None = None,
        require_attached: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> Opening:
        """Connect with ``credentials`` (proxy or direct), read the greeting, return.

        ``identity`` names an engine session to attach to (with ``ttl``, how long the engine
        keeps it after a disconnect); check :attr:`session_state` for ``SESSION_ATTACHED``, or
        pass ``require_attached=True`` to fail unless the session was resumed.
        """
        options = options_for(
            site,
            credentials,
            app_id,
            identity=identity,
            ttl=ttl,
            timeout=timeout,
            max_message_size=max_message_size,
        )
        return Opening(options, app_id, call_timeout, require_attached)

    @constructor
    def connect(
        cls,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        origin: str | None = None,
        app_id: str | None = None,
        timeout: float | None = DEFAULT_OPEN_TIMEOUT,
        call_timeout: float | None = None,
        require_attached: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> Opening:
        """Connect to an engine websocket URL with explicit TLS, headers and Origin."""
        options = ConnectOptions(
            url=url,
            ssl=ssl_context,
            headers=dict(headers or {}),
            origin=origin,
            open_timeout=timeout,
            max_message_size=max_message_size,
        )
        return Opening(options, app_id, call_timeout, require_attached)

    def _ssl_context(self) -> ssl.SSLContext | None:
        """The TLS to dial with: the options', a default one for ``wss://``, none for ``ws://``."""
        context = self._opening.options.ssl
        if not self._wire.secure:
            if context is not None:
                raise ConfigurationError(
                    f"a TLS context was given for {self.url}, which is not a wss:// URL"
                )
            return None
        return context or ssl.create_default_context()

    def _begin_greeting(self) -> None:
        """Send the greeting's barrier call, the first message on the socket."""
        with self._tables():
            if self._protocol.greeting_done or not self._wire.open:
                return  # the server already refused the session, and it closes
            request = self._protocol.start()
            self._write(self._wire.send_text(request.text))

    def _no_greeting(self, timeout: float | None) -> EngineTimeoutError:
        return EngineTimeoutError(
            f"the engine sent no greeting within {timeout or 0:g} s",
            hint="the server accepted the websocket but did not answer; check the engine",
            url=self.url,
        )

    def _check_attached(self) -> None:
        if self._opening.require_attached and self.session_state is not SessionState.ATTACHED:
            raise EngineSessionError(
                f"the engine session was not resumed (state: "
                f"{self.session_state_text or 'unknown'})",
                code=-12,
                parameter=self.session_state_text or "",
                hint="the session expired (its ttl passed) or the identity is not the same",
            )

    # -- state --------------------------------------------------------------------------------

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

    # -- calls --------------------------------------------------------------------------------

    @operation
    def call(
        self,
        handle: int,
        method: str,
        params: Params | None = None,
        *,
        timeout: float | None = None,
    ) -> Steps[JsonObject]:
        """Call ``method`` on ``handle`` and wait (``timeout`` or :attr:`call_timeout`)."""
        return on_handle(handle, call_flow(method, params), timeout)

    @operation_returning(Doc, AsyncDoc)
    def open_doc(
        self, app_id: str | None = None, *, no_data: bool = False, timeout: float | None = None
    ) -> Steps[Any]:
        """Open ``app_id`` (default: the app of the websocket URL)."""
        app = app_id or self.app_id
        if not app:
            raise ConfigurationError(
                "open_doc needs an app id (none was given, and the connection was opened "
                "without one)"
            )
        return (
            yield from GlobalApi.open_doc.build(self.global_, app, no_data=no_data, timeout=timeout)
        )

    @operation_returning(Doc, AsyncDoc)
    def get_active_doc(self, *, timeout: float | None = None) -> Steps[Any]:
        """The app already open in this engine session (after attaching to it)."""
        return GlobalApi.get_active_doc.build(self.global_, timeout=timeout)

    def _send_call(
        self, handle: int, method: str, params: Params | None, register: Callable[[Request], C]
    ) -> C:
        """Register a call (``register`` makes the driver's future) and send it."""
        with self._tables():
            request = self._protocol.request(handle, method, params)
            call = register(request)
            # On a closing socket the call waits for the end, which fails it with the reason.
            if self._wire.open:
                self._write(self._wire.send_text(request.text))
        return call

    def _abandon(self, request_id: int) -> bool:
        """Give up on a call; ``False`` when its answer already arrived (and is on its way
        to the future), so the caller must take that answer instead."""
        with self._tables():
            if not self._protocol.abandon(request_id):
                return False
            self._calls.pop(request_id, None)
            return True

    # -- listeners ----------------------------------------------------------------------------

    def on_notification(self, method: str, callback: NotificationListener) -> Callable[[], None]:
        """Call ``callback(method, params)`` for notification ``method`` (``"*"``: all).

        On the sync connection listeners run on the reader thread: keep them short, and do
        not wait for engine calls in them. On the asyncio one a coroutine function runs as a
        task. Returns a function that removes the listener.
        """
        return self._listen(self._notification_listeners, method, callback)

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

    # -- the socket's events ------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        """Digest bytes read from the socket (``b""``: it ended) and act on what they say."""
        events: list[Event] = []
        with self._tables():
            received = self._wire.receive(data)
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
        self._watch_closing()

    def _start_closing(self) -> None:
        """Start the closing handshake (the server then closes the socket)."""
        with self._tables():
            self._closing = True
            self._write(self._wire.close())
        self._watch_closing()

    def _keepalive(self) -> bool:
        """Send a keepalive ping; ``False`` when the last one went unanswered: abort then."""
        with self._tables():
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
        with self._tables():
            return self._protocol.connection_lost(code=code, reason=reason, cause=cause)

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
            with self._tables():
                listeners = list(self._handle_listeners.get((handle, kind), ()))
                if kind == "closed":
                    for other in _HANDLE_EVENT_KINDS:
                        self._handle_listeners.pop((handle, other), None)
            for listener in listeners:
                self._start_listener(listener)

    # -- the driver's hooks -------------------------------------------------------------------

    def _tables(self) -> contextlib.AbstractContextManager[object]:
        """Guards the tables (and the socket's writes) while they are read or changed."""
        return contextlib.nullcontext()

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

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.url} {state} session={self.session_state_text}>"


def _bind(listener: Callable[[str, JsonValue], object], method: str, params: JsonValue) -> Listener:
    return lambda: listener(method, params)
