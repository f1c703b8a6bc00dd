"""Where a URL connects, decided only when every URL parser would agree on it.

Credentials go only to the site itself, so "which host does this URL reach" must have one
answer: the one urllib3 (which sends the request), browsers and ``urllib.parse`` all read.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["CONFUSING_RE", "Authority", "is_sendable", "standard_port", "url_authority"]

#: Characters no URL qlikauth sends credentials to may hold anywhere: C0 controls, space,
#: DEL (the WHATWG URL rules drop or trim some of them, urllib and urllib3 do not) and the
#: backslash (a "/" to browsers and urllib3, part of the user name to urllib).
CONFUSING_RE = re.compile(r"[\x00-\x20\x7f\\]")
_SCHEME_RE = re.compile(r"(https|http|wss|ws)://", re.IGNORECASE)
#: The only authority qlikauth trusts: a plain host name or bracketed IPv6 address and an
#: optional port. No user part (``@``), no percent escapes, nothing outside ASCII: every
#: parser reads such an authority the same way.
_AUTHORITY_RE = re.compile(
    r"(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0x[0-9a-f]*")


def is_sendable(text: str) -> bool:
    """Whether ``text`` can be sent at all (a lone surrogate cannot be encoded)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def standard_port(scheme: str) -> int:
    """The port a URL of this scheme leaves out."""
    return 443 if scheme in ("https", "wss") else 80


@dataclass(frozen=True)
class Authority:
    """Where a URL sends its request: scheme (lower case), host (lower case, an IPv6
    address without brackets) and port (the scheme's default filled in)."""

    scheme: str
    host: str
    port: int


def url_authority(url: str) -> Authority | None:
    """Where ``url`` connects, or ``None`` when URL parsers might not agree on it.

    Browsers (the WHATWG URL rules), urllib3 (which sends ``requests``' requests) and
    ``urllib.parse`` read some URLs as different hosts: ``https://evil\\@qlik.corp/`` is
    ``evil`` to the first two and ``qlik.corp`` to the last. Only an http(s)/ws(s) URL whose
    authority is a plain ASCII host name or bracketed IPv6 address with an optional port,
    with no user part, percent escape, backslash, white space or control character anywhere,
    gets an answer: on those, every parser reads the same host and port (the property
    tests compare this answer with urllib3's ``parse_url``, ``urllib.parse`` and the WHATWG
    rules).
    """
    if not isinstance(url, str) or CONFUSING_RE.search(url) or not is_sendable(url):
        return None
    head = _SCHEME_RE.match(url)
    if head is None:
        return None
    rest = url[head.end() :]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    found = _AUTHORITY_RE.fullmatch(rest[:end])
    if found is None:
        return None
    scheme = head.group(1).lower()
    host = found.group("host").lower()
    port = int(found.group("port")) if found.group("port") else standard_port(scheme)
    if not 0 < port < 65536:
        return None
    if host.startswith("["):
        host = host[1:-1]
        try:
            if str(ipaddress.IPv6Address(host)) != host:
                return None  # another spelling (leading zeros, ...): parsers write it apart
        except ValueError:
            return None
    elif _NUMERIC_LABEL_RE.fullmatch(host.rstrip(".").rpartition(".")[2]):
        # Browsers read a host ending in a number as an IPv4 address, in any of its old
        # spellings (127.1, 0x7f.1, 2130706433): only the plain dotted form reads alike.
        try:
            if str(ipaddress.IPv4Address(host)) != host:
                return None
        except ValueError:
            return None
    return Authority(scheme, host, port)
