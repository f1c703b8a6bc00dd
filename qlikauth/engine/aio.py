"""The engine connector over ``websockets.asyncio.client``: one reader task, a future per call.

Thousands of concurrent calls (or connections) run on one event loop. Semantics match
:mod:`qlikauth.engine.sync`: per-call timeouts, pipelining, a clean close, and every pending
call failing with :class:`~qlikauth.errors.EngineClosedError` when the socket goes.

::

    async with await AsyncEngineConnection.open(site, credentials, "app-id") as conn:
        doc = await conn.open_doc()
        print(await doc.evaluate("Sum(Amount)"))
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import ssl
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
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
from qlikauth.engine.objects import AsyncDoc, AsyncGlobal, Call, HandleEventKind, Listener
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

__all__ = ["AsyncEngineCall", "AsyncEngineConnection", "AsyncNotificationListener"]

logger = logging.getLogger(__name__)

#: A notification listener; it may return an awaitable, which then runs as a task.
AsyncNotificationListener = Callable[[str, JsonValue], object]


class _NoRedirects(connect):
    """Never follow a redirect on the upgrade: it is a login page, reported as an error."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


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


class AsyncEngineConnection(ConnectionCore):
    """One engine websocket (one engine session) on an asyncio event loop.

    Open it with ``await AsyncEngineConnection.open(site, credentials, app_id)`` or
    :meth:`connect`. ``call_timeout`` is the default timeout of every call.
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
        self._send_lock = asyncio.Lock()
        self._calls: dict[int, asyncio.Future[JsonObject]] = {}
        self._greeting: asyncio.Future[GreetingCompleted] = (
            asyncio.get_running_loop().create_future()
        )
        self._notification_listeners: dict[str, list[AsyncNotificationListener]] = defaultdict(list)
        self._handle_listeners: dict[tuple[int, HandleEventKind], list[Listener]] = defaultdict(
            list
        )
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closing = False
        self._reader: asyncio.Task[None] | None = None
        self.url = url
        self.app_id = app_id
        self.call_timeout = call_timeout
        self.global_ = AsyncGlobal(self, GLOBAL_INTERFACE)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(
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

        See :meth:`qlikauth.engine.sync.EngineConnection.open` for ``identity``, ``ttl`` and
        ``require_attached``.
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
        return await cls._open(options, app_id, call_timeout, require_attached)

    @classmethod
    async def connect(
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
        return await cls._open(options, app_id, call_timeout, require_attached)

    @classmethod
    async def _open(
        cls,
        options: ConnectOptions,
        app_id: str | None,
        call_timeout: float | None,
        require_attached: bool,
    ) -> Self:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            websocket = await _NoRedirects(
                options.url,
                ssl=options.ssl,
                additional_headers=dict(options.headers),
                origin=Origin(options.origin) if options.origin else None,
                open_timeout=options.open_timeout,
                max_size=options.max_message_size,
                user_agent_header=options.user_agent,
                logger=websocket_logger,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise connect_error(exc, options) from exc
        connection = cls(websocket, url=options.safe_url, app_id=app_id, call_timeout=call_timeout)
        left = None
        if options.open_timeout is not None:
            left = max(0.1, options.open_timeout - (loop.time() - started))
        try:
            await connection._start(left)
            if require_attached and connection.session_state is not SessionState.ATTACHED:
                raise EngineSessionError(
                    f"the engine session was not resumed (state: "
                    f"{connection.session_state_text or 'unknown'})",
                    code=-12,
                    parameter=connection.session_state_text or "",
                    hint="the session expired (its ttl passed) or the identity is not the same",
                )
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _start(self, timeout: float | None) -> None:
        request = self._protocol.start()
        self._reader = asyncio.create_task(self._read_loop(), name="qlikauth-engine-reader")
        async with self._send_lock:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(request.text)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._greeting)
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

    async def send(self, handle: int, method: str, params: Params | None = None) -> AsyncEngineCall:
        """Send a call without waiting: pipeline several, then await each ``result()``."""
        async with self._send_lock:
            request = self._protocol.request(handle, method, params)
            future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieve)
            self._calls[request.id] = future
            # On a closed socket the reader fails the call, with the reason.
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(request.text)
        return AsyncEngineCall(self, future, request.id, method)

    async def _wait(self, call: AsyncEngineCall, timeout: float | None) -> JsonObject:
        limit = self.call_timeout if timeout is None else timeout
        future = call.future
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            if isinstance(exc, QlikAuthError):
                raise
            if future.done():
                return future.result()
            self._abandon(call.request_id)
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

    async def call(
        self,
        handle: int,
        method: str,
        params: Params | None = None,
        *,
        timeout: float | None = None,
    ) -> JsonObject:
        """Call ``method`` on ``handle`` and wait (``timeout`` or :attr:`call_timeout`)."""
        return await (await self.send(handle, method, params)).result(timeout)

    async def call_many(
        self, handle: int, calls: Sequence[Call], *, timeout: float | None = None
    ) -> list[JsonObject]:
        """Send ``calls`` pipelined on ``handle``, then wait for all (each within ``timeout``)."""
        sent = [await self.send(handle, c.method, c.params) for c in calls]
        return [await s.result(timeout) for s in sent]

    async def open_doc(
        self, app_id: str | None = None, *, no_data: bool = False, timeout: float | None = None
    ) -> AsyncDoc:
        """Open ``app_id`` (default: the app of the websocket URL)."""
        app = app_id or self.app_id
        if not app:
            raise ConfigurationError(
                "open_doc needs an app id (none was given, and the connection was opened "
                "without one)"
            )
        return await self.global_.open_doc(app, no_data=no_data, timeout=timeout)

    async def get_active_doc(self, *, timeout: float | None = None) -> AsyncDoc:
        """The app already open in this engine session (after attaching to it)."""
        return await self.global_.get_active_doc(timeout=timeout)

    # -- listeners ----------------------------------------------------------------------------

    def on_notification(
        self, method: str, callback: AsyncNotificationListener
    ) -> Callable[[], None]:
        """Call ``callback(method, params)`` for notification ``method`` (``"*"``: all).

        A callback may be a coroutine function; it then runs as a task. Returns a function
        that removes the listener.
        """
        return self._listen(self._notification_listeners, method, callback)

    # -- closing ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the websocket; pending calls fail with :class:`EngineClosedError`."""
        self._closing = True
        try:
            await self._ws.close()
        except Exception:
            logger.debug("error while closing the engine websocket", exc_info=True)
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if not self._protocol.closed:
            self._dispatch(self._lost(None))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<AsyncEngineConnection {self.url} {state} session={self.session_state_text}>"

    # -- the reader task ----------------------------------------------------------------------

    def _abandon(self, request_id: int) -> None:
        self._calls.pop(request_id, None)
        self._protocol.abandon(request_id)

    async def _read_loop(self) -> None:
        failure: BaseException | None = None
        try:
            while True:
                message = await self._ws.recv()
                self._dispatch(self._protocol.receive(message))
        except ConnectionClosed as exc:
            failure = exc
        except Exception as exc:
            logger.debug("engine reader stopped", exc_info=True)
            failure = exc
        self._dispatch(self._lost(failure))

    def _start_listener(self, listener: Listener) -> None:
        self._run(listener)

    def _session_ended(self, event: GreetingFailed | SessionEnded) -> None:
        if isinstance(event, GreetingFailed):
            self._greeting.add_done_callback(_retrieve)
        task = asyncio.ensure_future(self._ws.close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _run(self, callback: Callable[[], object]) -> None:
        outcome = run_listener(callback)
        if inspect.isawaitable(outcome):
            task = asyncio.ensure_future(outcome)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Failures nobody awaits (abandoned calls, a failed greeting) must not be logged as
    # "exception never retrieved".
    if not future.cancelled():
        future.exception()
