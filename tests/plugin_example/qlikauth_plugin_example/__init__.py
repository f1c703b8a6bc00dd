"""An example qlikauth plug-in: header authentication keyed by an e-mail address.

The header carries the local part of the address (``alice`` for ``alice@corp.example``).
It is built only from qlikauth's public pieces, as a third-party plug-in would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qlikauth import ConfigurationError, Credentials, Site
from qlikauth.auth.base import Authenticator
from qlikauth.auth.header import check_header_name
from qlikauth.http import Flow
from qlikauth.sessions import credential_request, start_session

__all__ = ["NOT_AN_AUTHENTICATOR", "EmailHeaderAuth"]

#: Registered on purpose under a second entry point: qlikauth must skip it.
NOT_AN_AUTHENTICATOR = object()


@dataclass(frozen=True)
class EmailHeaderAuth(Authenticator):
    """Log in through a header virtual proxy as the local part of ``email``."""

    name: ClassVar[str] = "example-email-header"

    email: str
    header_name: str = "header_user"

    def __post_init__(self) -> None:
        if "@" not in self.email:
            raise ConfigurationError(f"{self.email!r} is not an e-mail address")
        check_header_name(self.header_name)

    def login(self, site: Site) -> Flow[Credentials]:
        """Send the header once; keep the proxy session."""
        user = self.email.split("@", 1)[0]
        request = credential_request(site, {self.header_name: user})
        return (yield from start_session(site, request, what="e-mail login"))
