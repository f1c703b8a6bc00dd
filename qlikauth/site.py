"""Where Qlik Sense is: host, ports, virtual proxy, trust. Builds every URL qlikauth uses.

No other module concatenates Qlik URLs by hand: the prefix goes *after* ``/qps/`` on the QPS
port (4243) and *before* it on the proxy (the personal API), websockets go to
``/{prefix}/app/{id}`` through the proxy or ``/app/{id}`` on the engine port, and a
``qUrl`` from the engine is resolved under the same virtual proxy it will be fetched through.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from qlikauth.destination import (
    CONFUSING_RE,
    is_sendable,
    standard_port,
    url_authority,
)
from qlikauth.errors import ConfigurationError, ForeignHostError
from qlikauth.tls.contexts import TlsConfig

__all__ = [
    "DEFAULT_COOKIE_NAME",
    "Site",
    "VirtualProxy",
    "check_host",
]

#: The session cookie name of the default virtual proxy (the one with an empty prefix).
DEFAULT_COOKIE_NAME = "X-Qlik-Session"

_PREFIX_RE = re.compile(r"[a-z0-9\-._~]+")
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,62})(?:\.[A-Za-z0-9_\-]{1,63})*\.?"
)
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ENGINE_DATA = "engineData"
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_DOT_SEGMENT_RE = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)

Query = Mapping[str, str] | None


def _check_prefix(prefix: str) -> str:
    if prefix == "" or _PREFIX_RE.fullmatch(prefix):
        return prefix
    suggestion = re.sub(r"[^a-z0-9\-._~]", "", prefix.strip().strip("/").lower())
    hint = "Use the virtual proxy's prefix as the QMC shows it (not its description)"
    if suggestion and suggestion != prefix:
        hint += f"; did you mean {suggestion!r}?"
    raise ConfigurationError(
        f"invalid virtual proxy prefix {prefix!r}: Qlik allows only lowercase a-z, 0-9 and "
        "'-', '.', '_', '~', without slashes",
        hint=hint + ". The default virtual proxy has the empty prefix ''.",
    )


def _check_cookie_name(name: str) -> str:
    if not _TOKEN_RE.fullmatch(name):
        raise ConfigurationError(
            f"invalid session cookie name {name!r}",
            hint="Copy the virtual proxy's 'Session cookie header name' from the QMC, "
            "e.g. X-Qlik-Session-hdr.",
        )
    return name


def check_host(host: str) -> str:
    """``host`` if it is a bare host name or IP address, else a :class:`ConfigurationError`."""
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in host):
        raise ConfigurationError(
            f"host {host!r} contains a control character (CR/LF, tab, ...)",
            hint="Give the bare host name, e.g. qlik.example.com; check for a stray line "
            "break copied along with it.",
        )
    if "://" in host or "/" in host or "?" in host or "#" in host or "@" in host:
        parts = urlsplit(host if "://" in host else f"//{host}")
        raise ConfigurationError(
            f"host {host!r} contains a scheme, path or user part",
            hint=f"Give the bare host name, e.g. {parts.hostname or 'qlik.example.com'!r}; "
            "ports and the virtual proxy prefix are separate settings "
            "(or use Site.from_url).",
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    if ":" in host:
        raise ConfigurationError(
            f"host {host!r} contains a port",
            hint="Set the port with proxy_port (or qps_port, qrs_port, engine_port).",
        )
    if not _HOSTNAME_RE.fullmatch(host):
        raise ConfigurationError(
            f"invalid host name {host!r}",
            hint="Use the host name the server certificate was made for, e.g. qlik.example.com.",
        )
    return host


def _check_origin(origin: str) -> str:
    """An Origin header value: ``scheme://host[:port]``, nothing more."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        port, parts = -1, urlsplit("")
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or "\\" in origin
    ):
        raise ConfigurationError(
            f"invalid websocket Origin {origin!r}",
            hint="Give scheme and host as a browser would send them, e.g. "
            "https://qlik.example.com (the name in the virtual proxy's host allow list).",
        )
    return origin.rstrip("/")


