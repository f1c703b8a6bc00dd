"""What Qlik's answer becomes for the tool: the same status and headers, seen from the proxy.

Headers pass through unchanged except where they would send the tool (a browser, above
all) to the real host or hand it the proxy's session: a ``Location`` on the site's proxy
becomes a local path, the session cookie stays with the proxy, and other cookies lose the
``Domain`` and ``Secure`` attributes that would keep a browser from sending them back to a
plain-http loopback address. Pure functions, tested without sockets.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from qlikauth.proxy.upstream_request import HOP_BY_HOP
from qlikauth.site import Site

__all__ = ["local_location", "local_set_cookie", "response_headers"]


def _strip_prefix(site: Site, path: str) -> str:
    """A proxy path without the virtual proxy's prefix: ``/hdr/hub/`` gives ``/hub/``."""
    prefix = site.prefix
    if not prefix:
        return path
    if path == f"/{prefix}":
        return "/"
    if path.startswith(f"/{prefix}/"):
        return path[len(prefix) + 1 :]
    return path


def local_location(site: Site, location: str) -> str:
    """``location`` as the tool should follow it.

    A URL on the site's proxy (absolute, or a path under the virtual proxy) becomes a path
    on the local proxy; anything else (the login module, another host) is left alone.
    """
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        try:
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        except ValueError:
            return location
        if not site.owns(location) or port != site.proxy_port:
            return location
    elif not parts.path.startswith("/"):
        return location  # relative to the current path: the same below the proxy
    path = _strip_prefix(site, parts.path) or "/"
    if parts.query:
        path += f"?{parts.query}"
    if parts.fragment:
        path += f"#{parts.fragment}"
    return path


def local_set_cookie(site: Site, value: str, session_cookies: Collection[str]) -> str | None:
    """A ``Set-Cookie`` value for the tool, or ``None`` to keep it from the tool.

    The proxy session's own cookie is the proxy's: a browser that held it would need no
    proxy, and it would only be stripped on the way back.
    """
    first, *attributes = value.split(";")
    name = first.partition("=")[0].strip()
    if name in session_cookies:
        return None
    kept = [first.strip()]
    for attribute in attributes:
        key, _, val = attribute.strip().partition("=")
        lowered = key.strip().lower()
        if lowered in ("domain", "secure"):
            continue
        if lowered == "samesite" and val.strip().lower() == "none":
            kept.append("SameSite=Lax")  # SameSite=None is refused without Secure
        elif lowered == "path":
            kept.append(f"Path={_strip_prefix(site, val.strip()) or '/'}")
        elif attribute.strip():
            kept.append(attribute.strip())
    return "; ".join(kept)


def response_headers(
    site: Site, upstream: Iterable[tuple[str, str]], session_cookies: Collection[str]
) -> list[tuple[str, str]]:
    """The tool's response headers from Qlik's (repeated headers kept, in order)."""
    pairs = list(upstream)
    connection = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        lowered = name.lower()
        if lowered in HOP_BY_HOP or lowered in connection:
            continue
        if lowered in ("location", "content-location"):
            out.append((name, local_location(site, value)))
        elif lowered == "set-cookie":
            cookie = local_set_cookie(site, value, session_cookies)
            if cookie is not None:
                out.append((name, cookie))
        else:
            out.append((name, value))
    return out
