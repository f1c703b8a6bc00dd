"""Who a request to the proxy is: tickets, the session cookie, anonymous access, and the
virtual proxy's own credential (qlik-protocol.md §2.3), for resources and websockets alike.

Decision order: a valid ticket or a session cookie of *this* virtual proxy, then anonymous
access, then the method's own credential (header or JWT). A session id sent in any other
way (for example a request header ``X-Qlik-Session``) authenticates nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from qlikauth.emulator.common import control_character, query_value, text_response
from qlikauth.emulator.config import VirtualProxyConfig
from qlikauth.emulator.core import EmulatorCore, listener
from qlikauth.emulator.headerpattern import HeaderPattern
from qlikauth.emulator.jwtcheck import JwtRejected
from qlikauth.emulator.state import Session, SessionLimitExceeded

__all__ = ["Auth", "ProxyLogin", "cookie_name"]

_TICKET_PARAMS = ("qlikticket", "x-qlik-ticket")


def cookie_name(vp: VirtualProxyConfig, request: web.Request) -> str:
    """The virtual proxy's session cookie name on this request's scheme (§2.1: Qlik
    appends ``-HTTP`` over plain http, so the two schemes never share a session cookie)."""
    return vp.cookie_name if request.secure else f"{vp.cookie_name}-HTTP"


@dataclass
class Auth:
    """Who a request is: a session (maybe new), a refusal to answer, or nobody."""

    session: Session | None = None
    new_session: bool = False
    failure: web.Response | None = None
    limit: SessionLimitExceeded | None = None


class ProxyLogin:
    """The proxy's authentication decisions and session cookies."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def _create(
        self,
        vp: VirtualProxyConfig,
        directory: str,
        user_id: str,
        attributes: list[dict[str, str]],
        *,
        anonymous: bool = False,
    ) -> Auth:
        try:
            session = self.core.sessions.create(
                vp.prefix, directory, user_id, attributes, anonymous=anonymous
            )
        except SessionLimitExceeded as exc:
            return Auth(failure=text_response(403, exc.text), limit=exc)
        return Auth(session=session, new_session=True)

    def _header_user(self, vp: VirtualProxyConfig, value: str) -> tuple[str, str] | str:
        if not value.isascii() or control_character(value):
            return "header values must be US-ASCII, without control characters"
        if vp.method == "header":
            value = value.strip()
            if not value or "\\" in value:
                return "the header must hold a user id (no backslash, not empty)"
            return vp.user_directory, value
        return HeaderPattern(vp.header_pattern).parse(value)

    def session_of(self, request: web.Request, vp: VirtualProxyConfig) -> Session | None:
        """The live session the request's cookie names on this virtual proxy, if any."""
        cookie = request.cookies.get(cookie_name(vp, request))
        return self.core.sessions.get(vp.prefix, cookie) if cookie else None

    def authenticate(self, request: web.Request, vp: VirtualProxyConfig) -> Auth:
        """Who this request for a resource is on this virtual proxy (the module docstring)."""
        core = self.core
        for name in _TICKET_PARAMS:
            value = query_value(request, name)
            if value is None:
                continue
            ticket, _why = core.tickets.consume(value, vp.prefix)
            if ticket is not None:
                return self._create(vp, ticket.user_directory, ticket.user_id, ticket.attributes)
        session = self.session_of(request, vp)
        if session is not None:
            return Auth(session=session)
        if vp.anonymous == "always" or (
            vp.anonymous == "allow" and query_value(request, "forceauthentication") != "yes"
        ):
            return self._create(vp, "NONE", f"anonymous{uuid.uuid4()}", [], anonymous=True)
        if vp.method in ("header", "header_dynamic"):
            value = request.headers.get(vp.header_name)
            if value is not None:
                user = self._header_user(vp, value)
                if isinstance(user, str):
                    return Auth(
                        failure=text_response(
                            401, f"Header authentication ({vp.header_name}): {user}."
                        )
                    )
                return self._create(vp, user[0], user[1], [])
        if vp.method == "jwt":
            authorization = request.headers.get("Authorization", "")
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                try:
                    user_jwt = core.jwt[vp.prefix].validate(token.strip())
                except JwtRejected as exc:
                    return Auth(failure=text_response(401, f"JWT authentication failed: {exc}"))
                return self._create(vp, user_jwt.directory, user_jwt.user_id, user_jwt.attributes)
        return Auth()

    def cookie(self, request: web.Request, vp: VirtualProxyConfig, session: Session) -> str:
        """The ``Set-Cookie`` value for a new session."""
        # HttpOnly and Path=/ are INFERRED (qlik-protocol.md §2.1); Secure over https only.
        secure = "; Secure" if request.secure else ""
        value = f"{cookie_name(vp, request)}={session.session_id}; Path=/{secure}; HttpOnly"
        same_site = vp.same_site if request.secure else vp.same_site_http
        if same_site:
            value += f"; SameSite={same_site}"
        return value

    def original_uri(self, request: web.Request) -> str:
        """The requested URL without its ticket (to return to after a login)."""
        query = [(k, v) for k, v in request.query.items() if k.lower() not in _TICKET_PARAMS]
        path = request.path
        if query:
            path += "?" + urlencode(query)
        return f"{self.core.urls.base(listener('proxy', request.secure))}{path}"
