"""The proxy listener (QPS front end, 443 on Qlik): virtual proxies, sessions, websockets.

Decision order for every request (qlik-protocol.md §2.3): a valid ticket or a session cookie
of *this* virtual proxy, then anonymous access, then the method's own credential (header or
JWT), else the login redirect. A session id sent in any other way (for example a request
header ``X-Qlik-Session``) authenticates nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import mimetypes
import uuid
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from aiohttp import web

from qlikauth.emulator.common import json_response, query_value, text_response
from qlikauth.emulator.config import VirtualProxyConfig
from qlikauth.emulator.core import EmulatorCore, listener
from qlikauth.emulator.jwtcheck import JwtRejected
from qlikauth.emulator.state import Session, SessionLimitExceeded
from qlikauth.emulator.wsbridge import EngineSocket, notification, serve_engine_socket

if TYPE_CHECKING:
    from qlikauth.emulator.qix import EngineConnection

__all__ = ["Proxy", "app_route", "cookie_name", "limit_text"]

_CSWSH = "Cross-Site Websocket Hijacking attack prevention check failed"
_TICKET_PARAMS = ("qlikticket", "x-qlik-ticket")
_CHUNK = 64 * 1024


def limit_text(directory: str, user_id: str, exc: SessionLimitExceeded) -> str:
    """The refusal text for a session beyond the per-user limit."""
    return (
        f"Access denied for user '{directory}\\{user_id}': the maximum number of parallel "
        f"sessions is reached. SessionCount: '{exc.count}', limit: {exc.limit}."
    )


def cookie_name(vp: VirtualProxyConfig, request: web.Request) -> str:
    """The virtual proxy's session cookie name on this request's scheme (§2.1: Qlik
    appends ``-HTTP`` over plain http, so the two schemes never share a session cookie)."""
    return vp.cookie_name if request.secure else f"{vp.cookie_name}-HTTP"


@dataclass
class _Auth:
    session: Session | None = None
    new_session: bool = False
    failure: web.Response | None = None
    limit: SessionLimitExceeded | None = None
    limit_user: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class _Served:
    response: web.StreamResponse
    complete: bool


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


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


class Proxy:
    """Handlers of the proxy listener."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    # -- authentication -----------------------------------------------------------------

    def _create(
        self,
        vp: VirtualProxyConfig,
        directory: str,
        user_id: str,
        attributes: list[dict[str, str]],
        *,
        anonymous: bool = False,
    ) -> _Auth:
        try:
            session = self.core.sessions.create(
                vp.prefix, directory, user_id, attributes, anonymous=anonymous
            )
        except SessionLimitExceeded as exc:
            return _Auth(
                failure=text_response(403, limit_text(directory, user_id, exc)),
                limit=exc,
                limit_user=(directory, user_id),
            )
        return _Auth(session=session, new_session=True)

    def _header_user(self, vp: VirtualProxyConfig, value: str) -> tuple[str, str] | str:
        if not value.isascii() or "\r" in value or "\n" in value:
            return "header values must be US-ASCII"
        value = value.strip()
        if vp.method == "header":
            if not value or "\\" in value:
                return "the header must hold a user id (no backslash, not empty)"
            return vp.user_directory, value
        directory, sep, user_id = value.partition("\\")
        if not sep or not directory.strip() or not user_id.strip() or "\\" in user_id:
            return f"the header must match the pattern {vp.header_pattern} (DIRECTORY\\user)"
        return directory.strip(), user_id.strip()

    def authenticate(
        self, request: web.Request, vp: VirtualProxyConfig, *, cookie_only: bool = False
    ) -> _Auth:
        """Who this request is on this virtual proxy (see the module docstring)."""
        core = self.core
        if not cookie_only:
            for name in _TICKET_PARAMS:
                value = query_value(request, name)
                if value is None:
                    continue
                ticket, _why = core.tickets.consume(value, vp.prefix)
                if ticket is not None:
                    return self._create(
                        vp, ticket.user_directory, ticket.user_id, ticket.attributes
                    )
        cookie = request.cookies.get(cookie_name(vp, request))
        if cookie:
            session = core.sessions.get(vp.prefix, cookie)
            if session is not None:
                return _Auth(session=session)
        if cookie_only:
            return _Auth()
        if vp.anonymous == "always" or (
            vp.anonymous == "allow" and query_value(request, "forceauthentication") != "yes"
        ):
            return self._create(vp, "NONE", f"anonymous{uuid.uuid4()}", [], anonymous=True)
        if vp.method in ("header", "header_dynamic"):
            value = request.headers.get(vp.header_name)
            if value is not None:
                user = self._header_user(vp, value)
                if isinstance(user, str):
                    return _Auth(failure=text_response(401, f"Header authentication: {user}."))
                return self._create(vp, user[0], user[1], [])
        if vp.method == "jwt":
            authorization = request.headers.get("Authorization", "")
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                try:
                    user_jwt = core.jwt[vp.prefix].validate(token.strip())
                except JwtRejected as exc:
                    return _Auth(failure=text_response(401, f"JWT authentication failed: {exc}"))
                attributes = [{"Group": g} for g in user_jwt.groups]
                return self._create(vp, user_jwt.directory, user_jwt.user_id, attributes)
        return _Auth()

    def _cookie(self, request: web.Request, vp: VirtualProxyConfig, session: Session) -> str:
        # HttpOnly and Path=/ are INFERRED (qlik-protocol.md §2.1); Secure over https only.
        secure = "; Secure" if request.secure else ""
        value = f"{cookie_name(vp, request)}={session.session_id}; Path=/{secure}; HttpOnly"
        same_site = vp.same_site if request.secure else vp.same_site_http
        if same_site:
            value += f"; SameSite={same_site}"
        return value

    def _original_uri(self, request: web.Request) -> str:
        query = [(k, v) for k, v in request.query.items() if k.lower() not in _TICKET_PARAMS]
        path = request.path
        if query:
            path += "?" + urlencode(query)
        return f"{self.core.urls.base(listener('proxy', request.secure))}{path}"

    def _unauthenticated(self, request: web.Request, vp: VirtualProxyConfig) -> web.Response:
        if request.method in ("GET", "HEAD"):
            location = self.core.login_redirect(
                vp, self._original_uri(request), secure=request.secure
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
            return await self._websocket(request, vp, rest)
        auth = self.authenticate(request, vp)
        if auth.failure is not None:
            return auth.failure
        session = auth.session
        if session is None:
            if rest.rstrip("/") == "qps/user" and request.method == "GET":
                return self._user_inactive(request, vp)
            return self._unauthenticated(request, vp)
        response = await self._resource(request, vp, rest, session)
        if auth.new_session and not response.prepared:
            response.headers.add("Set-Cookie", self._cookie(request, vp, session))
        return response

    async def _resource(
        self, request: web.Request, vp: VirtualProxyConfig, rest: str, session: Session
    ) -> web.StreamResponse:
        path = rest.rstrip("/")
        if path == "":
            hub = self.core.urls.proxy(vp.prefix, "hub/", secure=request.secure)
            return web.Response(status=302, headers={"Location": hub})
        if path == "hub" or path.startswith("hub/"):
            return self._hub(vp, session)
        if path == "qps/user":
            if request.method == "DELETE":
                return self._logout(vp, session)
            return json_response(200, self._user_info(request, vp, session))
        if path == "qps/csrftoken":
            return web.Response(status=204, headers={"qlik-csrf-token": session.csrf_token})
        if path.startswith("tempcontent/"):
            return await self._tempcontent(request, vp, path, session)
        if path == "qrs/about":
            return json_response(200, {"buildVersion": "emulated", "requiresBootstrap": False})
        return text_response(404, "Not found.")

    # -- personal API -------------------------------------------------------------------

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
            if host in self.core.allowed_hosts(vp):
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
            response.headers.add("Set-Cookie", self._cookie(request, vp, session))
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

    # -- websockets ---------------------------------------------------------------------

    def _origin_problem(self, request: web.Request, vp: VirtualProxyConfig) -> str | None:
        origin = request.headers.get("Origin")
        if not origin:
            return "no Origin header"
        host = (urlsplit(origin).hostname or "").lower()
        if not host:
            return "malformed Origin header"
        if _is_ip(host) and host != self.core.config.host.lower():
            return "Origin is an IP address; the allow list holds host names"
        allowed = self.core.allowed_hosts(vp) | {
            (urlsplit(h).hostname or "").lower() for h in vp.allow_list if "://" in h
        }
        if host not in allowed:
            return "Origin host is not in the virtual proxy's host allow list"
        return None

    def _cswsh_check(self, request: web.Request, vp: VirtualProxyConfig) -> Session | str:
        if "Authorization" in request.headers:
            return "Authorization header on the websocket upgrade"
        name = cookie_name(vp, request)
        cookie = request.cookies.get(name)
        if not cookie:
            return f"no session cookie {name}"
        session = self.core.sessions.get(vp.prefix, cookie)
        if session is None:
            return "the session cookie names no live session of this virtual proxy"
        token = query_value(request, "qlik-csrf-token")
        if not token:
            return "no qlik-csrf-token query parameter"
        if token != session.csrf_token:
            return "qlik-csrf-token does not match the session's token"
        problem = self._origin_problem(request, vp)
        return problem if problem else session

    async def _websocket(
        self, request: web.Request, vp: VirtualProxyConfig, rest: str
    ) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return text_response(400, "The engine route only accepts websocket upgrades.")
        app_id, identity, ttl = app_route(rest)
        if identity is None:
            # gopherciser's X-Qlik-Session upgrade header keys a separate engine session.
            identity = request.headers.get("X-Qlik-Session")
        core = self.core
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        if not core.config.legacy_websocket:
            checked = self._cswsh_check(request, vp)
            if isinstance(checked, str):
                return text_response(403, f"{_CSWSH}: {checked}.")
            await ws.prepare(request)
            return await self._run_socket(request, ws, vp, checked, app_id, identity, ttl, None)
        auth = self.authenticate(request, vp)
        if auth.failure is not None and auth.limit is None:
            return auth.failure
        if auth.new_session and auth.session is not None:
            ws.headers.add("Set-Cookie", self._cookie(request, vp, auth.session))
        await ws.prepare(request)
        if auth.limit is not None:
            directory, user_id = auth.limit_user
            await ws.send_str(
                notification(
                    "OnMaxParallelSessionsExceeded", limit_text(directory, user_id, auth.limit)
                )
            )
            await ws.close()
            return ws
        if auth.session is None:
            sock = EngineSocket(ws, core.engine_executor, request.transport)
            core.register_socket(None, sock)
            try:
                if await sock.first_text() is not None:
                    login = core.login_uri(vp, self._original_uri(request), secure=request.secure)
                    await ws.send_str(
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "method": "OnAuthenticationInformation",
                                "params": {"loginUri": login, "mustAuthenticate": True},
                            }
                        )
                    )
                await ws.close()
            finally:
                core.unregister_socket(None, sock)
            return ws
        session = auth.session
        info = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "OnAuthenticationInformation",
                "params": {
                    "userId": session.user_id,
                    "userDirectory": session.user_directory,
                    "logoutUri": core.urls.proxy(vp.prefix, "qps/user", secure=request.secure),
                    "mustAuthenticate": False,
                },
            }
        )
        return await self._run_socket(request, ws, vp, session, app_id, identity, ttl, [info])

    async def _run_socket(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        vp: VirtualProxyConfig,
        session: Session,
        app_id: str | None,
        identity: str | None,
        ttl: float,
        before_first: list[str] | None,
    ) -> web.WebSocketResponse:
        from qlikauth.emulator.qix import EngineUser

        core = self.core
        user = EngineUser(session.user_directory, session.user_id)

        def connect() -> EngineConnection:
            return core.engine.connect(user, app_id, identity=identity, ttl=ttl, channel=vp.prefix)

        def touch() -> bool:
            return core.sessions.get(session.prefix, session.session_id) is not None

        return await serve_engine_socket(
            core, request, ws, session, connect, on_message=touch, before_first=before_first
        )
