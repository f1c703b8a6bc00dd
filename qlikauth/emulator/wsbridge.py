"""Runs one engine websocket: the greeting, JSON-RPC turns, and proxy notifications."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from qlikauth.emulator.core import EmulatorCore
    from qlikauth.emulator.qix import EngineConnection
    from qlikauth.emulator.state import Session

__all__ = ["EngineSocket", "notification", "send_texts", "serve_engine_socket"]


def notification(method: str, message: str, **extra: Any) -> str:
    """A proxy -> client notification as Qlik sends it before closing (§2.8)."""
    params: dict[str, Any] = {
        "severity": "fatal",
        "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "message": message,
    }
    params.update(extra)
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params})


async def send_texts(ws: web.WebSocketResponse, texts: list[str]) -> bool:
    """Send text frames; False when the client went away (an ordinary disconnect, not an
    error to report)."""
    for text in texts:
        if ws.closed:
            return False
        try:
            await ws.send_str(text)
        except ConnectionError:
            return False
    return True


class EngineSocket:
    """One open client websocket, optionally wired to an engine connection."""

    def __init__(
        self, ws: web.WebSocketResponse, executor: Executor, transport: asyncio.BaseTransport | None
    ) -> None:
        self.ws = ws
        self._transport = transport
        self._executor = executor
        self._closing = False

    async def _engine(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def send_all(self, texts: list[str]) -> bool:
        """Send frames unless the socket is going away; False once the client is gone."""
        return await send_texts(self.ws, texts)

    async def first_text(self) -> str | None:
        """The client's first text frame, or None if it closed first."""
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                return str(msg.data)
            if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
        return None

    async def run(
        self,
        connect: Callable[[], EngineConnection],
        *,
        on_message: Callable[[], bool] = lambda: True,
        before_first: list[str] | None = None,
    ) -> None:
        """Greet, then answer every text frame through the engine until either side closes.

        ``on_message`` runs before each frame (it refreshes the proxy session) and returns
        False when the session is gone; ``before_first`` is sent after the client's first
        frame and before its answer (legacy ``OnAuthenticationInformation``).
        """
        connection: EngineConnection = await self._engine(connect)
        try:
            if not await self.send_all(await self._engine(connection.greeting)):
                return
            if connection.closed:
                # An error greeting (SESSION_ERROR_*): the engine answers nothing more.
                return
            pending_first = before_first
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                        break
                    continue
                if not on_message():
                    break
                if pending_first:
                    if not await self.send_all(pending_first):
                        break
                    pending_first = None
                if not await self.send_all(await self._engine(connection.handle, str(msg.data))):
                    break
        finally:
            await self._engine(connection.close)

    async def notify_and_close(self, method: str, message: str) -> None:
        """Push a proxy notification, then close the socket (Qlik closes after it)."""
        if self._closing or self.ws.closed:
            return
        self._closing = True
        try:
            await self.ws.send_str(notification(method, message))
            await self.ws.close()
        except (ConnectionError, RuntimeError):
            pass

    async def going_away(self) -> None:
        """Close with 1001 (the emulator stops); a client already gone is no error."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=1001, message=b"emulator stopping")

    def drop(self) -> None:
        """Cut the connection without a close frame (fault injection)."""
        self._closing = True
        if isinstance(self._transport, asyncio.Transport):
            self._transport.abort()


async def serve_engine_socket(
    core: EmulatorCore,
    request: web.Request,
    ws: web.WebSocketResponse,
    session: Session | None,
    connect: Callable[[], EngineConnection],
    *,
    on_message: Callable[[], bool] = lambda: True,
    before_first: list[str] | None = None,
) -> web.WebSocketResponse:
    """Run one engine websocket to its end, for the proxy and the direct port alike.

    The socket is registered (so a session end can close it), the ``drop_websockets``
    fault applies, and an engine refusal is reported as Qlik does:
    ``OnEngineWebsocketFailed``, then close.
    """
    sock = EngineSocket(ws, core.engine_executor, request.transport)
    core.register_socket(session, sock)
    try:
        if core.faults.drop_websockets:
            sock.drop()
            return ws
        try:
            await sock.run(connect, on_message=on_message, before_first=before_first)
        except (LookupError, ValueError, RuntimeError) as exc:
            await sock.notify_and_close(
                "OnEngineWebsocketFailed", f"The engine refused the connection: {exc}"
            )
        if not ws.closed:
            await ws.close()
        return ws
    finally:
        core.unregister_socket(session, sock)
