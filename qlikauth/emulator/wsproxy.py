"""Engine websockets through the proxy, in each release's way (qlik-protocol.md §2.8).

``2024-11``: the upgrade needs the session cookie, the session's ``qlik-csrf-token`` in the
URL, an ``Origin`` whose host is in the virtual proxy's host allow list, and no
``Authorization`` header; anything else is a 403 handshake. ``2024-05``: the classic
behaviour; the socket always opens, credentials are taken as for a resource, and an
unauthenticated socket is told ``mustAuthenticate: true`` after its first message.

Either way, a user holding more live proxy sessions than the limit gets
``OnMaxParallelSessionsExceeded`` and the socket closes (§10: live servers were seen to let
the logins through and refuse the next websocket).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from aiohttp import web

from qlikauth.emulator.common import query_value, text_response
from qlikauth.emulator.config import VirtualProxyConfig, is_ip_address
from qlikauth.emulator.core import EmulatorCore
from qlikauth.emulator.proxylogin import ProxyLogin, cookie_name
from qlikauth.emulator.state import Session, SessionLimitExceeded
from qlikauth.emulator.wsbridge import (
    EngineSocket,
    notification,
    send_texts,
    serve_engine_socket,
)

if TYPE_CHECKING:
    from qlikauth.emulator.qix import EngineConnection

__all__ = ["ProxySockets", "app_route", "origin_problem"]

_CSWSH = "Cross-Site Websocket Hijacking attack prevention check failed"


def app_route(rest: str) -> tuple[str | None, str | None, float]:
    """(app id, identity, ttl) from ``app/{id}[/identity/{x}][/ttl/{n}]``."""
    parts = [unquote(p) for p in rest.split("/")[1:]]
    app_id = parts[0] if parts and parts[0] else None
    identity: str | None = None
    ttl = 0.0
    tail = parts[1:]
    for i in range(0, len(tail) - 1, 2):
        if tail[i] == "identity":
            identity = tail[i + 1]
        elif tail[i] == "ttl":
            try:
                ttl = max(0.0, float(tail[i + 1]))
            except ValueError:
                ttl = 0.0
    if app_id == "engineData":
        app_id = None
    return app_id, identity, ttl


def origin_problem(
    core: EmulatorCore, request: web.Request, vp: VirtualProxyConfig, *, required: bool = True
) -> str | None:
    """Why the request's ``Origin`` is not allowed on this virtual proxy, if it is not.

    Its host must be in the host allow list exactly as configured (no implicit host), and
    may not be an IP address (host names only, [S38]).
    """
    origin = request.headers.get("Origin")
    if not origin:
        return "no Origin header" if required else None
    host = (urlsplit(origin).hostname or "").lower()
    if not host:
        return "malformed Origin header"
    if is_ip_address(host):
        return f"Origin host {host} is an IP address; the host allow list holds host names"
    if host not in core.origin_hosts(vp):
        return f"Origin host {host} is not in the virtual proxy's host allow list"
    return None


class ProxySockets:
    """The ``/{prefix}/app/...`` route of the proxy listener."""

    def __init__(self, core: EmulatorCore, login: ProxyLogin) -> None:
        self.core = core
        self.login = login

    def _cswsh_check(self, request: web.Request, vp: VirtualProxyConfig) -> Session | str:
        if "Authorization" in request.headers:
            return "Authorization header on the websocket upgrade"
        session = self.login.session_of(request, vp)
        if session is None:
            name = cookie_name(vp, request)
            return f"no session cookie {name} of a live session of this virtual proxy"
        token = query_value(request, "qlik-csrf-token")
        if not token:
            return "no qlik-csrf-token query parameter"
        if token != session.csrf_token:
            return "qlik-csrf-token does not match the session's token"
        return origin_problem(self.core, request, vp) or session

    async def handle(
        self, request: web.Request, vp: VirtualProxyConfig, rest: str
    ) -> web.StreamResponse:
        """One upgrade request: refuse it, or run the socket until either side closes."""
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return text_response(400, "The engine route only accepts websocket upgrades.")
        route = app_route(rest)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        if self.core.release.websocket_csrf:
            checked = self._cswsh_check(request, vp)
            if isinstance(checked, str):
                return text_response(403, f"{_CSWSH}: {checked}.")
            await ws.prepare(request)
            return await self._serve(request, ws, vp, checked, route, None)
        auth = self.login.authenticate(request, vp)
        if auth.failure is not None and auth.limit is None:
            return auth.failure
        if auth.new_session and auth.session is not None:
            ws.headers.add("Set-Cookie", self.login.cookie(request, vp, auth.session))
        await ws.prepare(request)
        if auth.limit is not None:
            return await self._refuse(ws, auth.limit)
        session = auth.session
        if session is None:
            return await self._must_authenticate(request, ws, vp)
        info = {
            "jsonrpc": "2.0",
            "method": "OnAuthenticationInformation",
            "params": {
                "userId": session.user_id,
                "userDirectory": session.user_directory,
                "logoutUri": self.core.urls.proxy(vp.prefix, "qps/user", secure=request.secure),
                "mustAuthenticate": False,
            },
        }
        return await self._serve(request, ws, vp, session, route, [json.dumps(info)])

    @staticmethod
    async def _refuse(
        ws: web.WebSocketResponse, limit: SessionLimitExceeded
    ) -> web.WebSocketResponse:
        await send_texts(ws, [notification("OnMaxParallelSessionsExceeded", limit.text)])
        await ws.close()
        return ws

    async def _must_authenticate(
        self, request: web.Request, ws: web.WebSocketResponse, vp: VirtualProxyConfig
    ) -> web.WebSocketResponse:
        core = self.core
        sock = EngineSocket(ws, core.engine_executor, request.transport)
        core.register_socket(None, sock)
        try:
            if await sock.first_text() is not None:
                login = core.login_uri(vp, self.login.original_uri(request), secure=request.secure)
                params = {"loginUri": login, "mustAuthenticate": True}
                await sock.send_all(
                    [
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "method": "OnAuthenticationInformation",
                                "params": params,
                            }
                        )
                    ]
                )
            await ws.close()
        finally:
            core.unregister_socket(None, sock)
        return ws

    async def _serve(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        vp: VirtualProxyConfig,
        session: Session,
        route: tuple[str | None, str | None, float],
        before_first: list[str] | None,
    ) -> web.WebSocketResponse:
        from qlikauth.emulator.qix import EngineUser

        core = self.core
        refused = core.sessions.over_limit(session)
        if refused is not None:
            return await self._refuse(ws, refused)
        app_id, identity, ttl = route
        if identity is None:
            # gopherciser's X-Qlik-Session upgrade header keys a separate engine session.
            identity = request.headers.get("X-Qlik-Session")
        user = EngineUser(session.user_directory, session.user_id)

        def connect() -> EngineConnection:
            return core.engine.connect(user, app_id, identity=identity, ttl=ttl, channel=vp.prefix)

        def touch() -> bool:
            return core.sessions.get(session.prefix, session.session_id) is not None

        return await serve_engine_socket(
            core, request, ws, session, connect, on_message=touch, before_first=before_first
        )
