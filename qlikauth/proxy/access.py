"""Who may ride on the proxy's session: the access token, the Host and the Origin checks.

The session is the profile user's, so other local users, and web pages in a browser, must
not use it. A request is admitted when:

* its ``Host`` names the proxy itself (a loopback name, the bound address, or a host the
  proxy was told to accept): a web page that rebinds its own DNS name to 127.0.0.1 is
  refused, and the proxy never acts as a forward proxy for another host;
* it carries the access token, in the :data:`TOKEN_HEADER` header, the :data:`TOKEN_QUERY`
  query parameter, or the cookie the proxy sets when a browser first comes with the token
  (unless the proxy runs without a token: a Unix socket's 0600 permissions, or
  ``--no-token``);
* when only the cookie vouches for it, it does not come from another web origin (a page
  elsewhere cannot make the browser use the proxy: cross-site request forgery).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from qlikauth.errors import ConfigurationError

__all__ = [
    "DEFAULT_HOST",
    "LOOPBACK_NAMES",
    "TOKEN_HEADER",
    "TOKEN_QUERY",
    "AccessPolicy",
    "Admission",
    "check_address",
    "is_loopback",
    "new_token",
]

log = logging.getLogger("qlikauth.proxy")

#: Where the proxy listens unless told otherwise: loopback only.
DEFAULT_HOST = "127.0.0.1"
#: The request header that carries the access token.
TOKEN_HEADER = "Qlikauth-Proxy-Token"  # noqa: S105 - a header name
#: The query parameter that carries the access token (removed before forwarding).
TOKEN_QUERY = "qlikauth-token"  # noqa: S105 - a parameter name
#: Host names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def new_token() -> str:
    """A fresh access token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless ``allow_remote``; warn when it is allowed."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise ConfigurationError(
            f"refusing to listen on {host}: other machines could use the proxy's session",
            hint="Listen on 127.0.0.1 (the default); to serve other machines anyway, say so "
            "with --allow-remote (allow_remote=True) and keep the access token.",
        )
    log.warning(
        "listening on %s: other machines can reach the proxy, in plain http; only the "
        "access token keeps them from using the Qlik session",
        host,
    )


def _host_name(host_header: str) -> str:
    """The host of a ``Host`` header value (``[::1]:8080`` gives ``::1``)."""
    parts = urlsplit(f"//{host_header}")
    try:
        return (parts.hostname or "").lower()
    except ValueError:
        return ""


@dataclass(frozen=True)
class Admission:
    """The access decision on one request.

    ``status``/``reason`` are set when it is refused; ``remember`` when the token came in
    the query and the answer should set the cookie, so that a browser keeps it.
    """

    status: int | None = None
    reason: str = ""
    remember: bool = False

    @property
    def admitted(self) -> bool:
        """Whether the request may use the session."""
        return self.status is None


@dataclass(frozen=True)
class AccessPolicy:
    """The rules above for one listening proxy.

    ``token`` is ``None`` when no token is required; ``hosts`` the host names the proxy
    answers to; ``origins`` the web origins that are the proxy itself.
    """

    token: str | None
    hosts: frozenset[str]
    origins: frozenset[str]
    cookie_name: str

    @classmethod
    def build(
        cls,
        token: str | None,
        *,
        bound_host: str | None,
        port: int | None,
        accept_hosts: Iterable[str] = (),
    ) -> AccessPolicy:
        """The policy of a proxy bound to ``bound_host:port`` (``None`` for a Unix socket)."""
        hosts = {*LOOPBACK_NAMES, *(h.strip("[]").lower() for h in accept_hosts)}
        if bound_host is not None and bound_host not in ("0.0.0.0", "::"):  # noqa: S104
            hosts.add(bound_host.strip("[]").lower())
        origins = set()
        if port is not None:
            for host in hosts:
                shown = f"[{host}]" if ":" in host else host
                origins.add(f"http://{shown}:{port}")
        name = f"qlikauth-proxy-{port}" if port is not None else "qlikauth-proxy"
        return cls(token, frozenset(hosts), frozenset(origins), name)

    def admit(
        self,
        *,
        host: str | None,
        origin: str | None,
        header_token: str | None,
        query_token: str | None,
        cookie_token: str | None,
    ) -> Admission:
        """Decide on one request from what it carries."""
        name = _host_name(host) if host else ""
        if name not in self.hosts:
            return Admission(
                403,
                "this proxy answers only to its own address (the Host header named another "
                "host); it never forwards to other hosts",
            )
        if self.token is None:
            return self._same_origin(origin)
        if header_token is not None or query_token is not None:
            given = header_token if header_token is not None else query_token
            if given is not None and self._matches(given):
                return Admission(remember=query_token is not None and header_token is None)
            return Admission(401, "the access token is wrong")
        if cookie_token is not None and self._matches(cookie_token):
            return self._same_origin(origin)
        return Admission(
            401,
            f"no access token: send the token printed at start as the {TOKEN_HEADER} header "
            f"or the {TOKEN_QUERY} query parameter (a browser then keeps it as a cookie)",
        )

    def _matches(self, given: str) -> bool:
        assert self.token is not None
        return secrets.compare_digest(given.encode(), self.token.encode())

    def _same_origin(self, origin: str | None) -> Admission:
        # Browsers name the page's origin on cross-origin requests and on every websocket
        # upgrade; tools such as curl send none.
        if origin is None or origin.rstrip("/").lower() in self.origins:
            return Admission()
        return Admission(
            403,
            "the request comes from another web origin; pages elsewhere may not use this "
            f"proxy (send the {TOKEN_HEADER} header to allow a tool that sets an Origin)",
        )

    def cookie(self) -> str:
        """The ``Set-Cookie`` value that keeps the token in a browser (this proxy only)."""
        assert self.token is not None
        return f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict"