def _check_port(name: str, port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(
            f"{name} must be a whole number from 1 to 65535, not {port!r}",
            hint=f"Check the {name} setting.",
        )
    return port


def _segment(value: str) -> str:
    return quote(value, safe="")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


@dataclass(frozen=True)
class VirtualProxy:
    """A virtual proxy: its prefix and the name of its session cookie.

    ``cookie_name`` ``None`` means ``X-Qlik-Session`` for the default virtual proxy and
    "learn it from the proxy's first ``Set-Cookie``" for the others: there is no safe default.
    """

    prefix: str = ""
    cookie_name: str | None = None

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)
        if self.cookie_name is not None:
            _check_cookie_name(self.cookie_name)

    @property
    def default_cookie_name(self) -> str | None:
        """The configured cookie name, or the default virtual proxy's well-known one."""
        if self.cookie_name is not None:
            return self.cookie_name
        return DEFAULT_COOKIE_NAME if self.prefix == "" else None


#: Default ports of the listeners whose scheme follows the site's: https, then http.
_SCHEME_PORTS = {
    True: {"proxy_port": 443, "auth_port": 4244},
    False: {"proxy_port": 80, "auth_port": 4248},
}


@dataclass(frozen=True)
class Site:
    """A Qlik Sense site as seen from the client: host, ports, virtual proxy and trust.

    Ports default to Qlik's (proxy 443, QPS 4243, QRS 4242, engine 4747, internal
    authentication module 4244). Over plain http (``scheme="http"``, Qlik's "Allow HTTP") the
    proxy and the authentication module speak http, on 80 and 4248 by default; QPS, QRS and
    the engine stay https. ``tls`` holds the trusted root and the client certificate.

    A proxy or module port of 0 stands for that default, filled in on construction: to move
    a site to the other scheme, build a new one rather than ``dataclasses.replace`` it.
    """

    host: str
    virtual_proxy: VirtualProxy = field(default_factory=VirtualProxy)
    #: 0 means Qlik's default: 443 over https, 80 over http.
    proxy_port: int = 0
    qps_port: int = 4243
    qrs_port: int = 4242
    engine_port: int = 4747
    #: 0 means Qlik's default: 4244 over https, 4248 over http.
    auth_port: int = 0
    scheme: Literal["https", "http"] = "https"
    tls: TlsConfig = field(default_factory=TlsConfig, compare=False, repr=False)
    #: The Origin sent on engine websocket upgrades; ``None``: :attr:`origin`, the proxy's
    #: own. Set it when the site is reached by an address or alias that is not in the
    #: virtual proxy's host allow list (e.g. an IP): the proxy checks Origin against it.
    websocket_origin: str | None = None

    def __post_init__(self) -> None:
        check_host(self.host)
        if self.scheme not in ("https", "http"):
            raise ConfigurationError(
                f"scheme must be 'https' or 'http', not {self.scheme!r}",
                hint="Qlik Sense serves https on port 443 unless http was enabled.",
            )
        for name, default in _SCHEME_PORTS[self.scheme == "https"].items():
            if getattr(self, name) == 0:
                # Frozen: the default depends on the scheme, so it is filled in here.
                object.__setattr__(self, name, default)
        for name in ("proxy_port", "qps_port", "qrs_port", "engine_port", "auth_port"):
            _check_port(name, getattr(self, name))
        if self.websocket_origin is not None:
            object.__setattr__(self, "websocket_origin", _check_origin(self.websocket_origin))

    @classmethod
    def from_url(cls, url: str, **settings: object) -> Site:
        """A site from the URL of its hub or virtual proxy, e.g. ``https://qlik.corp/hdr``."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(
                f"not a Qlik Sense URL: {url!r}",
                hint="Give a URL such as https://qlik.example.com/ or https://qlik.example.com/hdr",
            )
        segments = [s for s in parts.path.split("/") if s]
        if segments and segments[-1] == "hub":
            segments.pop()
        if len(segments) > 1:
            raise ConfigurationError(
                f"cannot tell the virtual proxy prefix from {url!r}",
                hint="A prefix is a single path segment, e.g. https://qlik.example.com/hdr",
            )
        prefix = segments[0] if segments else ""
        vp = settings.pop("virtual_proxy", None)
        if vp is None:
            vp = VirtualProxy(prefix=prefix)
        return cls(
            host=parts.hostname,
            virtual_proxy=vp,  # type: ignore[arg-type]
            proxy_port=parts.port or 0,  # 0: the scheme's default
            scheme=parts.scheme,  # type: ignore[arg-type]
            **settings,  # type: ignore[arg-type]
        )

    @property
    def prefix(self) -> str:
        """The virtual proxy prefix (empty for the default virtual proxy)."""
        return self.virtual_proxy.prefix

    @property
    def virtual_proxy_label(self) -> str:
        """How messages name the virtual proxy: ``virtual proxy 'hdr'`` or the default one."""
        return f"virtual proxy '{self.prefix}'" if self.prefix else "the default virtual proxy"

    @property
    def cookie_name(self) -> str | None:
        """The session cookie name on the wire (Qlik appends ``-HTTP`` over plain http)."""
        name = self.virtual_proxy.default_cookie_name
        if name is not None and self.scheme == "http":
            return f"{name}-HTTP"
        return name

    @property
    def _netloc_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def _netloc(self, port: int, scheme: str) -> str:
        if port == standard_port(scheme):
            return self._netloc_host
        return f"{self._netloc_host}:{port}"

    @property
    def origin(self) -> str:
        """The proxy's origin, ``https://host[:port]``: the Origin of websocket upgrades."""
        return f"{self.scheme}://{self._netloc(self.proxy_port, self.scheme)}"

    def with_prefix(self, prefix: str, cookie_name: str | None = None) -> Site:
        """The same site seen through another virtual proxy."""
        return replace(self, virtual_proxy=VirtualProxy(prefix, cookie_name))

    def _url(self, scheme: str, port: int, path: str, query: Query) -> str:
        # Escape what may not stand raw in a path (spaces, controls, "\\", "?", "#",
        # non-ASCII); escapes already there are kept.
        if not all(is_sendable(t) for t in (path, *(query or {}), *(query or {}).values())):
            raise ConfigurationError(
                f"the path {path!r} or its query holds a lone surrogate, which is not text",
                hint="Pass the path as text as it was sent (a bad \\uD800 escape in JSON "
                "decodes to this).",
            )
        path = quote(path, safe=_PATH_SAFE)
        return urlunsplit(
            (scheme, self._netloc(port, scheme), "/" + path, urlencode(query or {}), "")
        )

    def proxy_url(self, path: str = "", query: Query = None) -> str:
        """A resource on the proxy under this virtual proxy: ``/{prefix}/{path}``."""
        full = _join(self.prefix, path)
        if path.endswith("/") or not path:
            full += "/" if full else ""
        return self._url(self.scheme, self.proxy_port, full, query)

    def personal_url(self, path: str, query: Query = None) -> str:
        """The personal API on the proxy: ``/{prefix}/qps/{path}`` (e.g. ``user``)."""
        return self.proxy_url(_join("qps", path), query)

    def qps_url(self, path: str, query: Query = None) -> str:
        """The QPS REST API on its trusted port: ``/qps/{prefix}/{path}`` (mutual TLS)."""
        return self._url("https", self.qps_port, _join("qps", self.prefix, path), query)

    def qrs_url(self, path: str, query: Query = None) -> str:
        """The repository API on its trusted port: ``/qrs/{path}`` (no prefix, mutual TLS)."""
        return self._url("https", self.qrs_port, _join("qrs", path), query)

    def auth_url(self, path: str, query: Query = None) -> str:
        """The internal authentication module (Windows/forms login) on its own port."""
        return self._url(self.scheme, self.auth_port, path.lstrip("/"), query)

    @staticmethod
    def _app_path(app_id: str | None, identity: str | None, ttl: int | None) -> str:
        path = f"app/{_segment(app_id or _ENGINE_DATA)}"
        if identity is not None:
            path += f"/identity/{_segment(identity)}"
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
                raise ConfigurationError(
                    f"ttl must be a whole number of seconds, not {ttl!r}",
                    hint="ttl is how long the engine keeps the session after disconnect.",
                )
            path += f"/ttl/{ttl}"
        return path

    def app_websocket_url(
        self,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
        query: Query = None,
    ) -> str:
        """The engine websocket through the proxy: ``wss://host/{prefix}/app/{id}``."""
        scheme = "wss" if self.scheme == "https" else "ws"
        path = _join(self.prefix, self._app_path(app_id, identity, ttl))
        return self._url(scheme, self.proxy_port, path, query)

    def engine_websocket_url(
        self,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
        query: Query = None,
    ) -> str:
        """The engine websocket direct on its port (client certificate): ``/app/{id}``."""
        return self._url("wss", self.engine_port, self._app_path(app_id, identity, ttl), query)

    def owns(self, url: str) -> bool:
        """Whether ``url`` points at this site (same host, one of its ports, right scheme).

        Decided on :func:`url_authority`: a URL that URL parsers may read as two different
        hosts (a backslash, a user part, percent escapes, control characters) is not the
        site's, whatever host it seems to name.
        """
        where = url_authority(url)
        if where is None or where.host != self.host.lower().strip("[]"):
            return False
        secure = where.scheme in ("https", "wss")
        front = {self.proxy_port, self.auth_port}
        always_tls = {self.qps_port, self.qrs_port, self.engine_port}
        if self.scheme == "https":
            return secure and where.port in front | always_tls
        return where.port in always_tls if secure else where.port in front

    def resolve(self, url: str) -> str:
        """Resolve a server-relative ``qUrl`` under this virtual proxy; keep its query.

        ``/tempcontent/x/f.csv?serverNodeId=n`` becomes
        ``https://host/{prefix}/tempcontent/x/f.csv?serverNodeId=n``. An absolute URL must
        be on this site's proxy; anything else, and a path that climbs out of the virtual
        proxy (``..``) or holds characters URL parsers read differently, raises
        :class:`ForeignHostError`.
        """
        if CONFUSING_RE.search(url) or not is_sendable(url):
            raise ForeignHostError(
                f"refusing {url!r}: it holds a backslash, white space, a control character "
                "or a lone surrogate, which URL parsers read differently",
                hint="A qUrl from Qlik never does; the server may be trying to send the "
                "credentials elsewhere.",
            )
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ForeignHostError(
                f"refusing {url!r}: it is not a URL qlikauth can read safely",
                hint="A qUrl from Qlik is a plain path such as /tempcontent/{id}/{file}.",
            ) from None
        if parts.scheme or parts.netloc:
            where = url_authority(url)
            if where is None or not self.owns(url) or where.port != self.proxy_port:
                raise ForeignHostError(
                    f"refusing {parts.scheme}://{parts.netloc.rpartition('@')[2]}: it is not "
                    f"this site's proxy ({self.origin})",
                    hint="qlikauth sends credentials only to the site itself; allow the "
                    "host explicitly to download from it without credentials.",
                    url=url,
                )
        path = "/" + parts.path.lstrip("/")
        if _DOT_SEGMENT_RE.search(path) or _DOT_SEGMENT_RE.search(unquote(path)):
            raise ForeignHostError(
                f"refusing {parts.path!r}: its path climbs out of the virtual proxy ('..')",
                hint="A qUrl from Qlik names a file under /tempcontent/; download only those.",
                url=url,
            )
        first = _join(path).split("/", 1)[0]
        if self.prefix and first != self.prefix:
            path = "/" + _join(self.prefix, path)
        return urlunsplit(
            (self.scheme, self._netloc(self.proxy_port, self.scheme), path, parts.query, "")
        )
