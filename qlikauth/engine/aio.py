"""The engine connector on asyncio: an asyncio protocol on the socket, a future per call.

Bytes go from the event loop's socket straight into websockets' Sans-I/O protocol and the
JSON-RPC core, which resolve each call's future: no reader task. Thousands of concurrent
calls (or connections) run on one event loop. Semantics match :mod:`qlikauth.engine.sync`:
per-call timeouts, pipelining, a clean close, and every pending call failing with
:class:`~qlikauth.errors.EngineClosedError` when the socket goes.

::

    async with await AsyncEngineConnection.open(site, credentials, "app-id") as conn:
        doc = await conn.open_doc()
        print(await doc.evaluate("Sum(Amount)"))
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
from collections.abc import Sequence
from typing import Any, Self, TypeVar

from qlikauth._twins import AsyncDriver
from qlikauth.engine._tls import TlsBuffers
from qlikauth.engine._transport import connect_error, run_listener
from qlikauth.engine.connection import (
    ConnectionApi,
    NotificationListener,
    Opening,
)
from qlikauth.engine.flows import Batch, Call, Steps
from qlikauth.engine.messages import JsonObject, Listener, Params, Request
from qlikauth.engine.objects import AsyncGlobal
from qlikauth.errors import EngineTimeoutError, QlikAuthError
from qlikauth.http.drivers import drive_async

__all__ = ["AsyncEngineCall", "AsyncEngineConnection", "AsyncNotificationListener"]

T = TypeVar("T")

#: A notification listener; it may return an awaitable, which then runs as a task.
AsyncNotificationListener = NotificationListener


class AsyncEngineCall:
    """A pending engine call on an asyncio connection; ``await call.result()`` for its answer."""

    def __init__(
        self,
        connection: AsyncEngineConnection,
        future: asyncio.Future[JsonObject],
        request_id: int,
        method: str,
    ) -> None:
        self.future = future
        self.request_id = request_id
        self.method = method
        self._connection = connection

    def done(self) -> bool:
        """True once answered (or failed)."""
        return self.future.done()

    async def result(self, timeout: float | None = None) -> JsonObject:
        """The call's result, within ``timeout`` (default: the connection's ``call_timeout``).

        Raises the engine's :class:`EngineError` or :class:`EngineTimeoutError`.
        """
        return await self._connection._wait(self, timeout)


class _Socket(asyncio.Protocol):
    """The event loop's socket callbacks, handed to the connection, with TLS done here.

    TLS runs on :class:`~qlikauth.engine._tls.TlsBuffers` over a plain TCP transport, not on
    asyncio's TLS transport, whose 256 KiB read buffer per socket would outweigh an idle
    engine session several times over.
    """

    def __init__(self, connection: AsyncEngineConnection, tls: TlsBuffers | None) -> None:
        self._connection = connection
        self._tls = tls
        self._transport: asyncio.Transport | None = None
        self._failure: Exception | None = None
        #: Resolved once bytes can carry the upgrade: at once without TLS, else after the
        #: handshake (or failed with the reason it did not complete).
        self.secured = connection._new_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._tls is None:
            self.secured.set_result(None)
        else:
            transport.write(self._tls.start())

    def data_received(self, data: bytes) -> None:
        if self._tls is None:
            self._connection._feed(data)
        else:
            self._decrypt(data)

    def eof_received(self) -> None:
        self.data_received(b"")

    def connection_lost(self, exc: Exception | None) -> None:
        exc = exc or self._failure
        if not self.secured.done():
            self.secured.set_exception(
                exc or ConnectionResetError("the server closed the socket during the handshake")
            )
        self._connection._socket_lost(exc)

    def pause_writing(self) -> None:
        self._connection._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._connection._resume_writing()

    def write(self, data: bytes) -> None:
        """Send ``data`` (encrypted on TLS); ``b""`` ends the stream (a close_notify on TLS)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._tls is not None:
            transport.write(self._tls.send(data) if data else self._tls.close())
        elif data:
            transport.write(data)
        elif transport.can_write_eof():
            transport.write_eof()

    def _decrypt(self, data: bytes) -> None:
        assert self._tls is not None and self._transport is not None
        try:
            outgoing, plaintext = self._tls.receive(data)
        except ssl.SSLError as exc:
            # A failed handshake or a TLS alert: the socket is lost with that reason.
            self._failure = exc
            self._transport.abort()
            return
        if outgoing:
            self._transport.write(outgoing)
        if self._tls.handshake_done and not self.secured.done():
            self.secured.set_result(None)
        for chunk in plaintext:
            self._connection._feed(chunk)


