"""The proxy listener (QPS front end, 443 on Qlik): virtual proxies, sessions, resources.

A resource is served to whoever :class:`~qlikauth.emulator.proxylogin.ProxyLogin` says the
request is; nobody gets the login redirect (qlik-protocol.md §2.3). The Personal API
(``/{prefix}/qps/...``, ``csrftoken`` included) knows only the session cookie: no ticket,
header or token there. Websockets are served by :mod:`qlikauth.emulator.wsproxy`.
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from qlikauth.emulator.common import check_xrfkey, json_response, query_value, text_response
from qlikauth.emulator.config import VirtualProxyConfig
from qlikauth.emulator.core import EmulatorCore
from qlikauth.emulator.proxylogin import ProxyLogin, cookie_name
from qlikauth.emulator.qrs import Qrs
from qlikauth.emulator.state import Session
from qlikauth.emulator.wsproxy import ProxySockets, origin_problem

__all__ = ["Proxy"]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _Served:
    response: web.StreamResponse
    complete: bool


class Proxy:
    """Handlers of the proxy listener."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        self.login = ProxyLogin(core)
        self.qrs = Qrs(core)
        self.sockets = ProxySockets(core, self.login)

    def _unauthenticated(self, request: web.Request, vp: VirtualProxyConfig) -> web.Response:
        if request.method in ("GET", "HEAD"):
            location = self.core.login_redirect(
                vp, self.login.original_uri(request), secure=request.secure
            )
            if location is not None:
                return web.Response(status=302, headers={"Location": location})
        if vp.method in ("header", "header_dynamic"):
            return text_response(
                401, f"Header authentication: no session and no '{vp.header_name}' header."
            )
        if vp.method == "jwt":
            return text_response(
                401, "JWT authentication failed: no session and no Authorization: Bearer token."
            )
        return text_response(
            401,
            "Unauthenticated: no session for this virtual proxy, and the first request "
            "must be a GET to be redirected to the login.",
        )

    # -- dispatch -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Every proxy path: find the virtual proxy, authenticate, serve the resource."""
        vp, rest = self.core.split_proxy_path(request.path)
        if vp is None:
            return text_response(404, "No virtual proxy serves this path.")
        if rest == "app" or rest.startswith("app/"):
            return await self.sockets.handle(request, vp, rest)
        path = rest.rstrip("/")
        if path == "qps" or path.startswith("qps/"):
            return self._personal(request, vp, path)
        auth = self.login.authenticate(request, vp)
        if auth.failure is not None:
            return auth.failure
        session = auth.session
        if session is None:
            return self._unauthenticated(request, vp)
        response = await self._resource(request, vp, path, session)
        if auth.new_session and not response.prepared:
            response.headers.add("Set-Cookie", self.login.cookie(request, vp, session))
        return response

    async def _resource(
        self, request: web.Request, vp: VirtualProxyConfig, path: str, session: Session
    ) -> web.StreamResponse:
        if path == "":
            hub = self.core.urls.proxy(vp.prefix, "hub/", secure=request.secure)
            return web.Response(status=302, headers={"Location": hub})
        if path == "hub" or path.startswith("hub/"):
            return self._hub(vp, session)
        if path.startswith("tempcontent/"):
            return await self._tempcontent(request, vp, path, session)
        if path == "qrs" or path.startswith("qrs/"):
            # The proxy forwards to the repository as the session's user (§1.7); the
            # repository wants its Xrfkey either way (§1.3).
            return check_xrfkey(request) or self.qrs.answer(request.method, f"/{path}")
        return text_response(404, "Not found.")

    # -- personal API -------------------------------------------------------------------

    def _personal(self, request: web.Request, vp: VirtualProxyConfig, path: str) -> web.Response:
        """``/{prefix}/qps/...``: the session cookie only (§1.1: it relies on the cookie)."""
        session = self.login.session_of(request, vp)
        if path == "qps/user" and request.method == "GET":
            if session is None:
                return self._user_inactive(request, vp)
            return json_response(200, self._user_info(request, vp, session))
        if session is None:
            return self._personal_unauthenticated(request, vp)
        if path == "qps/user" and request.method == "DELETE":
            return self._logout(vp, session)
        if path == "qps/csrftoken" and request.method == "GET" and self.core.release.websocket_csrf:
            problem = origin_problem(self.core, request, vp, required=False)
            if problem is not None:
                return text_response(403, f"Forbidden: {problem}.")
            return web.Response(status=204, headers={"qlik-csrf-token": session.csrf_token})
        return text_response(404, "Not found.")

    def _personal_unauthenticated(
        self, request: web.Request, vp: VirtualProxyConfig
    ) -> web.Response:
        head = f"/{vp.prefix}" if vp.prefix else ""
        return text_response(
            401,
            f"Unauthenticated: the personal API ({head}/qps/...) needs the session cookie "
            f"{cookie_name(vp, request)} of a live session of this virtual proxy; log in on "
            f"a proxied resource (such as {head}/hub/) first.",
        )

    def _user_name(self, directory: str, user_id: str) -> str:
        for user in self.core.config.users:
            if (
                user.directory.upper() == directory.upper()
                and user.user_id.upper() == user_id.upper()
            ):
                return user.name or user.user_id
        return user_id

    def _user_info(
        self, request: web.Request, vp: VirtualProxyConfig, session: Session
    ) -> dict[str, Any]:
        if session.anonymous:
            return {"userDirectory": "NONE", "userId": session.user_id, "session": "inactive"}
        return {
            "userDirectory": session.user_directory,
            "userId": session.user_id,
            "userName": self._user_name(session.user_directory, session.user_id),
            "logoutUri": self.core.urls.proxy(vp.prefix, "qps/user", secure=request.secure),
        }

    def _user_inactive(self, request: web.Request, vp: VirtualProxyConfig) -> web.Response:
        body: dict[str, Any] = {"session": "inactive"}
        target = query_value(request, "targetUri")
        if target:
            host = (urlsplit(target).hostname or "").lower()
            if host in self.core.target_hosts(vp):
                body["loginUri"] = self.core.login_uri(vp, target, secure=request.secure)
        return json_response(200, body)

    def _logout(self, vp: VirtualProxyConfig, session: Session) -> web.Response:
        ended = self.core.sessions.of_user(vp.prefix, session.user_directory, session.user_id)
        for other in ended:
            self.core.sessions.end(other, "logout")
        return json_response(
            200,
            {
                "userDirectory": session.user_directory,
                "userId": session.user_id,
                "session": "inactive",
                "sessionsEnded": len(ended),
            },
        )

    def _hub(self, vp: VirtualProxyConfig, session: Session) -> web.Response:
        rows = "".join(
            f"<li><code>{escape(app_id)}</code> {escape(str(getattr(app, 'name', app_id)))}</li>"
            for app_id, app in self.core.engine.apps.items()
        )
        html = (
            "<!DOCTYPE html><html><head><title>Qlik Sense hub (qlikauth emulator)</title>"
            "</head><body><h1>Hub</h1>"
            f"<p>Signed in as {escape(session.user_directory)}\\{escape(session.user_id)} "
            f"on virtual proxy '{escape(vp.prefix)}'.</p><ul>{rows}</ul></body></html>"
        )
        return web.Response(status=200, text=html, content_type="text/html")

    # -- tempcontent --------------------------------------------------------------------

    async def _tempcontent(
        self, request: web.Request, vp: VirtualProxyConfig, path: str, session: Session
    ) -> web.StreamResponse:
        parts = path.split("/")
        if request.method not in ("GET", "HEAD") or len(parts) != 3:
            return text_response(404, "Not found.")
        export_id, file_name = unquote(parts[1]), unquote(parts[2])
        loop = asyncio.get_running_loop()
        export = await loop.run_in_executor(
            self.core.engine_executor, self.core.engine.find_export, export_id, file_name
        )
        if export is None or not export.path.is_file():
            return text_response(404, "Not found.")
        owner = (export.owner.directory.upper(), export.owner.user_id.upper())
        if owner != session.user or export.channel not in (vp.prefix, "direct"):
            # Temporary content belongs to the exporting user on the proxy it came through;
            # answering 404 does not reveal that the file exists (INFERRED).
            return text_response(404, "Not found.")
        response = await self._stream(request, vp, session, export.path)
        if response.complete and export.serve_once:
            await loop.run_in_executor(
                self.core.engine_executor, self.core.engine.mark_served, export_id, file_name
            )
        return response.response

    async def _stream(
        self, request: web.Request, vp: VirtualProxyConfig, session: Session, path: Path
    ) -> _Served:
        size = path.stat().st_size
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="{path.name}"',
            },
        )
        response.content_length = size
        if request.cookies.get(cookie_name(vp, request)) != session.session_id:
            response.headers.add("Set-Cookie", self.login.cookie(request, vp, session))
        await response.prepare(request)
        if request.method == "HEAD":
            return _Served(response, complete=False)
        limit = size // 2 if self.core.faults.truncate_downloads else size
        sent = 0
        with path.open("rb") as f:
            while sent < limit:
                chunk = f.read(min(_CHUNK, limit - sent))
                if not chunk:
                    break
                await response.write(chunk)
                sent += len(chunk)
        if sent < size:
            # Announced length, fewer bytes, then the connection ends: a truncated download.
            self.core.counters.faults_injected += 1
            # abort, not close: a graceful TLS close would wait for the client's close_notify.
            if request.transport is not None:
                request.transport.abort()
            return _Served(response, complete=False)
        await response.write_eof()
        self.core.counters.downloads += 1
        return _Served(response, complete=True)
