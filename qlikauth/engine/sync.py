"""The engine connector on threads: one socket, one reader thread, a future per call.

The reader thread reads the socket, turns the bytes into events with websockets' Sans-I/O
protocol and the JSON-RPC core, and resolves each call's future itself: one thread hand-off
per answer. Calls can be made from many threads at once and pipelined (send many, then
wait), each with its own timeout. When the socket closes or fails, every pending call fails
with :class:`~qlikauth.errors.EngineClosedError`; listeners run on the reader thread.

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
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Self, TypeVar

from qlikauth._twins import SyncDriver
from qlikauth.engine._transport import connect_error, run_listener
from qlikauth.engine.connection import (
    ConnectionApi,
    NotificationListener,
    Opening,
)
from qlikauth.engine.flows import Batch, Call, Steps
from qlikauth.engine.messages import JsonObject, Listener, Params, Request
from qlikauth.engine.objects import Global
from qlikauth.errors import EngineTimeoutError, QlikAuthError
from qlikauth.http.drivers import drive

__all__ = ["EngineCall", "EngineConnection", "NotificationListener"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_READ_SIZE = 65536


class EngineCall(Future[JsonObject]):
    """A pending engine call; :meth:`result` waits for it (with an optional timeout)."""

    def __init__(self, connection: EngineConnection, request_id: int, method: str) -> None:
        super().__init__()
        self.request_id = request_id
        self.method = method
        self._connection = connection

    def result(self, timeout: float | None = None) -> JsonObject:
        """The call's result, within ``timeout`` (default: the connection's ``call_timeout``).

        Raises the engine's :class:`EngineError` or :class:`EngineTimeoutError`.
        """
        if threading.current_thread() is self._connection._reader and not self.done():
            raise RuntimeError(
                "an engine listener cannot wait for an engine call (it runs on the reader "
                "thread); hand the work to another thread"
            )
        if timeout is None:
            timeout = self._connection.call_timeout
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


class EngineConnection(ConnectionApi, SyncDriver):
    """One engine websocket (one engine session), usable from many threads.

    Open it with :meth:`open` (a :class:`~qlikauth.site.Site` and
    :class:`~qlikauth.credentials.Credentials`) or :meth:`connect` (a URL and headers).
    ``call_timeout`` is the default timeout of every call
    (:data:`~qlikauth.engine.connection.DEFAULT_CALL_TIMEOUT`; ``None``, only when given,
    waits until the socket closes).
    """

    global_: Global
    _calls: dict[int, EngineCall]

    def __init__(self, opening: Opening) -> None:
        self._guard = threading.Lock()
        self._socket: socket.socket | None = None
        self._stopped = threading.Event()
        self._reader = threading.Thread(
            target=self._read_loop, name="qlikauth-engine-reader", daemon=True
        )
        super().__init__(opening, Global)

    @classmethod
    def _make(cls, opening: Opening) -> Self:
        connection = cls(opening)
        try:
            connection._open()
        except BaseException:
            connection.close()
            raise
        return connection

    def _open(self) -> None:
        context = self._ssl_context()
        try:
            self._socket = self._dial(context)
            self._write(self._wire.upgrade())
            while not self._upgraded.done():
                self._socket.settimeout(self._opening.time_left())
                self._feed(self._socket.recv(_READ_SIZE))
            self._upgraded.result()
        except Exception as exc:
            raise connect_error(exc, self._opening.options) from exc
        self._socket.settimeout(None)
        self._reader.start()
        keepalive = threading.Thread(target=self._keep_alive, name="qlikauth-engine-keepalive")
        keepalive.daemon = True
        keepalive.start()
        self._begin_greeting()
        timeout = self._opening.time_left()
        try:
            self._greeting.result(timeout)
        except TimeoutError as exc:
            if isinstance(exc, QlikAuthError):
                raise
            raise self._no_greeting(timeout) from None
        self._check_attached()

    def _dial(self, context: ssl.SSLContext | None) -> socket.socket:
        wire = self._wire
        sock = socket.create_connection((wire.host, wire.port), self._opening.time_left())
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if context is not None:
                sock.settimeout(self._opening.time_left())
                sock = context.wrap_socket(sock, server_hostname=wire.host)
        except BaseException:
            sock.close()
            raise
        return sock

    # -- calls --------------------------------------------------------------------------------

    def send(self, handle: int, method: str, params: Params | None = None) -> EngineCall:
        """Send a call without waiting: pipeline several, then wait on each ``result()``."""
        return self._send_call(handle, method, params, self._register)

    def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]:
        """Send ``calls`` pipelined on ``handle``, then wait for all (each within ``timeout``)."""
        limit = self.call_timeout if timeout is None else timeout
        sent = [self.send(handle, c.method, c.params) for c in calls]
        return [s.result(limit) for s in sent]

    def _run(self, steps: Steps[T]) -> T:
        return drive(steps, self._send_batch)

    def _send_batch(self, batch: Batch) -> list[JsonObject]:
        return self.call_many(batch.handle, batch.calls, timeout=batch.timeout)

    def _register(self, request: Request) -> EngineCall:
        call = self._calls[request.id] = EngineCall(self, request.id, request.method)
        return call

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the websocket; pending calls fail with :class:`EngineClosedError`.

        While a ``KeyboardInterrupt`` unwinds, the socket is dropped at once instead: Ctrl-C
        must not wait for the goodbye of an engine still busy with a long call.
        """
        interrupted = isinstance(sys.exc_info()[1], KeyboardInterrupt)
        if self._socket is not None and not interrupted:
            with contextlib.suppress(OSError):
                self._start_closing()
        reader = self._reader
        if reader.is_alive() and threading.current_thread() is not reader:
            if interrupted:
                self._abort()
            reader.join(self._close_timeout)
            if reader.is_alive():
                self._abort()
                reader.join()
        elif not reader.is_alive():
            self._stopped.set()
            if self._socket is not None:
                self._socket.close()
            if not self._protocol.closed:
                self._dispatch(self._lost(None))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the reader and keepalive threads -----------------------------------------------------

    def _read_loop(self) -> None:
        assert self._socket is not None
        failure: BaseException | None = None
        try:
            ended = self._wire.closed
            while not ended:
                try:
                    data = self._socket.recv(_READ_SIZE)
                except OSError:
                    data = b""  # a reset, a TLS failure or a timeout ends the stream
                ended = self._feed(data)
            failure = self._wire.close_exc
        except Exception as exc:
            logger.debug("engine reader stopped", exc_info=True)
            failure = exc
        finally:
            self._stopped.set()
            self._socket.close()
        self._dispatch(self._lost(failure))

    def _keep_alive(self) -> None:
        while not self._stopped.wait(self._keepalive_interval):
            if not self._keepalive():
                self._abort()
                return

    # -- the hooks ----------------------------------------------------------------------------

    def _new_future(self) -> Future[Any]:
        return Future()

    def _write(self, chunks: list[bytes]) -> None:
        sock = self._socket
        if sock is None:
            return
        try:
            for data in chunks:
                if data:
                    sock.sendall(data)
                else:
                    with contextlib.suppress(OSError):  # the server may have gone first
                        sock.shutdown(socket.SHUT_WR)
        except OSError:
            if not self._reader.is_alive():
                raise
            # The reader learns why the socket failed and fails the calls with it.
            self._abort()

    def _expect_close(self) -> None:
        if self._socket is not None:
            self._socket.settimeout(self._close_timeout)

    def _abort(self) -> None:
        # A reader blocked in a read (TLS included) is woken by shutdown(), not by close().
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)

    def _start_listener(self, listener: Listener) -> None:
        run_listener(listener)