class AsyncEngineConnection(ConnectionApi, AsyncDriver):
    """One engine websocket (one engine session) on an asyncio event loop.

    Open it with ``await AsyncEngineConnection.open(site, credentials, app_id)`` or
    :meth:`connect`. ``call_timeout`` is the default timeout of every call
    (:data:`~qlikauth.engine.connection.DEFAULT_CALL_TIMEOUT`; ``None``, only when given,
    waits until the socket closes).
    """

    global_: AsyncGlobal
    _calls: dict[int, asyncio.Future[JsonObject]]

    def __init__(self, opening: Opening) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._socket: _Socket | None = None
        self._writable: asyncio.Future[None] | None = None
        self._gone = self._loop.create_future()
        self._timers: list[asyncio.TimerHandle | asyncio.Task[None]] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        super().__init__(opening, AsyncGlobal)

    @classmethod
    async def _make(cls, opening: Opening) -> Self:
        connection = cls(opening)
        try:
            await connection._open()
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _open(self) -> None:
        wire, context = self._wire, self._ssl_context()
        tls = TlsBuffers(context, wire.host) if context is not None else None
        try:
            async with asyncio.timeout(self._opening.time_left()):
                self._transport, self._socket = await self._loop.create_connection(
                    lambda: _Socket(self, tls), wire.host, wire.port
                )
                await asyncio.shield(self._socket.secured)
                self._write(wire.upgrade())
                await asyncio.shield(self._upgraded)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise connect_error(exc, self._opening.options) from exc
        self._timers.append(self._loop.create_task(self._keep_alive()))
        self._begin_greeting()
        timeout = self._opening.time_left()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._greeting)
        except TimeoutError as exc:
            if isinstance(exc, QlikAuthError):
                raise
            raise self._no_greeting(timeout) from None
        self._check_attached()

    # -- calls --------------------------------------------------------------------------------

    async def send(self, handle: int, method: str, params: Params | None = None) -> AsyncEngineCall:
        """Send a call without waiting: pipeline several, then await each ``result()``."""
        call = self._send_call(handle, method, params, self._register)
        if self._writable is not None:
            await asyncio.shield(self._writable)
        return call

    async def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]:
        """Send ``calls`` pipelined on ``handle``, then wait for all (each within ``timeout``)."""
        sent = [await self.send(handle, c.method, c.params) for c in calls]
        return [await s.result(timeout) for s in sent]

    async def _run(self, steps: Steps[T]) -> T:
        return await drive_async(steps, self._send_batch)

    async def _send_batch(self, batch: Batch) -> list[JsonObject]:
        return await self.call_many(batch.handle, batch.calls, timeout=batch.timeout)

    def _register(self, request: Request) -> AsyncEngineCall:
        future = self._calls[request.id] = self._new_future()
        return AsyncEngineCall(self, future, request.id, request.method)

    async def _wait(self, call: AsyncEngineCall, timeout: float | None) -> JsonObject:
        limit = self.call_timeout if timeout is None else timeout
        future = call.future
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            if isinstance(exc, QlikAuthError):
                raise
            if future.done() or not self._abandon(call.request_id):
                return await future
            error = EngineTimeoutError(
                f"{call.method} got no answer within {limit:g} s; the call was abandoned",
                hint="raise the timeout for long calls (reloads, big exports)",
            )
            # The call is over for everyone holding it, as in the threaded driver.
            future.set_exception(error)
            raise error from None
        except asyncio.CancelledError:
            if not future.done():
                self._abandon(call.request_id)
                future.cancel()
            raise

    # -- closing ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the websocket; pending calls fail with :class:`EngineClosedError`."""
        if self._transport is not None:
            if self._wire.open or self._wire.closing:
                self._start_closing()
            else:
                self._transport.close()  # the upgrade failed: nothing to say goodbye to
            try:
                async with asyncio.timeout(self._close_timeout):
                    await asyncio.shield(self._gone)
            except TimeoutError:
                self._transport.abort()
                await self._gone
        if not self._protocol.closed:
            self._dispatch(self._lost(None))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the socket ---------------------------------------------------------------------------

    def _socket_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self._upgraded.done():
            self._upgraded.set_exception(exc)
        if not self._wire.closed:
            self._feed(b"")
        for timer in self._timers:
            timer.cancel()
        self._resume_writing()
        self._dispatch(self._lost(self._wire.close_exc))
        self._gone.set_result(None)

    def _resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_interval)
            if not self._keepalive() and self._transport is not None:
                self._transport.abort()
                return

    # -- the hooks ----------------------------------------------------------------------------

    def _new_future(self) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        future.add_done_callback(_retrieve)
        return future

    def _write(self, chunks: list[bytes]) -> None:
        if self._socket is not None:
            for data in chunks:
                self._socket.write(data)

    def _expect_close(self) -> None:
        if self._transport is not None:
            self._timers.append(self._loop.call_later(self._close_timeout, self._transport.abort))

    def _start_listener(self, listener: Listener) -> None:
        outcome = run_listener(listener)
        if inspect.isawaitable(outcome):
            task = asyncio.ensure_future(outcome)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Failures nobody awaits (abandoned calls, a failed greeting) must not be logged as
    # "exception never retrieved".
    if not future.cancelled():
        future.exception()
