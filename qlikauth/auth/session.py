"""Session injection: QPS creates a proxy session with an id we chose (§1.5, §2.10).

``POST /qps/{prefix}/session`` (port 4243, mutual TLS, Xrfkey) with a random UUID4 as the
session id; the client then sends that id as the cookie the virtual proxy names. Logout
deletes the session through QPS, so the user's session slot is freed at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials, Route
from qlikauth.errors import (
    ConfigurationError,
    CredentialsRejectedError,
    HandshakeError,
    LoginRedirectError,
    TransportError,
)
from qlikauth.http.values import Flow, HttpResponse
from qlikauth.identity import QlikUser, check_attributes
from qlikauth.qps.flows import add_session_flow, delete_session_flow
from qlikauth.qps.values import Attributes, attribute_pairs, new_session_id
from qlikauth.sessions import complete_session, end_session_quietly, expect_late_answers
from qlikauth.site import Site

__all__ = ["SessionAuth"]


@dataclass(frozen=True)
class SessionAuth(Authenticator):
    """Log in by injecting a proxy session through QPS (needs the site's client certificate).

    The site must know the virtual proxy's session cookie name (its *Session cookie header
    name*): the proxy never announces it for an injected session. ``session_id`` is random
    per login unless given.
    """

    name: ClassVar[str] = "session"

    user: str
    directory: str
    attributes: Attributes = ()
    session_id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        pairs = attribute_pairs(self.attributes)
        check_attributes(pairs)
        object.__setattr__(self, "attributes", pairs)
        QlikUser(self.directory, self.user)  # raises on empty or backslash values
        if self.session_id is not None and len(self.session_id) < 16:
            raise ConfigurationError(
                "the session id is too short to be unguessable",
                hint="Leave session_id unset: qlikauth makes a random UUID4 per login.",
            )

    @property
    def qlik_user(self) -> QlikUser:
        """The user the session is for."""
        return QlikUser(self.directory, self.user)

    def login(self, site: Site) -> Flow[Credentials]:
        """Add the session through QPS, then present it as the cookie and read the user."""
        cookie_name = site.cookie_name
        if cookie_name is None:
            raise ConfigurationError(
                f"session injection on virtual proxy '{site.prefix}' needs its session cookie name",
                hint="Set the site's cookie name to the virtual proxy's 'Session cookie header "
                "name' from the QMC (e.g. X-Qlik-Session-hdr).",
            )
        session_id = self.session_id or new_session_id()
        ours = Credentials(cookies={cookie_name: session_id}, cookie_name=cookie_name)
        adding = add_session_flow(site, self.qlik_user, session_id, attributes=self.attributes)
        try:
            # QPS may add the session and lose (or be late with) its answer: the id is ours,
            # so end it in both cases rather than leave it to eat a session slot.
            yield from expect_late_answers(adding, functools.partial(_end_if_added, site, ours))
        except (TransportError, HandshakeError):
            # On QPS's mutual-TLS port a cut connection reads as a refused handshake.
            yield from end_session_quietly(site, ours)
            raise
        try:
            # owned: a refusal ends the injected session again (QPS deletes it).
            return (
                yield from complete_session(
                    site, cookie_name, session_id, what="session injection", owned=True
                )
            )
        except (LoginRedirectError, CredentialsRejectedError) as exc:
            raise LoginRedirectError(
                f"QPS created the session, but the proxy did not accept it as the cookie "
                f"{cookie_name} on {site.virtual_proxy_label}: {exc.message}",
                url=exc.url,
                status=exc.status,
                hint=f"The virtual proxy's 'Session cookie header name' is probably not "
                f"{cookie_name}: copy it from the QMC into the site configuration (over plain "
                "http Qlik appends '-HTTP'). The session was deleted again.",
            ) from exc

    def logout(self, site: Site, credentials: Credentials) -> Flow[None]:
        """Delete the session through QPS, freeing the user's session slot."""
        session_id = credentials.session_id
        if credentials.route is Route.DIRECT or session_id is None:
            return None
        yield from delete_session_flow(site, session_id)
        return None


def _end_if_added(site: Site, ours: Credentials, response: HttpResponse) -> Flow[None]:
    """QPS answered the add after the login gave up: end the session it added."""
    if 200 <= response.status < 300:
        yield from end_session_quietly(site, ours)
