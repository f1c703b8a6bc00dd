"""Anonymous access, for virtual proxies that allow it (``anonymousAccessMode`` 1 or 2).

The proxy makes an anonymous session for the first request; the personal API then names
the user ``NONE\\anonymous<GUID>`` (qlik-protocol.md §1.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials
from qlikauth.errors import CredentialsRejectedError, LoginRedirectError
from qlikauth.http.values import Flow
from qlikauth.sessions import hub_request, start_session
from qlikauth.site import Site

__all__ = ["AnonymousAuth"]


@dataclass(frozen=True)
class AnonymousAuth(Authenticator):
    """Take the anonymous session a virtual proxy offers; no secrets involved."""

    name: ClassVar[str] = "anonymous"

    def login(self, site: Site) -> Flow[Credentials]:
        """Get the anonymous session cookie and CSRF token, then the anonymous user's name."""
        try:
            return (
                yield from start_session(
                    site, hub_request(site), what="anonymous login", include_anonymous=True
                )
            )
        except (LoginRedirectError, CredentialsRejectedError) as exc:
            raise LoginRedirectError(
                exc.message
                if exc.message.startswith("anonymous")
                else f"anonymous login: {exc.message}",
                location=getattr(exc, "location", None),
                url=exc.url,
                status=exc.status,
                hint=f"{site.virtual_proxy_label} does not allow anonymous access: set its "
                "anonymous access mode to 'Allow anonymous user' in the QMC, or use another "
                "authenticator.",
            ) from exc
