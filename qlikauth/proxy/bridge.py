"""One websocket through the proxy: the upgrade made anew on the Qlik side, then every
message relayed both ways as it comes, and the close passed on with its code.

The Qlik side gets the session cookie, the CSRF token in the URL and the site's own Origin
(the November 2024 Cross-Site WebSocket Hijacking check). A refused upgrade renews the
session once. Before November 2024 an ended session shows only after the upgrade: Qlik
answers the first message with ``OnAuthenticationInformation`` and ``mustAuthenticate:
true``; the bridge then renews the session, opens a new socket and sends the tool's early
messages again, so the tool never sees the refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from qlikauth.credentials import Credentials
from qlikauth.errors import QlikAuthError, redact_url
from qlikauth.proxy.answers import explain_failure, must_authenticate, websocket_refused
from qlikauth.proxy.replies import failure_reply, reply
from qlikauth.proxy.session import ProxySession
from qlikauth.proxy.upstream_request import Target, websocket_headers

__all__ = ["Bridged", "WebSocketBridge"]

log = logging.getLogger("qlikauth.proxy")

#: Tool messages kept until Qlik has shown it accepts the session (replayed after renewal).
_EARLY_LIMIT = 64
#: Close codes that may not travel in a close frame (RFC 6455 7.4.1).
_UNSENDABLE = frozenset({1005, 1006, 1015})


@dataclass
class Bridged:
    """What the tool got: the response (101 and a socket, or a refusal) and the traffic."""

    response: web.StreamResponse
    size: int = 0
    close_code: int | None = None


class _Refused(Exception):
    """Qlik answered the upgrade with ``status``; ``session`` if that refuses the session."""

    def __init__(self, status: int, session: bool) -> None:
        super().__init__(status)
        self.status = status
        self.session = session


class WebSocketBridge:
    """Opens websockets on the Qlik side for the tool's upgrades and relays them."""

    def __init__(self, session: ProxySession, http: aiohttp.ClientSession) -> None:
        self.session = session
        self.http = http
        self.site = session.site
        self._open: set[web.WebSocketResponse] = set()

    async def close_all(self) -> None:
        """Close every relayed socket (1001, going away): the proxy stops."""
        for local in list(self._open):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await local.close(code=1001, message=b"the qlikauth proxy is stopping")

    async def bridge(self, request: web.Request, target: Target) -> Bridged:
        """Answer one upgrade: refused as Qlik refused it, or a socket relayed to its end."""
        what = f"websocket /{redact_url(target.path)}"
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        connect = _Connector(self, request, target, [p for p in protocols if p])
        credentials = self.session.credentials
        try:
            try:
                upstream = await connect(credentials)
            except _Refused as refusal:
                if not refusal.session:
                    return Bridged(_refusal_reply(refusal, renewed=False))
                fresh = await self.session.renew(credentials, what)
                if fresh is None:
                    return Bridged(_refusal_reply(refusal, renewed=False))
                try:
                    upstream = await connect(fresh)
                except _Refused as again:
                    log.warning(
                        "%s was refused (%d) again right after a new login; the refusal goes "
                        "to the tool. Check the host allow list and the user's access.",
                        what,
                        again.status,
                    )
                    return Bridged(_refusal_reply(again, renewed=True))
        except QlikAuthError as exc:
            return Bridged(failure_reply(exc, what=f"{what} could not be opened on Qlik"))
        self.session.used()
        local = web.WebSocketResponse(
            protocols=(upstream.protocol,) if upstream.protocol else (),
            autoclose=False,
            max_msg_size=0,
            compress=False,
        )
        try:
            await local.prepare(request)
        except (ConnectionError, RuntimeError):
            await upstream.close(code=1001, message=b"the client went away")
            raise
        relay = _Relay(self.session, local, upstream, connect, what, request.transport)
        self._open.add(local)
        try:
            await relay.run()
        finally:
            self._open.discard(local)
        return Bridged(local, relay.size, local.close_code)


def _refusal_reply(refusal: _Refused, *, renewed: bool) -> web.Response:
    if not refusal.session:
        return reply(
            refusal.status,
            f"Qlik answered the websocket upgrade with {refusal.status}",
            "Check the path: the engine's websockets are /app/{app id} (or /app/engineData).",
        )
    when = "even right after a new login" if renewed else "and the session still lives"
    return reply(
        refusal.status,
        f"Qlik refused the websocket upgrade ({refusal.status}) {when}",
        "Check that the virtual proxy's host allow list names the site's host, and the "
        "user's access to the app; the proxy's log says more.",
    )


