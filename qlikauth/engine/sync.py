"""The engine connector over ``websockets.sync.client``: threads and futures.

One reader thread reads every frame and resolves a future per call, so calls can be made
from many threads at once and pipelined (send many, then wait). Each call may have its own
timeout. When the socket closes or fails, every pending call fails with
:class:`~qlikauth.errors.EngineClosedError`; listeners run on the reader thread.

::

    with EngineConnection.open(site, credentials, "app-id") as conn:
        doc = conn.open_doc()
        print(doc.evaluate("Sum(Amount)"))
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, reconnect
from websockets.typing import Origin

from qlikauth.engine._dispatch import ConnectionCore
from qlikauth.engine._transport import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_OPEN_TIMEOUT,
    ConnectOptions,
    connect_error,
    options_for,
    run_listener,
    websocket_logger,
)
from qlikauth.engine.objects import Call, Doc, Global, HandleEventKind, Listener
from qlikauth.engine.protocol import (
    GLOBAL_INTERFACE,
    EngineProtocol,
    EngineTimeoutError,
    GreetingCompleted,
    GreetingFailed,
    JsonObject,
    JsonValue,
    Params,
    SessionEnded,
    SessionState,
)
from qlikauth.errors import ConfigurationError, EngineSessionError, QlikAuthError

if TYPE_CHECKING:
    from qlikauth.credentials import Credentials
    from qlikauth.site import Site

__all__ = ["EngineCall", "EngineConnection", "NotificationListener"]

logger = logging.getLogger(__name__)

NotificationListener = Callable[[str, JsonValue], object]


class _Connection(ClientConnection):
    """websockets' threaded connection, made safe for the TLS 1.3 opening.

    websockets reads on its own thread from the moment the socket exists. With TLS 1.3 the
    server's session tickets arrive then, and an OpenSSL object read on one thread while the
    upgrade request is written on another sometimes loses the request (measured: about 1
    opening in 1,000 here; never with TLS 1.2 or asyncio). So reading starts once the request
    is written.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._request_written = threading.Event()
        super().__init__(*args, **kwargs)

    def recv_events(self) -> None:
        self._request_written.wait()
        super().recv_events()

    def send_data(self) -> None:
        try:
            super().send_data()
        finally:
            self._request_written.set()

    def close_socket(self) -> None:
        self._request_written.set()
        # A reader blocked in a TLS read (the server completed the handshake, then said
        # nothing) is not woken by close(); shutdown() wakes it, so opening can time out.
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        super().close_socket()


class _NoRedirects(reconnect):
    """Never follow a redirect on the upgrade: it is a login page, reported as an error."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


class EngineCall(Future[JsonObject]):
    """A pending engine call; :meth:`result` waits for it (with an optional timeout)."""

    def __init__(self, connection: EngineConnection, request_id: int, method: str) -> None:
        super().__init__()
        self.request_id = request_id
        self.method = method
        self._connection = connection

    def result(self, timeout: float | None = None) -> JsonObject:
        """The call's result; raises its :class:`EngineError` or :class:`EngineTimeoutError`."""
        if not self.done() and threading.current_thread() is self._connection._reader:
            raise RuntimeError(
                "an engine listener cannot wait for an engine call (it runs on the reader "
                "thread); hand the work to another thread"
            )
        try:
            return super().result(timeout)
        except TimeoutError as exc:
            if isinstance(exc, QlikAuthError):
                raise
            if not self._connection._abandon(self.request_id):
                # The answer came in as the time ran out: the reader is handing it over.
                return super().result()
            error = EngineTimeoutError(
                f"{self.method} got no answer within {timeout:g} s; the call was abandoned",
                hint="raise the timeout for long calls (reloads, big exports)",
            )
            if not self.done():
                self.set_exception(error)
            raise error from None


