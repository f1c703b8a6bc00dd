"""Credentials: what every authenticator produces and every connection presents.

One frozen value drives REST calls, the engine websocket and tempcontent downloads, so Qlik
sees one proxy session, not one per call. Its ``repr`` shows which secrets it holds, never
their values.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from qlikauth.errors import InvalidHeaderValueError, redact_url
from qlikauth.identity import QlikUser

if TYPE_CHECKING:
    from qlikauth.site import Site

__all__ = ["Credentials", "QlikUser", "Route", "WebSocketOptions", "check_header_value"]

#: Header names whose values are secrets: shown as ``[secure]``.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "cookie", "proxy-authorization", "qlik-csrf-token", "x-qlik-xrfkey"}
)
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Seconds before ``expires_at`` at which credentials count as expired, so that a request
#: does not race the proxy's own clock.
DEFAULT_LEEWAY = 30.0


def check_header_value(name: str, value: str) -> str:
    """Return ``value`` if it may travel in header ``name``; raise with a hint otherwise.

    Qlik's proxy takes US-ASCII only, and CR/LF would split the header (injection); no
    control character (tab, NUL, DEL) has a place in a value qlikauth sends.
    """
    if not _TOKEN_RE.fullmatch(name):
        raise InvalidHeaderValueError(
            f"invalid HTTP header name {name!r}",
            hint="Header names are ASCII letters, digits and -_.!#$%&'*+^`|~ only.",
        )
    control = next((c for c in value if c < " " or c == "\x7f"), None)
    if control is not None:
        kind = "a line break" if control in "\r\n" else f"the control character {control!r}"
        raise InvalidHeaderValueError(
            f"the value for header {name} contains {kind}",
            hint="Remove control characters (CR/LF, tab, NUL) from the value; a line break "
            "would split the HTTP header.",
        )
    if not value.isascii():
        raise InvalidHeaderValueError(
            f"the value for header {name} is not US-ASCII",
            hint="Qlik's proxy accepts only US-ASCII in header values; use a user id "
            "without accents, or another authentication method (JWT, ticket).",
        )
    return value


class Route(StrEnum):
    """How credentials reach Qlik: through the proxy (cookie) or direct (certificate)."""

    PROXY = "proxy"
    DIRECT = "direct"


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class WebSocketOptions:
    """URL, headers, Origin and TLS for an engine websocket, for third-party clients.

    ``websocket_client_kwargs()`` feeds ``websocket.create_connection(**kw)``
    (websocket-client); ``websockets_kwargs()`` feeds ``websockets`` ``connect(**kw)``.
    """

    url: str
    headers: Mapping[str, str]
    origin: str
    ssl_context: ssl.SSLContext | None

    def header_list(self) -> list[str]:
        """The headers as ``"Name: value"`` lines (websocket-client's ``header=``)."""
        return [f"{k}: {v}" for k, v in self.headers.items()]

    def sslopt(self) -> dict[str, Any]:
        """websocket-client's ``sslopt=``: the site's own SSLContext."""
        return {} if self.ssl_context is None else {"context": self.ssl_context}

    def websocket_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``websocket.create_connection``."""
        return {
            "url": self.url,
            "header": self.header_list(),
            "origin": self.origin,
            "sslopt": self.sslopt(),
        }

    def websockets_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``websockets`` ``connect`` (sync or asyncio)."""
        out: dict[str, Any] = {
            "uri": self.url,
            "additional_headers": dict(self.headers),
            "origin": self.origin,
        }
        if self.ssl_context is not None:
            out["ssl"] = self.ssl_context
        return out

    def __repr__(self) -> str:
        shown = {
            k: "[secure]" if k.lower() in SENSITIVE_HEADERS else v for k, v in self.headers.items()
        }
        url = redact_url(self.url)
        return f"WebSocketOptions(url={url!r}, headers={shown}, origin={self.origin!r})"


@dataclass(frozen=True, eq=True)
class Credentials:
    """What one authenticator produced: headers, cookies, CSRF token, user, expiry, route.

    ``expires_at`` is a ``time.time()`` value (``None`` when unknown); ``cookie_name`` names
    the proxy session cookie among ``cookies``.
    """

    route: Route = Route.PROXY
    user: QlikUser | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    csrf_token: str | None = None
    websocket_params: Mapping[str, str] = field(default_factory=dict)
    expires_at: float | None = None
    cookie_name: str | None = None

    def __post_init__(self) -> None:
        for name, value in self.headers.items():
            check_header_value(name, value)
        for name, value in self.cookies.items():
            check_header_value("Cookie", f"{name}={value}")
            if not _TOKEN_RE.fullmatch(name) or ";" in value or " " in value:
                raise InvalidHeaderValueError(
                    f"invalid cookie {name!r}",
                    hint="Cookie names are tokens; values have no spaces or semicolons.",
                )
        if self.csrf_token is not None:
            check_header_value("qlik-csrf-token", self.csrf_token)
        object.__setattr__(self, "headers", _frozen(self.headers))
        object.__setattr__(self, "cookies", _frozen(self.cookies))
        object.__setattr__(self, "websocket_params", _frozen(self.websocket_params))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = [f"route={self.route.value!r}"]
        if self.user is not None:
            shown.append(f"user={str(self.user)!r}")
        if self.headers:
            shown.append(
                "headers={"
                + ", ".join(
                    f"{k!r}: {'[secure]' if k.lower() in SENSITIVE_HEADERS else repr(v)}"
                    for k, v in self.headers.items()
                )
                + "}"
            )
        if self.cookies:
            shown.append("cookies={" + ", ".join(f"{k!r}: '[secure]'" for k in self.cookies) + "}")
        if self.csrf_token is not None:
            shown.append("csrf_token='[secure]'")
        if self.websocket_params:
            shown.append(
                "websocket_params={"
                + ", ".join(f"{k!r}: '[secure]'" for k in self.websocket_params)
                + "}"
            )
        if self.expires_at is not None:
            shown.append(f"expires_at={self.expires_at:.0f}")
        return f"Credentials({', '.join(shown)})"

    __str__ = __repr__

    @property
    def session_id(self) -> str | None:
        """The proxy session id (the session cookie's value), if there is one."""
        if self.cookie_name is None:
            return None
        return self.cookies.get(self.cookie_name)

    def expired(self, *, now: float | None = None, leeway: float = DEFAULT_LEEWAY) -> bool:
        """Whether the credentials are (about to be) expired."""
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) >= self.expires_at - leeway

    def cookie_header(self) -> str | None:
        """The ``Cookie`` header value, or ``None`` without cookies."""
        if not self.cookies:
            return None
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def http_headers(self) -> dict[str, str]:
        """Headers for a REST call or download: extra headers, ``Cookie``, CSRF token."""
        out = dict(self.headers)
        cookie = self.cookie_header()
        if cookie is not None:
            out["Cookie"] = cookie
        if self.csrf_token is not None:
            out["qlik-csrf-token"] = self.csrf_token
        return out

    def websocket_headers(self) -> dict[str, str]:
        """Headers for the websocket upgrade.

        With a session cookie, ``Authorization`` is left out: since November 2024 the proxy
        refuses upgrades that carry it (Cross-Site WebSocket Hijacking protection).
        """
        out = {
            k: v
            for k, v in self.headers.items()
            if not (self.cookies and k.lower() == "authorization")
        }
        cookie = self.cookie_header()
        if cookie is not None:
            out["Cookie"] = cookie
        return out

    def websocket_query(self) -> dict[str, str]:
        """Query parameters for the websocket URL: the CSRF token and any extra ones."""
        out = dict(self.websocket_params)
        if self.route is Route.PROXY and self.csrf_token is not None:
            out["qlik-csrf-token"] = self.csrf_token
        return out

    def websocket_url(
        self,
        site: Site,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
    ) -> str:
        """The engine websocket URL for these credentials (proxy or direct)."""
        query = self.websocket_query()
        if self.route is Route.DIRECT:
            return site.engine_websocket_url(app_id, identity=identity, ttl=ttl, query=query)
        return site.app_websocket_url(app_id, identity=identity, ttl=ttl, query=query)

    def websocket_options(
        self,
        site: Site,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
    ) -> WebSocketOptions:
        """Everything a third-party websocket client needs to open the engine socket."""
        url = self.websocket_url(site, app_id, identity=identity, ttl=ttl)
        return WebSocketOptions(
            url=url,
            headers=self.websocket_headers(),
            origin=self.origin(site),
            ssl_context=self.ssl_context(site) if url.startswith("wss:") else None,
        )

    def ssl_context(self, site: Site) -> ssl.SSLContext:
        """The TLS context to connect with: server trust only, or with the client certificate."""
        if self.route is Route.DIRECT:
            return site.tls.client_context()
        return site.tls.server_context()

    def origin(self, site: Site) -> str:
        """The Origin to send on the websocket upgrade: the site's setting, else the proxy's."""
        return site.websocket_origin or site.origin

    def replace(self, **changes: Any) -> Credentials:
        """A copy with some fields changed (credentials are immutable)."""
        return replace(self, **changes)
