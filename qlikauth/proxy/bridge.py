"""One websocket through the proxy: the upgrade made anew on the Qlik side, then every
message relayed both ways as it comes, and the close passed on with its code and reason.

The Qlik side gets the session cookie, the CSRF token in the URL and the site's own Origin
(the November 2024 Cross-Site WebSocket Hijacking check), over the ``websockets`` library
(which reports the close frame Qlik answered with, reason included). A refused upgrade
renews the session once. Before November 2024 an ended session shows only after the
upgrade: Qlik answers the first message with ``OnAuthenticationInformation`` and
``mustAuthenticate: true``; the bridge then renews the session, opens a new socket and
sends the tool's early messages again, so the tool never sees the refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass

from aiohttp import WSMsgType, web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from qlikauth.credentials import Credentials
from qlikauth.errors import QlikAuthError, redact_url
from qlikauth.proxy.answers import explain_failure, must_authenticate, websocket_refused
from qlikauth.proxy.replies import failure_reply, reply, size_of
from qlikauth.proxy.session import ProxySession
from qlikauth.proxy.upstream_request import Target, websocket_headers

__all__ = ["Bridged", "WebSocketBridge"]

log = logging.getLogger("qlikauth.proxy")

#: Tool messages kept until Qlik has shown it accepts the session (replayed after renewal).
_EARLY_LIMIT = 64
#: Close codes that may not travel in a close frame (RFC 6455 7.4.1).
_UNSENDABLE = frozenset({1005, 1006, 1015})
_OPEN_TIMEOUT = 30.0


@dataclass
class Bridged:
    """What the tool got: the response (101 and a socket, or a refusal) and the traffic."""

    response: web.StreamResponse
    size: int = 0
    close_code: int | None = None


class _Refused(Exception):
    """Qlik answered the upgrade with ``status``; ``session`` if that refuses the session."""

    def __init__(self, status: int, session: bool, text: str) -> None:
        super().__init__(status)
        self.status = status
        self.session = session
        self.text = text


class _NoRedirects(connect):
    """Never follow a redirect on the upgrade: Qlik sends one to its login page."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


def _own(response: web.Response) -> Bridged:
    return Bridged(response, size_of(response))


class WebSocketBridge:
    """Opens websockets on the Qlik side for the tool's upgrades and relays them."""

    def __init__(self, session: ProxySession, ssl_context: ssl.SSLContext | None) -> None:
        self.session = session
        self.site = session.site
        self.ssl = ssl_context
        self._open: set[web.WebSocketResponse] = set()

    async def close_all(self) -> None:
        """Close every relayed socket (1001, going away): the proxy stops."""
        for local in list(self._open):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await local.close(code=1001, message=b"the qlikauth proxy is stopping")

    async def bridge(self, request: web.Request, target: Target) -> Bridged:
        """Answer one upgrade: refused as Qlik refused it, or a socket relayed to its end."""
        what = f"websocket /{redact_url(target.path)}"
        connect_with = _Connector(self, request, target)
        credentials = self.session.credentials
        try:
            try:
                upstream = await connect_with(credentials)
            except _Refused as refusal:
                if not refusal.session:
                    return _own(_refusal_reply(refusal, renewed=False))
                fresh = await self.session.renew(credentials, what)
                if fresh is None:
                    return _own(_refusal_reply(refusal, renewed=False))
                try:
                    upstream = await connect_with(fresh)
                except _Refused as again:
                    log.warning(
                        "%s was refused (%d) again right after a new login; the refusal goes "
                        "to the tool. Check the host allow list and the user's access.",
                        what,
                        again.status,
                    )
                    return _own(_refusal_reply(again, renewed=True))
        except QlikAuthError as exc:
            return _own(failure_reply(exc, what=f"{what} could not be opened on Qlik"))
        self.session.used()
        local = web.WebSocketResponse(
            protocols=(upstream.subprotocol,) if upstream.subprotocol else (),
            autoclose=False,
            max_msg_size=0,
            compress=False,
        )
        try:
            await local.prepare(request)
        except (ConnectionError, RuntimeError):
            await upstream.close(code=1001, reason="the client went away")
            raise
        relay = _Relay(self.session, local, upstream, connect_with, what, request.transport)
        self._open.add(local)
        try:
            await relay.run()
        finally:
            self._open.discard(local)
        return Bridged(local, relay.size, local.close_code)


def _refusal_reply(refusal: _Refused, *, renewed: bool) -> web.Response:
    said = f": {refusal.text.strip()[:300]}" if refusal.text.strip() else ""
    if not refusal.session:
        return reply(
            refusal.status,
            f"Qlik answered the websocket upgrade with {refusal.status}{said}",
            "Check the path: the engine's websockets are /app/{app id} (or /app/engineData).",
        )
    when = "even right after a new login" if renewed else "and the session still lives"
    return reply(
        refusal.status,
        f"Qlik refused the websocket upgrade ({refusal.status}) {when}{said}",
        "Check that the virtual proxy's host allow list names the site's host, and the "
        "user's access to the app; the proxy's log says more.",
    )


