"""A test server on ``127.0.0.1`` whose asyncio loop runs in a thread of its own."""

from __future__ import annotations

import asyncio
import ssl
import threading
from types import TracebackType
from typing import Self

__all__ = ["LoopServer"]


class LoopServer:
    """Listen on a free loopback port, serve each connection as a task, and on
    :meth:`close` cut every connection. Subclasses say which TLS to serve
    (:meth:`_server_tls`) and what one connection does (:meth:`_connection`)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    def start(self) -> Self:
        """Listen on a free port (in a thread of its own)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(30)
        return self

    def close(self) -> None:
        """Cut every connection and stop listening."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _server_tls(self) -> ssl.SSLContext | None:
        """The TLS the server speaks (``None``: plain TCP); runs on the loop."""
        raise NotImplementedError

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until it ends."""
        raise NotImplementedError

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self._server_tls(), limit=1 << 16
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._connection(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that went away (TLS errors are OSErrors too)
        except asyncio.CancelledError:
            pass  # the server closing
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
