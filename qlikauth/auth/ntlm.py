"""Windows authentication through the proxy: NTLM or Negotiate (qlik-protocol.md §2.3-2.4).

:class:`NtlmAuth` logs in the way a browser does on a Windows virtual proxy
(:mod:`qlikauth.windows_login` has the legs): the proxy sends it to its internal Windows
module, the NTLM legs run on one kept-alive connection, and the module's ticket is redeemed
for the session. pyspnego (the ``windows`` extra) does the NTLM arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials, check_header_value
from qlikauth.errors import ConfigurationError
from qlikauth.http.values import Flow
from qlikauth.identity import check_identity_text
from qlikauth.site import Site
from qlikauth.windows_login import windows_login_flow

__all__ = ["NtlmAuth"]


@dataclass(frozen=True)
class NtlmAuth(Authenticator):
    """Log in with a Windows account through the proxy's internal Windows module.

    ``user`` is ``DOMAIN\\user``, ``user@domain``, or a bare name with ``domain``.
    ``protocol`` picks ``negotiate`` (SPNEGO wrapping NTLM, as browsers do) or plain
    ``ntlm``. ``user_agent`` must contain the virtual proxy's Windows authentication
    pattern (default ``Windows``).
    """

    name: ClassVar[str] = "ntlm"

    user: str
    password: str = field(repr=False)
    domain: str | None = None
    protocol: Literal["negotiate", "ntlm"] = "negotiate"
    user_agent: str = "Windows"

    def __post_init__(self) -> None:
        if not self.user.strip():
            raise ConfigurationError("the Windows user name is empty", hint="e.g. CORP\\alice")
        check_identity_text("Windows user name", self.user)
        if self.domain is not None:
            check_identity_text("Windows domain", self.domain)
        if self.protocol not in ("negotiate", "ntlm"):
            raise ConfigurationError(
                f"unknown protocol {self.protocol!r}", hint="Use 'negotiate' or 'ntlm'."
            )
        check_header_value("User-Agent", self.user_agent)

    @property
    def principal(self) -> str:
        """The account as pyspnego takes it: ``DOMAIN\\user`` or ``user@domain``."""
        if self.domain and "\\" not in self.user and "@" not in self.user:
            return f"{self.domain}\\{self.user}"
        return self.user

    def login(self, site: Site) -> Flow[Credentials]:
        """Proxy, internal Windows module (three NTLM legs), back to the proxy with a ticket."""
        return (
            yield from windows_login_flow(
                site,
                self.principal,
                self.password,
                protocol=self.protocol,
                user_agent=self.user_agent,
            )
        )
