"""Validate a Windows password by logging in to the Qlik proxy's Windows virtual proxy.

The proxy's internal Windows module checks the password with its own domain over NTLM (or
Negotiate): if it lets the user in, the credentials are valid, and the proxy names the user
(``UserDirectory``, ``UserId``). This needs no LDAP settings and no domain controller
certificate, only a Windows virtual proxy that this machine can reach. The exchange is
:func:`qlikauth.windows_login.windows_login_flow`, the same one the ``ntlm`` authenticator runs;
:meth:`NtlmValidator.session` keeps the session it makes, :meth:`NtlmValidator.validate`
ends it again.

What NTLM cannot tell: the proxy answers a refused login with a bare 401, so a disabled,
expired or locked-out account looks like a wrong password (``InvalidCredentialsError``),
and no groups are read. Use :class:`~qlikauth.validators.LdapValidator` when those matter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from qlikauth.credentials import Credentials
from qlikauth.errors import ConfigurationError, InvalidCredentialsError, QlikAuthError
from qlikauth.http.drivers import run_flow
from qlikauth.http.transport import HttpTransport
from qlikauth.sessions import end_session
from qlikauth.site import Site
from qlikauth.validators.base import (
    INVALID_CREDENTIALS,
    ParsedUsername,
    ValidatedUser,
    check_password_given,
    parse_username,
)
from qlikauth.windows_login import windows_login_flow

__all__ = ["NtlmValidator"]

log = logging.getLogger(__name__)


class NtlmValidator:
    """Checks a password by an NTLM/Negotiate login on a Windows virtual proxy of ``site``.

    ``site`` is the site seen through the Windows virtual proxy (``site.with_prefix("")``
    for the default one). ``default_domain`` (the NetBIOS name, ``CORP``) lets users type a
    bare ``alice``. ``protocol`` and ``user_agent`` are as for
    :class:`~qlikauth.auth.ntlm.NtlmAuth`. Each check uses new connections, so one user's
    authenticated connection is never reused for another.
    """

    name = "ntlm"

    #: Built for the site of the login it serves (:mod:`qlikauth.validators.registry`).
    needs_site: ClassVar[bool] = True

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], site: Site | None) -> NtlmValidator:
        """An NTLM validator from a table (``kind = "ntlm"``, ``prefix``, ``cookie_name``)."""
        if site is None:
            raise ConfigurationError("the ntlm validator needs the site it logs in to")
        rest = dict(settings)
        prefix = str(rest.pop("prefix", ""))
        cookie_name = rest.pop("cookie_name", None)
        return cls(site.with_prefix(prefix, cookie_name), **rest)

    def __init__(
        self,
        site: Site,
        *,
        default_domain: str | None = None,
        protocol: Literal["negotiate", "ntlm"] = "negotiate",
        user_agent: str = "Windows",
        timeout: float = 30.0,
    ) -> None:
        if protocol not in ("negotiate", "ntlm"):
            raise ConfigurationError(
                f"unknown protocol {protocol!r}", hint="Use 'negotiate' or 'ntlm'."
            )
        self.site = site
        self.default_domain = default_domain
        self.protocol: Literal["negotiate", "ntlm"] = protocol
        self.user_agent = user_agent
        self.timeout = timeout

    def __repr__(self) -> str:
        return (
            f"NtlmValidator({self.site.origin!r}, prefix={self.site.prefix!r}, "
            f"protocol={self.protocol!r})"
        )

    def _principal(self, username: str) -> str:
        parsed: ParsedUsername = parse_username(username, default_domain=self.default_domain)
        if parsed.form == "upn":
            return f"{parsed.user}@{parsed.domain}"
        if parsed.domain:
            return f"{parsed.domain}\\{parsed.user}"
        raise ConfigurationError(
            f"the user name {parsed.user!r} has no domain",
            hint="type DOMAIN\\user or user@domain, or configure default_domain",
        )

    def session(self, username: str, password: str) -> Credentials:
        """Log in on the Windows virtual proxy and keep the session (the ``ntlm`` path).

        The caller owns the session and ends it (``DELETE /{prefix}/qps/user``).
        """
        check_password_given(password)
        principal = self._principal(username)
        with HttpTransport(self.site, timeout=self.timeout) as transport:
            return self._login(principal, password, transport)

    def _login(self, principal: str, password: str, transport: HttpTransport) -> Credentials:
        flow = windows_login_flow(
            self.site, principal, password, protocol=self.protocol, user_agent=self.user_agent
        )
        log.debug("NTLM check of %r on %s", principal, self.site.proxy_url())
        try:
            return run_flow(flow, transport)
        except InvalidCredentialsError as exc:
            log.info("NTLM login of %r refused: %s", principal, exc.message)
            raise InvalidCredentialsError(INVALID_CREDENTIALS) from None

    def validate(self, username: str, password: str) -> ValidatedUser:
        """Log in on the Windows virtual proxy, read who the proxy says it is, log out."""
        check_password_given(password)
        principal = self._principal(username)
        with HttpTransport(self.site, timeout=self.timeout) as transport:
            credentials = self._login(principal, password, transport)
            try:
                user = credentials.user
                if user is None:  # bootstrap_session names the user or raises
                    raise InvalidCredentialsError(INVALID_CREDENTIALS)
                log.info("NTLM validated %s on %s", user, self.site.proxy_url())
                return ValidatedUser(user.directory, user.user_id)
            finally:
                _end_session(credentials, self.site, transport)


def _end_session(credentials: Credentials, site: Site, transport: HttpTransport) -> None:
    """End the check's proxy session, so it holds none of the user's session slots."""
    try:
        run_flow(end_session(site, credentials), transport)
    except QlikAuthError as exc:
        log.info("could not end the NTLM check's session: %s", exc.message)