class _Connector:
    """Opens the Qlik side of one tool's websocket with given credentials."""

    def __init__(
        self, bridge: WebSocketBridge, request: web.Request, target: Target, protocols: list[str]
    ) -> None:
        self.bridge = bridge
        self.request = request
        self.target = target
        self.protocols = protocols
        self.credentials: Credentials | None = None

    async def __call__(self, credentials: Credentials) -> aiohttp.ClientWebSocketResponse:
        site = self.bridge.site
        url = self.target.websocket_url(site, credentials)
        headers = websocket_headers(self.request.headers.items(), credentials)
        try:
            upstream = await self.bridge.http.ws_connect(
                URL(url, encoded=True),
                protocols=self.protocols,
                origin=credentials.origin(site),
                headers=CIMultiDict(headers),
                max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            location = exc.headers.get("Location") if exc.headers else None
            raise _Refused(exc.status, websocket_refused(exc.status, location)) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise await asyncio.to_thread(explain_failure, exc, site, url) from exc
        self.credentials = credentials
        return upstream


class _Relay:
    """Both directions of one bridged socket, until either side closes."""

    def __init__(
        self,
        session: ProxySession,
        local: web.WebSocketResponse,
        upstream: aiohttp.ClientWebSocketResponse,
        connect: _Connector,
        what: str,
        transport: asyncio.BaseTransport | None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.local = local
        self.upstream = upstream
        self.connect = connect
        self.what = what
        self.size = 0
        self.ending = False
        self.confirmed = False
        self.renewed = False
        self.early: list[aiohttp.WSMessage] = []
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
                await self.upstream.close(code=1011, message=b"the proxy's relay failed")
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
            if not self.upstream.closed:
                await self.upstream.close(code=1001, message=b"the proxy is stopping")

    def _cut(self) -> None:
        """End the tool's connection without a close frame (it sees 1006, as Qlik's side
        did)."""
        if isinstance(self.transport, asyncio.Transport):
            self.transport.abort()

    async def _send(self, to: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                    msg: aiohttp.WSMessage) -> None:  # fmt: skip
        if msg.type is WSMsgType.TEXT:
            await to.send_str(msg.data)
        else:
            await to.send_bytes(msg.data)
        self.size += len(msg.data)

    async def _up(self) -> None:
        """The tool's messages to Qlik; the tool's close closes Qlik's side with its code."""
        while True:
            msg = await self.local.receive()
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                async with self.lock:
                    if not self.confirmed and len(self.early) < _EARLY_LIMIT:
                        self.early.append(msg)
                    await self._send(self.upstream, msg)
                continue
            if msg.type in (WSMsgType.PING, WSMsgType.PONG):
                continue
            if self.ending:
                return
            self.ending = True
            if msg.type is WSMsgType.CLOSE:
                code = msg.data if msg.data not in _UNSENDABLE else 1000
                await self.upstream.close(code=code, message=(msg.extra or "").encode())
                answer = self.upstream.close_code
                await self.local.close(
                    code=answer if answer and answer not in _UNSENDABLE else code
                )
            else:  # the tool went away without a close frame
                await self.upstream.close(code=1001, message=b"the client went away")
            return

    async def _down(self) -> None:
        """Qlik's messages to the tool; Qlik's close closes the tool's side with its code."""
        while True:
            msg = await self.upstream.receive()
            if msg.type is WSMsgType.TEXT and not self.confirmed:
                verdict = must_authenticate(msg.data)
                if verdict and not self.renewed and await self._renew():
                    continue
                if verdict is False or '"id"' in msg.data[:200]:
                    self.confirmed, self.early = True, []
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await self._send(self.local, msg)
                self.session.used()
                continue
            if msg.type in (WSMsgType.PING, WSMsgType.PONG):
                continue
            if self.ending:
                return
            self.ending = True
            code = self.upstream.close_code
            if msg.type is WSMsgType.CLOSE and code is not None and code not in _UNSENDABLE:
                await self.local.close(code=code, message=(msg.extra or "").encode())
            elif self.local.close_code is None:
                # Qlik's side broke off without a close frame: so does the tool's.
                log.warning("%s: Qlik's side broke off; cutting the tool's socket", self.what)
                self._cut()
            return

    async def _renew(self) -> bool:
        """Qlik said ``mustAuthenticate``: renew, reconnect, replay. False if it cannot."""
        self.renewed = True
        stale = self.connect.credentials
        if stale is None:
            return False
        try:
            fresh = await self.session.renew(stale, self.what)
            if fresh is None:
                return False
            upstream = await self.connect(fresh)
        except (QlikAuthError, _Refused) as exc:
            log.warning("%s: renewing the session after mustAuthenticate failed: %s", self.what,
                        exc)  # fmt: skip
            return False
        async with self.lock:
            old, self.upstream = self.upstream, upstream
            await old.close()
            for msg in self.early:
                await self._send(upstream, msg)
        return True