class EngineConnection(ConnectionCore):
    """One engine websocket (one engine session), usable from many threads.

    Open it with :meth:`open` (a :class:`~qlikauth.site.Site` and
    :class:`~qlikauth.credentials.Credentials`) or :meth:`connect` (a URL and headers).
    ``call_timeout`` is the default timeout of every call (``None``: wait until the socket
    closes).
    """

    def __init__(
        self,
        websocket: ClientConnection,
        *,
        url: str,
        app_id: str | None = None,
        call_timeout: float | None = None,
    ) -> None:
        self._ws = websocket
        self._protocol = EngineProtocol()
        self._state_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._calls: dict[int, EngineCall] = {}
        self._greeting: Future[GreetingCompleted] = Future()
        self._notification_listeners: dict[str, list[NotificationListener]] = defaultdict(list)
        self._handle_listeners: dict[tuple[int, HandleEventKind], list[Listener]] = defaultdict(
            list
        )
        self._closing = False
        self._reader = threading.Thread(
            target=self._read_loop, name="qlikauth-engine-reader", daemon=True
        )
        self.url = url
        self.app_id = app_id
        self.call_timeout = call_timeout
        self.global_ = Global(self, GLOBAL_INTERFACE)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
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
    ) -> Self:
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
        return cls._open(options, app_id, call_timeout, require_attached)

    @classmethod
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
    ) -> Self:
        """Connect to an engine websocket URL with explicit TLS, headers and Origin."""
        options = ConnectOptions(
            url=url,
            ssl=ssl_context,
            headers=dict(headers or {}),
            origin=origin,
            open_timeout=timeout,
            max_message_size=max_message_size,
        )
        return cls._open(options, app_id, call_timeout, require_attached)

    @classmethod
    def _open(
        cls,
        options: ConnectOptions,
        app_id: str | None,
        call_timeout: float | None,
        require_attached: bool,
    ) -> Self:
        started = time.monotonic()
        try:
            websocket = _NoRedirects(
                options.url,
                ssl=options.ssl,
                additional_headers=dict(options.headers),
                origin=Origin(options.origin) if options.origin else None,
                open_timeout=options.open_timeout,
                max_size=options.max_message_size,
                user_agent_header=options.user_agent,
                logger=websocket_logger,
                create_connection=_Connection,
            ).connect()
        except Exception as exc:
            raise connect_error(exc, options) from exc
        # Opened directly (not as a context manager): we own closing it.
        websocket.pending_legacy_warning = False
        connection = cls(websocket, url=options.safe_url, app_id=app_id, call_timeout=call_timeout)
        left = None
        if options.open_timeout is not None:
            left = max(0.1, options.open_timeout - (time.monotonic() - started))
        try:
            connection._start(left)
            if require_attached and connection.session_state is not SessionState.ATTACHED:
                raise EngineSessionError(
                    f"the engine session was not resumed (state: "
                    f"{connection.session_state_text or 'unknown'})",
                    code=-12,
                    parameter=connection.session_state_text or "",
                    hint="the session expired (its ttl passed) or the identity is not the same",
                )
        except BaseException:
            connection.close()
            raise
        return connection

    def _start(self, timeout: float | None) -> None:
        with self._state_lock:
            request = self._protocol.start()
        self._reader.start()
        try:
            with self._send_lock:
                self._ws.send(request.text)
        except ConnectionClosed:
            pass  # the reader reports why
        try:
            self._greeting.result(timeout)
        except TimeoutError as exc:
            if isinstance(exc, QlikAuthError):
                raise
            raise EngineTimeoutError(
                f"the engine sent no greeting within {timeout:g} s",
                hint="the server accepted the websocket but did not answer; check the engine",
                url=self.url,
            ) from None

    # -- state --------------------------------------------------------------------------------

    # -- calls --------------------------------------------------------------------------------

    def send(self, handle: int, method: str, params: Params | None = None) -> EngineCall:
        """Send a call without waiting: pipeline several, then wait on each ``result()``."""
        with self._send_lock:
            with self._state_lock:
                request = self._protocol.request(handle, method, params)
                call = EngineCall(self, request.id, method)
                self._calls[request.id] = call
            # On a closed socket the reader fails the call, with the reason.
            with contextlib.suppress(ConnectionClosed):
                self._ws.send(request.text)
        return call

    def call(
        self,
        handle: int,
        method: str,
        params: Params | None = None,
        *,
        timeout: float | None = None,
    ) -> JsonObject:
        """Call ``method`` on ``handle`` and wait (``timeout`` or :attr:`call_timeout`)."""
        return self.send(handle, method, params).result(
            self.call_timeout if timeout is None else timeout
        )

    def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]:
        """Send ``calls`` pipelined on ``handle``, then wait for all (each within ``timeout``)."""
        limit = self.call_timeout if timeout is None else timeout
        sent = [self.send(handle, c.method, c.params) for c in calls]
        return [s.result(limit) for s in sent]

    def open_doc(
        self, app_id: str | None = None, *, no_data: bool = False, timeout: float | None = None
    ) -> Doc:
        """Open ``app_id`` (default: the app of the websocket URL)."""
        app = app_id or self.app_id
        if not app:
            raise ConfigurationError(
                "open_doc needs an app id (none was given, and the connection was opened "
                "without one)"
            )
        return self.global_.open_doc(app, no_data=no_data, timeout=timeout)

    def get_active_doc(self, *, timeout: float | None = None) -> Doc:
        """The app already open in this engine session (after attaching to it)."""
        return self.global_.get_active_doc(timeout=timeout)

    # -- listeners ----------------------------------------------------------------------------

    def on_notification(self, method: str, callback: NotificationListener) -> Callable[[], None]:
        """Call ``callback(method, params)`` for notification ``method`` (``"*"``: all).

        Listeners run on the reader thread: keep them short, and do not wait for engine
        calls in them. Returns a function that removes the listener.
        """
        return self._listen(self._notification_listeners, method, callback)

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the websocket; pending calls fail with :class:`EngineClosedError`."""
        with self._state_lock:
            self._closing = True
        try:
            self._ws.close()
        except Exception:
            logger.debug("error while closing the engine websocket", exc_info=True)
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join()
        elif not self._reader.is_alive() and not self._protocol.closed:
            self._dispatch(self._lost(None))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<EngineConnection {self.url} {state} session={self.session_state_text}>"

    # -- the reader thread --------------------------------------------------------------------

    def _abandon(self, request_id: int) -> bool:
        """Give up on a call; ``False`` when its answer already arrived (and is on its way
        to the future), so the caller must take that answer instead."""
        with self._state_lock:
            if not self._protocol.abandon(request_id):
                return False
            self._calls.pop(request_id, None)
            return True

    def _read_loop(self) -> None:
        failure: BaseException | None = None
        try:
            while True:
                message = self._ws.recv()
                with self._state_lock:
                    events = self._protocol.receive(message)
                self._dispatch(events)
        except ConnectionClosed as exc:
            failure = exc
        except Exception as exc:
            logger.debug("engine reader stopped", exc_info=True)
            failure = exc
        self._dispatch(self._lost(failure))

    def _tables(self) -> threading.Lock:
        return self._state_lock

    def _start_listener(self, listener: Listener) -> None:
        run_listener(listener)

    def _session_ended(self, event: GreetingFailed | SessionEnded) -> None:
        self._close_from_reader()

    def _close_from_reader(self) -> None:
        try:
            self._ws.close()
        except Exception:
            logger.debug("error while closing the engine websocket", exc_info=True)
