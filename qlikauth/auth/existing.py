"""A proxy session obtained elsewhere (a browser's cookie, another tool's session).

qlikauth did not create it, so it does not end it on close (``creates_session`` is
false). The login checks it through the personal API and fetches a fresh CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials, check_header_value
from qlikauth.errors import (
    ConfigurationError,
    CredentialsRejectedError,
    LoginRedirectError,
    SessionExpiredError,
)
from qlikauth.http.values import Flow
from qlikauth.sessions import complete_session
from qlikauth.site import Site

__all__ = ["ExistingSessionAuth"]


@dataclass(frozen=True)
class ExistingSessionAuth(Authenticator):
    """Use a session cookie value (and CSRF token) from elsewhere, e.g. a browser.

    ``cookie_name`` is the cookie's name as sent on the wire; it defaults to the site's.
    """

    name: ClassVar[str] = "existing"
    creates_session: ClassVar[bool] = False

    session_id: str = field(repr=False)
    csrf_token: str | None = field(default=None, repr=False)
    cookie_name: str | None = None

    def __post_init__(self) -> None:
        if not self.session_id.strip():
            raise ConfigurationError(
                "the session id is empty",
                hint="Copy the value of the X-Qlik-Session* cookie from the browser.",
            )
        check_header_value("Cookie", self.session_id)
        if ";" in self.session_id or " " in self.session_id:
            raise ConfigurationError(
                "the session id contains a space or semicolon",
                hint="Give only the cookie's value, not 'name=value; ...'.",
            )

    def _site(self, site: Site) -> tuple[Site, str]:
        name = self.cookie_name or site.cookie_name
        if name is None:
            raise ConfigurationError(
                f"which cookie carries the session on virtual proxy '{site.prefix}'?",
                hint="Pass cookie_name= (the virtual proxy's 'Session cookie header name', "
                "as the browser shows it).",
            )
        if site.cookie_name == name:
            return site, name
        configured = name
        if site.scheme == "http" and name.endswith("-HTTP"):
            configured = name[: -len("-HTTP")]
        return site.with_prefix(site.prefix, configured), name

    def login(self, site: Site) -> Flow[Credentials]:
        """Check the session through the personal API and pick up a fresh CSRF token."""
        target, name = self._site(site)
        try:
            # Not owned: a session brought from elsewhere is never ended by qlikauth.
            credentials = yield from complete_session(
                target, name, self.session_id, what="existing session", owned=False
            )
        except (LoginRedirectError, CredentialsRejectedError) as exc:
            raise SessionExpiredError(
                f"the given session is not valid on {site.virtual_proxy_label} "
                f"(cookie {name}): {exc.message}",
                url=exc.url,
                status=exc.status,
                hint="It has expired, was logged out, or belongs to another virtual proxy; "
                "copy a current cookie from a logged-in browser of this virtual proxy.",
            ) from exc
        if credentials.csrf_token is None and self.csrf_token is not None:
            credentials = credentials.replace(csrf_token=self.csrf_token)
        return credentials
