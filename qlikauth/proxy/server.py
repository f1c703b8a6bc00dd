"""LocalProxy: a local authenticating reverse proxy to one Qlik Sense virtual proxy.

Like ``kubectl proxy``: it listens on loopback (or a Unix socket) and forwards HTTP and
websocket traffic to the site through the client's virtual proxy, adding the client's one
session, so that a tool pointed at ``http://127.0.0.1:PORT/`` needs to know nothing about
Qlik authentication. Tests and notebooks start and stop it in-process::

    with QlikClient(site, auth) as client, LocalProxy(client) as proxy:
        requests.get(proxy.url + "qrs/about", headers=proxy.headers)

The command ``qlikauth proxy`` runs it with :meth:`LocalProxy.serve_forever`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import aiohttp
from aiohttp import web

from qlikauth.client import QlikClient
from qlikauth.credentials import QlikUser
from qlikauth.errors import ConfigurationError
from qlikauth.proxy.access import (
    DEFAULT_HOST,
    TOKEN_HEADER,
    TOKEN_QUERY,
    AccessPolicy,
    check_address,
    new_token,
)
from qlikauth.proxy.bridge import WebSocketBridge
from qlikauth.proxy.forward import RESEND_LIMIT, HttpForwarder
from qlikauth.proxy.listener import open_site, remove_socket
from qlikauth.proxy.replies import log_request, reply, size_of
from qlikauth.proxy.session import ProxySession
from qlikauth.proxy.upstream_request import target_of

__all__ = ["LocalProxy"]

log = logging.getLogger("qlikauth.proxy")

#: Bytes read from Qlik per step of a streamed answer.
_READ_BUFFER = 1 << 18


class LocalProxy:
    """Forwards ``http://127.0.0.1:PORT/...`` to the client's virtual proxy, with its session.

    ``port`` 0 picks a free port. Access needs :attr:`token` (generated unless given) in the
    :data:`~qlikauth.proxy.access.TOKEN_HEADER` header, the ``qlikauth-token`` query
    parameter or the cookie a browser gets on its first visit; ``unix_socket`` listens on
    a 0600 socket instead, without a token by default. ``require_token=False`` on TCP lets
    any local process use the session (it warns); another address than loopback needs
    ``allow_remote`` (it warns too). The proxy does not close the client.
    """

    def __init__(
        self,
        client: QlikClient,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        unix_socket: Path | str | None = None,
        token: str | None = None,
        require_token: bool | None = None,
        allow_remote: bool = False,
        accept_hosts: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.unix_socket = Path(unix_socket).absolute() if unix_socket is not None else None
        if self.unix_socket is None:
            check_address(host, allow_remote=allow_remote)
        self.host = host
        self.port = port
        if require_token is None:
            require_token = self.unix_socket is None
        if token is not None and not token.strip():
            raise ConfigurationError("the access token is empty", hint="Leave it out to get one.")
        self.token = (token or new_token()) if require_token else None
        if self.token is None and self.unix_socket is None:
            log.warning(
                "no access token: every local user and process can use the Qlik session of "
                "this proxy; keep --no-token for a machine that is yours alone"
            )
        self._accept_hosts = tuple(accept_hosts)
        self._session = ProxySession(client)
        self._access: AccessPolicy | None = None
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._forwarder: HttpForwarder | None = None
        self._bridge: WebSocketBridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        where = str(self.unix_socket) if self.unix_socket else f"{self.host}:{self.port}"
        return f"LocalProxy({where} -> {self.client.site.proxy_url()})"

    # -- what tools need --------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's base URL, ``http://127.0.0.1:PORT/`` (``http://localhost/`` on a
        Unix socket, which tools reach with e.g. ``curl --unix-socket``)."""
        if self.unix_socket is not None:
            return "http://localhost/"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def headers(self) -> dict[str, str]:
        """The header that carries the access token (empty without a token)."""
        return {TOKEN_HEADER: self.token} if self.token else {}

    def _with_token(self, url: str) -> str:
        return f"{url}?{TOKEN_QUERY}={quote(self.token, safe='')}" if self.token else url

    def websocket_url(self, app_id: str | None = None) -> str:
        """``ws://127.0.0.1:PORT/app/{id}`` (``engineData`` without an id), token included."""
        base = "ws" + self.url.removeprefix("http")
        return self._with_token(f"{base}app/{quote(app_id or 'engineData', safe='')}")

    def browser_url(self, path: str = "hub/") -> str:
        """A URL to open in a browser: it sets the token cookie on the first visit."""
        return self._with_token(self.url + path.lstrip("/"))

    @property
    def user(self) -> QlikUser | None:
        """The Qlik user the proxy's session belongs to (once started)."""
        return self._session.credentials.user

    @property
    def renewals(self) -> int:
        """How many times the proxy replaced its session after Qlik refused it."""
        return self._session.renewals

    # -- serving ---------------------------------------------------------------------

    async def _start(self) -> None:
        await self._session.open()
        site = self.client.site
        context = site.tls.server_context() if site.scheme == "https" else None
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context or False, keepalive_timeout=60),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.client.transport.timeout),
            read_bufsize=_READ_BUFFER,
        )
        self._forwarder = HttpForwarder(self._session, self._http)
        self._bridge = WebSocketBridge(self._session, context)
        app = web.Application(client_max_size=RESEND_LIMIT + 1)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await open_site(self._runner, host=self.host, port=self.port, unix_socket=self.unix_socket)
        if self.unix_socket is None:
            self.port = int(self._runner.addresses[0][1])
        self._access = AccessPolicy.build(
            self.token,
            bound_host=None if self.unix_socket else self.host,
            port=None if self.unix_socket else self.port,
            accept_hosts=self._accept_hosts,
        )
        user = self._session.credentials.user
        log.info("serving %s as %s on %s", site.proxy_url(), user, self.url)

    async def _shutdown(self) -> None:
        if self._bridge is not None:
            await self._bridge.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            # Stopping: cut kept-alive connections to Qlik rather than wait for TLS goodbyes
            # that would outlive the event loop.
            connector = self._http.connector
            if connector is not None:
                await connector.close(abort_ssl=True)
            await self._http.close()
            self._http = None
        if self.unix_socket is not None:
            remove_socket(self.unix_socket)

    async def _main(self, on_ready: Callable[[LocalProxy], None] | None = None) -> None:
        stop = self._stop = self._stop or asyncio.Event()
        try:
            await self._start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await self._shutdown()
            return
        self._ready.set()
        if on_ready is not None:
            on_ready(self)
        try:
            await stop.wait()
        finally:
            await self._shutdown()

    def start(self) -> LocalProxy:
        """Log in, start listening in a background thread, and return once serving."""
        if self._thread is not None:
            raise RuntimeError("this proxy is already running")
        self._ready.clear()
        self._error = None

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="qlikauth-proxy", daemon=True)
        self._thread.start()
        self._ready.wait()
        error = self._failure()
        if error is not None:
            self._thread.join()
            self._thread = None
            raise error
        return self

    def _failure(self) -> BaseException | None:
        # A method, not an attribute read: mypy would take the error as still None here.
        return self._error

    def stop(self) -> None:
        """Close every socket, stop listening and wait for the thread to end."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        self._thread = None
        self._stop = None

    def serve_forever(self, on_ready: Callable[[LocalProxy], None] | None = None) -> None:
        """Serve in this thread until SIGINT or SIGTERM; ``on_ready`` once listening."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            # Handlers first: a signal during the login still ends in a clean shutdown.
            stop = self._stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await self._main(on_ready)
            error = self._failure()
            if error is not None:
                raise error

        try:
            asyncio.run(main())
        finally:
            self._stop = None

    def __enter__(self) -> LocalProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- one request -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        method = "WS" if upgrade else request.method
        path = request.raw_path.partition("?")[0]
        response: web.StreamResponse | None = None
        size, close_code = 0, None
        try:
            response, size, close_code = await self._answer(request, upgrade)
            return response
        finally:
            status = response.status if response is not None else 500
            extra = f" closed {close_code}" if close_code is not None else ""
            log_request(method, path, status, size, time.perf_counter() - started, extra)

    async def _answer(
        self, request: web.Request, upgrade: bool
    ) -> tuple[web.StreamResponse, int, int | None]:
        assert self._access is not None and self._forwarder is not None
        assert self._bridge is not None
        access = self._access
        admission = access.admit(
            host=request.host,
            origin=request.headers.get("Origin"),
            header_token=request.headers.get(TOKEN_HEADER),
            query_token=request.query.get(TOKEN_QUERY),
            cookie_token=request.cookies.get(access.cookie_name),
        )
        if not admission.admitted:
            assert admission.status is not None
            return _own(reply(admission.status, admission.reason))
        try:
            target = target_of(self.client.site, request.raw_path)
        except ConfigurationError as exc:
            return _own(reply(400, exc.message, exc.hint))
        if upgrade:
            bridged = await self._bridge.bridge(request, target)
            return bridged.response, bridged.size, bridged.close_code
        set_cookie = access.cookie() if admission.remember else None
        relayed = await self._forwarder.forward(request, target, set_cookie)
        return relayed.response, relayed.size, None


def _own(response: web.Response) -> tuple[web.StreamResponse, int, None]:
    """The proxy's own answer, with its size for the log line."""
    return response, size_of(response), None
