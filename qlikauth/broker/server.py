"""Serve the broker: in the foreground until a signal, or in a thread for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from qlikauth.broker.app import BrokerApp
from qlikauth.broker.audit import AuditLog
from qlikauth.broker.limits import LimitStore
from qlikauth.broker.settings import BrokerSettings

__all__ = ["BrokerServer"]

log = logging.getLogger("qlikauth.broker")


class BrokerServer:
    """One broker instance on ``settings.host``/``settings.port`` (or on ``sock``, a bound
    listening socket), with TLS unless the settings turn it off.

    As a context manager it serves from a thread of its own; :meth:`serve_forever` serves
    in the calling thread until SIGINT or SIGTERM.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        sock: socket.socket | None = None,
        store: LimitStore | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self._sock = sock
        self._store = store
        self._audit = audit
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"BrokerServer({self.url if self.port else 'not started'!r})"

    @property
    def url(self) -> str:
        """The broker's address, ``https://localhost:PORT/`` (``http`` without TLS)."""
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://localhost:{self.port}/"

    async def _start(self) -> None:
        app = BrokerApp(self.settings, store=self._store, audit=self._audit).application()
        context = self.settings.server_context()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        self._runner = runner
        if self._sock is not None:
            site: web.BaseSite = web.SockSite(runner, self._sock, ssl_context=context)
        else:
            site = web.TCPSite(runner, self.settings.host, self.settings.port, ssl_context=context)
        await site.start()
        self.port = int(runner.addresses[0][1])
        log.info("qlikauth broker serving on %s", self.url)

    async def _run(self, on_ready: Callable[[BrokerServer], None] | None) -> None:
        self._stop = asyncio.Event()
        try:
            await self._start()
            if on_ready is not None:
                on_ready(self)
            self._ready.set()
            await self._stop.wait()
        finally:
            if self._runner is not None:
                await self._close(self._runner)

    @staticmethod
    async def _close(runner: web.AppRunner) -> None:
        transports = [
            handler.transport
            for handler in (runner.server.connections if runner.server is not None else [])
        ]
        await runner.cleanup()
        # A browser's kept-alive connection would outlive the loop half-closed otherwise.
        for transport in transports:
            if transport is not None:
                transport.abort()
        await asyncio.sleep(0)

    def serve_forever(self, on_ready: Callable[[BrokerServer], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            task = asyncio.ensure_future(self._run(on_ready))
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C still works
                    loop.add_signal_handler(sig, self._request_stop)
            await task

        asyncio.run(main())

    def _request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run(None))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    def __enter__(self) -> BrokerServer:
        self._thread = threading.Thread(target=self._thread_main, name="qlikauth-broker")
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
