"""What a tool's request becomes on the Qlik side: the URL under the virtual proxy, the headers.

The tool speaks plain http/ws to the local proxy; Qlik gets https/wss to the site, under the
profile's virtual proxy, with the session's cookie, CSRF token, Xrfkey and Origin in place
of anything the tool said about identity (its cookies, ``Authorization``, Origin, Referer).
Everything here is pure: no I/O, so the rules are tested without sockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from qlikauth.credentials import Credentials
from qlikauth.errors import ConfigurationError
from qlikauth.http import new_xrfkey
from qlikauth.proxy.access import TOKEN_HEADER, TOKEN_QUERY
from qlikauth.site import Site

__all__ = [
    "HOP_BY_HOP",
    "Target",
    "fresh_xrfkey",
    "http_headers",
    "is_rest",
    "target_of",
    "websocket_headers",
]

#: Headers that describe one connection, not the message (RFC 9110 7.6.1): never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Headers that speak for the tool's identity or its view of the local proxy. The session's
#: own values replace them; a Referer would carry the local URL (and the access token).
_IDENTITY = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "origin",
        "referer",
        "qlik-csrf-token",
        "x-qlik-xrfkey",
        TOKEN_HEADER.lower(),
    }
)
#: The websocket handshake is made anew on the Qlik side.
_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    }
)
#: First path segments of Qlik's REST APIs: since November 2024 they want an Xrfkey too.
_REST_ROOTS = frozenset({"qrs", "qps", "api"})


@dataclass(frozen=True)
class Target:
    """Where one local request goes: the path below the virtual proxy and the raw query.

    ``path`` is percent-encoded as the tool sent it (``hub/``, ``app/{id}``); ``query`` is
    the tool's raw query string without the access token (kept out of the repr: it may
    hold a ticket).
    """

    path: str
    query: str = field(default="", repr=False)

    @property
    def rest(self) -> bool:
        """Whether this is a REST call (QRS, QPS, the hub's API), which carries an Xrfkey."""
        return is_rest(self.path)

    def http_url(self, site: Site, xrfkey: str | None = None) -> str:
        """The URL on the site's proxy, with ``xrfkey`` replacing any the tool sent."""
        query = self.query
        if xrfkey is not None:
            query = _join_query(_without(query, {"xrfkey"}), [("xrfkey", xrfkey)])
        return _with_query(site.proxy_url(self.path), query)

    def websocket_url(self, site: Site, credentials: Credentials) -> str:
        """The ``ws(s)://`` URL on the site's proxy, with the session's CSRF token."""
        extra = credentials.websocket_query()
        query = _join_query(_without(self.query, {k.lower() for k in extra}), extra.items())
        parts = urlsplit(site.proxy_url(self.path))
        scheme = "wss" if parts.scheme == "https" else "ws"
        return _with_query(urlunsplit(parts._replace(scheme=scheme)), query)


def is_rest(path: str) -> bool:
    """Whether ``path`` (below the virtual proxy) is a REST API that takes an Xrfkey."""
    return path.split("/", 1)[0].lower() in _REST_ROOTS


def target_of(site: Site, raw_target: str) -> Target:
    """The :class:`Target` of a request line's target (``/hub/?x=1``), or a clear refusal.

    The virtual proxy's prefix is added by the proxy, so a path that already starts with it
    (a ``Location`` the tool kept, an absolute link in a page) is taken without it. Dot
    segments are refused: they would climb out of the virtual proxy on the Qlik side.
    """
    if not raw_target.startswith("/"):
        raise ConfigurationError(
            "the request names an absolute URL: the qlikauth proxy is not a forward proxy",
            hint="Send requests to the proxy's own address with a path, e.g. GET /hub/.",
        )
    raw_path, _, query = raw_target.partition("?")
    segments = raw_path.split("/")[1:]
    if any(unquote(s) in (".", "..") for s in segments):
        raise ConfigurationError(
            "the path has '.' or '..' segments",
            hint="Use a plain path below the virtual proxy, e.g. /hub/ or /qrs/about.",
        )
    if site.prefix and segments and unquote(segments[0]).lower() == site.prefix:
        segments = segments[1:]
    return Target("/".join(segments), _without(query, {TOKEN_QUERY}))


def _pairs(query: str) -> list[tuple[str, str]]:
    """``(lowercase decoded name, raw piece)`` for each parameter, encoding kept."""
    return [
        (unquote_plus(piece.partition("=")[0]).lower(), piece)
        for piece in query.split("&")
        if piece
    ]


def _without(query: str, names: set[str]) -> str:
    return "&".join(piece for name, piece in _pairs(query) if name not in names)


def _join_query(query: str, extra: Iterable[tuple[str, str]]) -> str:
    added = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in extra]
    return "&".join(p for p in [query, *added] if p)


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Header names the ``Connection`` header lists: hop-by-hop for this one connection."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }


def _kept(headers: Iterable[tuple[str, str]], dropped: frozenset[str]) -> list[tuple[str, str]]:
    pairs = list(headers)
    drop = dropped | _connection_tokens(pairs)
    return [(k, v) for k, v in pairs if k.lower() not in drop]


def http_headers(
    incoming: Iterable[tuple[str, str]],
    credentials: Credentials,
    *,
    origin: str | None,
    xrfkey: str | None = None,
) -> list[tuple[str, str]]:
    """The headers of a forwarded HTTP request: the tool's, minus identity and hop-by-hop
    ones, plus the session's (cookie, CSRF token) and the Xrfkey when there is one.

    ``origin`` replaces the tool's Origin if it sent one (a browser's, the local address).
    """
    pairs = list(incoming)
    sent_origin = any(k.lower() == "origin" for k, _ in pairs)
    session = credentials.http_headers()
    out = _kept(pairs, HOP_BY_HOP | _IDENTITY | {"expect"} | {k.lower() for k in session})
    out.extend(session.items())
    if sent_origin and origin is not None:
        out.append(("Origin", origin))
    if xrfkey is not None:
        out.append(("X-Qlik-Xrfkey", xrfkey))
    return out


def websocket_headers(
    incoming: Iterable[tuple[str, str]], credentials: Credentials
) -> list[tuple[str, str]]:
    """The headers of a forwarded websocket upgrade, besides the handshake and Origin.

    The session's upgrade headers (the cookie; never ``Authorization`` next to it, which
    the November 2024 check refuses) replace the tool's identity headers.
    """
    session: Mapping[str, str] = credentials.websocket_headers()
    dropped = HOP_BY_HOP | _IDENTITY | _HANDSHAKE | {k.lower() for k in session}
    return [*_kept(incoming, dropped), *session.items()]


def fresh_xrfkey(target: Target) -> str | None:
    """A new Xrfkey for a REST call, ``None`` for anything else."""
    return new_xrfkey() if target.rest else None
