"""Header authentication: the proxy trusts a request header naming the user (§2.6).

Static mode sends the user id and the virtual proxy supplies the directory; dynamic mode
sends directory and user rendered by the virtual proxy's pattern, written as the QMC shows
it: ``$ud\\\\$id`` (the QMC's escaped backslash, which the header carries as one:
``CORP\\alice``).
Only the first request carries the header: the proxy answers with a session cookie, and
the credentials hold that cookie (and the CSRF token), never the header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials, check_header_value
from qlikauth.errors import ConfigurationError, InvalidHeaderValueError
from qlikauth.http.values import Flow
from qlikauth.identity import QlikUser
from qlikauth.sessions import credential_request, start_session
from qlikauth.site import Site

__all__ = ["DEFAULT_HEADER_NAME", "DEFAULT_PATTERN", "RESERVED_HEADER_PARTS", "HeaderAuth"]

#: The header name of the seed article's virtual proxy.
DEFAULT_HEADER_NAME = "header_user"
#: The virtual proxy's dynamic user directory pattern as the QMC stores it: ``\\\\`` there
#: is an escaped backslash, so the header carries ``DIRECTORY\\user``.
DEFAULT_PATTERN = "$ud\\\\$id"
_PATTERN_TOKEN = re.compile(r"\$ud|\$id|\\\\")
#: Qlik refuses header names that contain any of these (case-insensitive).
RESERVED_HEADER_PARTS = (
    "x-qlik-security",
    "x-qlik-user",
    "x-qlik-proxysession",
    "x-qlik-proxyid",
    "x-qlik-trace",
    "x-qlik-app",
    "x-qlik-capabilities",
)


def check_header_name(name: str) -> str:
    """Return ``name`` if Qlik allows it as an authentication header; raise otherwise."""
    check_header_value(name, "")
    lowered = name.lower()
    for part in RESERVED_HEADER_PARTS:
        if part in lowered:
            raise InvalidHeaderValueError(
                f"the header name {name!r} contains the reserved name {part!r}",
                hint="Qlik does not allow X-Qlik-Security, X-Qlik-User, X-Qlik-ProxySession, "
                "X-Qlik-ProxyId, X-Qlik-Trace, X-Qlik-App or X-Qlik-Capabilities inside the "
                "header name; use e.g. 'header_user' or 'hdr-usr', and the same in the QMC.",
            )
    return name


@dataclass(frozen=True)
class HeaderAuth(Authenticator):
    """Log in by a header the virtual proxy trusts.

    ``user`` is the user id. With ``directory`` the header carries both, rendered by
    ``pattern`` (``$ud`` directory, ``$id`` user id, ``\\\\`` one backslash: copy it from
    the QMC as it is) for a dynamic-directory virtual proxy; without it the virtual
    proxy's static directory applies. ``header_name`` is the
    virtual proxy's *Header authentication header name*.
    """

    name: ClassVar[str] = "header"

    user: str
    directory: str | None = None
    header_name: str = DEFAULT_HEADER_NAME
    pattern: str = DEFAULT_PATTERN

    def __post_init__(self) -> None:
        if not self.user.strip():
            raise ConfigurationError("the header user is empty", hint="Pass user='alice'.")
        check_header_name(self.header_name)
        if self.directory is not None and ("$ud" not in self.pattern or "$id" not in self.pattern):
            raise ConfigurationError(
                f"the dynamic header pattern {self.pattern!r} lacks $ud or $id",
                hint="Copy the virtual proxy's 'Header authentication dynamic user directory' "
                "pattern, e.g. $ud\\$id.",
            )
        check_header_value(self.header_name, self.header_value)

    @property
    def header_value(self) -> str:
        """What the header carries: the user id, or the pattern filled in."""
        if self.directory is None:
            return self.user
        parts = {"$ud": self.directory, "$id": self.user, "\\\\": "\\"}
        return _PATTERN_TOKEN.sub(lambda m: parts[m.group(0)], self.pattern)

    @property
    def headers(self) -> dict[str, str]:
        """The one header sent on the first request."""
        return {self.header_name: self.header_value}

    def login(self, site: Site) -> Flow[Credentials]:
        """Send the header once; keep the session cookie and CSRF token the proxy hands out."""
        request = credential_request(site, self.headers)
        return (yield from start_session(site, request, what="header login", user=self.qlik_user))

    @property
    def qlik_user(self) -> QlikUser | None:
        """The user, when the directory is known (dynamic mode; a static virtual proxy
        supplies its own)."""
        if self.directory is None:
            return None
        try:
            return QlikUser(self.directory, self.user)
        except ConfigurationError:
            return None