class _Connector:
    """Opens the Qlik side of one tool's websocket with given credentials."""

    def __init__(self, bridge: WebSocketBridge, request: web.Request, target: Target) -> None:
        self.bridge = bridge
        self.target = target
        self.tool_headers = list(request.headers.items())
        protocols = request.headers.get("Sec-WebSocket-Protocol", "")
        self.protocols = [p.strip() for p in protocols.split(",") if p.strip()]
        self.credentials: Credentials | None = None

    async def __call__(self, credentials: Credentials) -> ClientConnection:
        site = self.bridge.site
        url = self.target.websocket_url(site, credentials)
        headers = websocket_headers(self.tool_headers, credentials)
        try:
            upstream = await _NoRedirects(
                url,
                ssl=self.bridge.ssl if url.startswith("wss:") else None,
                origin=credentials.origin(site),  # type: ignore[arg-type]
                additional_headers=headers,
                subprotocols=self.protocols or None,  # type: ignore[arg-type]
                user_agent_header=None,
                compression=None,
                max_size=None,
                ping_interval=None,
                open_timeout=_OPEN_TIMEOUT,
            )
        except InvalidStatus as exc:
            response = exc.response
            refused = websocket_refused(response.status_code, response.headers.get("Location"))
            text = response.body.decode("utf-8", "replace") if response.body else ""
            raise _Refused(response.status_code, refused, text) from exc
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise await asyncio.to_thread(explain_failure, exc, site, url) from exc
        self.credentials = credentials
        return upstream


class _Relay:
    """Both directions of one bridged socket, until either side closes."""

    def __init__(
        self,
        session: ProxySession,
        local: web.WebSocketResponse,
        upstream: ClientConnection,
        connect_with: _Connector,
        what: str,
        transport: asyncio.BaseTransport | None,
    ) -> None:
        self.session = session
        self.local = local
        self.upstream = upstream
        self.connect_with = connect_with
        self.what = what
        self.transport = transport
        self.size = 0
        self.ending = False
        self.confirmed = False
        self.renewed = False
        self.early: list[str | bytes] = []
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        """Relay until both directions have ended; an error in one ends both."""
        tasks = {asyncio.create_task(self._up()), asyncio.create_task(self._down())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            errors = [t.exception() for t in done if not t.cancelled() and t.exception()]
            if errors:
                log.info("%s ended on an error: %s", self.what, type(errors[0]).__name__)
                self.ending = True
                self._cut()
                await self.upstream.close(code=1011, reason="the proxy's relay failed")
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
            await self.upstream.close(code=1001, reason="the qlikauth proxy is stopping")

    def _cut(self) -> None:
        """End the tool's connection without a close frame (it sees 1006, as Qlik's side
        did)."""
        if isinstance(self.transport, asyncio.Transport):
            self.transport.abort()

    async def _up(self) -> None:
        """The tool's messages to Qlik; the tool's close closes Qlik's side with its code."""
        while True:
            msg = await self.local.receive()
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                async with self.lock:
                    if not self.confirmed and len(self.early) < _EARLY_LIMIT:
                        self.early.append(msg.data)
                    with contextlib.suppress(ConnectionClosed):
                        await self.upstream.send(msg.data)
                self.size += len(msg.data)
                continue
            if msg.type in (WSMsgType.PING, WSMsgType.PONG):
                continue
            if self.ending:
                return
            self.ending = True
            if msg.type is WSMsgType.CLOSE:
                code = msg.data if msg.data not in _UNSENDABLE else 1000
                await self.upstream.close(code=code, reason=msg.extra or "")
                answer = self.upstream.protocol.close_rcvd
                if answer is not None and answer.code not in _UNSENDABLE:
                    await self.local.close(code=answer.code, message=answer.reason.encode())
                else:
                    await self.local.close(code=code)
            else:  # the tool went away without a close frame
                await self.upstream.close(code=1001, reason="the client went away")
            return

    async def _down(self) -> None:
        """Qlik's messages to the tool; Qlik's close closes the tool's side with its code."""
        while True:
            try:
                data = await self.upstream.recv()
            except ConnectionClosed:
                break
            if isinstance(data, str) and not self.confirmed:
                verdict = must_authenticate(data)
                if verdict and not self.renewed and await self._renew():
                    continue
                if verdict is False or '"id"' in data[:200]:
                    self.confirmed, self.early = True, []
            if self.local.closed:
                return
            if isinstance(data, str):
                await self.local.send_str(data)
            else:
                await self.local.send_bytes(data)
            self.size += len(data)
            self.session.used()
        if self.ending:
            return
        self.ending = True
        rcvd = self.upstream.protocol.close_rcvd
        if rcvd is not None:
            code = rcvd.code if rcvd.code not in _UNSENDABLE else 1000
            await self.local.close(code=code, message=rcvd.reason.encode())
        else:
            # Qlik's side broke off without a close frame: so does the tool's.
            log.warning("%s: Qlik's side broke off; cutting the tool's socket", self.what)
            self._cut()

    async def _renew(self) -> bool:
        """Qlik said ``mustAuthenticate``: renew, reconnect, replay. False if it cannot."""
        self.renewed = True
        stale = self.connect_with.credentials
        if stale is None:
            return False
        try:
            fresh = await self.session.renew(stale, self.what)
            if fresh is None:
                return False
            upstream = await self.connect_with(fresh)
        except (QlikAuthError, _Refused) as exc:
            log.warning(
                "%s: renewing the session after mustAuthenticate failed: %s", self.what, exc
            )
            return False
        async with self.lock:
            old, self.upstream = self.upstream, upstream
            await old.close()
            for data in self.early:
                await upstream.send(data)
        return True
