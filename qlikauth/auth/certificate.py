"""Certificate authentication: direct to QRS (4242) and the engine (4747), no proxy (§1.7).

The site's client certificate proves the caller is trusted; ``X-Qlik-User:
UserDirectory=...; UserId=...`` (URL-encoded) says whose security context to run in. No
proxy session is made, so there is nothing to log out of. QMC certificates work only on
the trusted ports, never through the proxy on 443.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials, Route
from qlikauth.errors import ConfigurationError
from qlikauth.http.diagnosis import check_response
from qlikauth.http.values import Flow, HttpRequest, with_xrfkey
from qlikauth.identity import QlikUser
from qlikauth.site import Site

__all__ = ["USER_HEADER", "CertificateAuth"]

USER_HEADER = "X-Qlik-User"


@dataclass(frozen=True)
class CertificateAuth(Authenticator):
    """Act as ``directory\\user`` on the trusted ports with the site's client certificate.

    ``probe`` makes the login call ``GET /qrs/about`` once, so that a certificate the
    server does not trust fails at login rather than on first use.
    """

    name: ClassVar[str] = "certificate"
    creates_session: ClassVar[bool] = False

    user: str
    directory: str
    probe: bool = False

    def __post_init__(self) -> None:
        QlikUser(self.directory, self.user)  # raises on empty or backslash values

    @property
    def qlik_user(self) -> QlikUser:
        """The user whose security context the calls run in."""
        return QlikUser(self.directory, self.user)

    @property
    def headers(self) -> dict[str, str]:
        """The ``X-Qlik-User`` header, values URL-encoded."""
        return {USER_HEADER: self.qlik_user.header_value()}

    def login(self, site: Site) -> Flow[Credentials]:
        """Direct credentials; with ``probe``, one ``GET /qrs/about`` to check the certificate."""
        if site.tls.bundle is None:
            raise ConfigurationError(
                "certificate authentication needs the site's client certificate",
                hint="Pass the folder of the QMC certificate export (client.pem, "
                "client_key.pem, root.pem) or its client.pfx with the password.",
            )
        if self.probe:
            request = with_xrfkey(HttpRequest("GET", site.qrs_url("about"), self.headers))
            response = yield request
            check_response(response, what=f"QRS probe as {self.qlik_user}")
        return Credentials(route=Route.DIRECT, user=self.qlik_user, headers=self.headers)

    def logout(self, site: Site, credentials: Credentials) -> Flow[None]:
        """Nothing to end: direct connections make no proxy session."""
        yield from ()
        return None
