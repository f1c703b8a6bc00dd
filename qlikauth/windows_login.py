"""The proxy's Windows login, done by hand: NTLM or Negotiate (qlik-protocol.md §2.3-2.4).

The flow a browser goes through:

1. ``GET /{prefix}/hub/`` with a ``User-Agent`` containing the virtual proxy's Windows
   pattern (default ``Windows``; without it the proxy shows a forms login page instead);
2. the proxy redirects to the internal module on the authentication port
   (``/internal_windows_authentication/?targetId=...``);
3. the module asks for ``Negotiate``/``NTLM`` (401) and the three NTLM legs follow
   (negotiate, challenge, authenticate). NTLM authenticates the TCP connection, so these
   requests go one after another on one kept-alive connection;
4. the module redirects back to the proxy with a ``qlikTicket``, redeemed on the hub for
   the session cookie, and the session is completed (CSRF token, user).

Both :class:`~qlikauth.auth.ntlm.NtlmAuth` and the ``ntlm`` validator use it. pyspnego does
the NTLM arithmetic; it ships in the ``windows`` extra and is imported only when a login
runs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urljoin, urlsplit

from qlikauth.credentials import Credentials, check_header_value
from qlikauth.errors import (
    AuthenticationError,
    ConfigurationError,
    CredentialsRejectedError,
    ForeignHostError,
    InvalidCredentialsError,
    LoginRedirectError,
    TicketError,
    redact_url,
)
from qlikauth.http.values import Flow, HttpRequest, HttpResponse
from qlikauth.sessions import hub_request, start_session
from qlikauth.site import Site

__all__ = ["windows_login_flow"]

_TICKET_PARAMETERS = ("qlikticket", "x-qlik-ticket")


def _spnego() -> Any:
    try:
        import spnego
    except ImportError as exc:
        raise ConfigurationError(
            "Windows authentication (NTLM/Negotiate) needs the pyspnego package",
            hint="Install the Windows extra: pip install 'qlikauth[windows]'.",
        ) from exc
    return spnego


def _offered(response: HttpResponse) -> dict[str, str]:
    """Schemes in ``WWW-Authenticate`` (lowercase name to the token that came with it)."""
    out: dict[str, str] = {}
    for value in response.header_list("WWW-Authenticate"):
        for part in value.split(","):
            scheme, _, token = part.strip().partition(" ")
            if scheme:
                out.setdefault(scheme.lower(), token.strip())
    return out


def _ticket_in(location: str) -> str | None:
    query = urlsplit(location).query
    return next(
        (v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() in _TICKET_PARAMETERS),
        None,
    )


def windows_login_flow(
    site: Site,
    principal: str,
    password: str,
    *,
    protocol: Literal["negotiate", "ntlm"] = "negotiate",
    user_agent: str = "Windows",
) -> Flow[Credentials]:
    """Log in as ``principal`` through the proxy's Windows module; return the session.

    The exchange :class:`NtlmAuth` runs, for callers that hold the password only for one
    login (the ``ntlm`` validator). ``principal`` is ``DOMAIN\\user`` or ``user@domain``.
    Wrong credentials raise :class:`InvalidCredentialsError`.
    """
    if protocol not in ("negotiate", "ntlm"):
        raise ConfigurationError(
            f"unknown protocol {protocol!r}", hint="Use 'negotiate' or 'ntlm'."
        )
    check_header_value("User-Agent", user_agent)
    return (yield from _Exchange(principal, protocol, user_agent).run(site, password))


@dataclass(frozen=True)
class _Exchange:
    """One Windows login's settings; the password travels only through :meth:`run`."""

    principal: str
    protocol: Literal["negotiate", "ntlm"]
    user_agent: str

    def _headers(self, authorization: str | None = None) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Connection": "keep-alive"}
        if authorization is not None:
            headers["Authorization"] = authorization
        return headers

    def run(self, site: Site, password: str) -> Flow[Credentials]:
        """Proxy, internal Windows module (three NTLM legs), back to the proxy with a ticket."""
        spnego = _spnego()
        start = HttpRequest("GET", site.proxy_url("hub/"), self._headers())
        response = yield start
        module_url = self._module_url(site, start, response)

        probe = HttpRequest("GET", module_url, self._headers())
        response = yield probe
        if response.status != 401:
            return (yield from self._finish(site, probe, response))
        offered = _offered(response)
        scheme = self._scheme(offered, module_url)

        try:
            context = spnego.client(
                self.principal,
                password,
                hostname=site.host,
                service="http",
                protocol=self.protocol if scheme == "Negotiate" else "ntlm",
            )
            token: bytes | None = context.step()
        except Exception as exc:  # pyspnego raises its own tree and ValueError
            raise AuthenticationError(
                f"could not start {scheme} authentication: {type(exc).__name__}",
                hint="Check the user name form (DOMAIN\\user or user@domain).",
            ) from exc
        request = probe
        for _leg in range(3):
            if token is None:
                break
            authorization = f"{scheme} {base64.b64encode(token).decode()}"
            request = HttpRequest("GET", module_url, self._headers(authorization))
            response = yield request
            challenge = _offered(response).get(scheme.lower(), "")
            if response.status != 401 or not challenge:
                break
            try:
                token = context.step(base64.b64decode(challenge))
            except Exception as exc:
                raise InvalidCredentialsError(
                    f"{scheme} authentication as {self.principal} failed ({type(exc).__name__})",
                    hint="Check the domain, user name and password.",
                ) from exc
        if response.status == 401:
            raise InvalidCredentialsError(
                f"the Windows authentication module refused {self.principal} ({scheme})",
                url=request.url,
                status=401,
                hint="Wrong user name or password, or the account is not in the domain the "
                "server trusts.",
            )
        return (yield from self._finish(site, request, response))

    def _scheme(self, offered: dict[str, str], module_url: str) -> str:
        if self.protocol == "negotiate" and "negotiate" in offered:
            return "Negotiate"
        if "ntlm" in offered:
            return "NTLM"
        if "negotiate" in offered:
            return "Negotiate"
        raise AuthenticationError(
            f"the module at {redact_url(module_url)} offers neither Negotiate nor NTLM "
            f"(offered: {', '.join(sorted(offered)) or 'nothing'})",
            hint="Windows authentication may be disabled on this virtual proxy.",
        )

    def _module_url(self, site: Site, request: HttpRequest, response: HttpResponse) -> str:
        if not response.is_redirect:
            raise LoginRedirectError(
                f"expected the proxy to redirect to its Windows authentication module, got "
                f"HTTP {response.status}",
                url=request.url,
                status=response.status,
                hint="This virtual proxy may not use Windows authentication; check the prefix.",
            )
        location = urljoin(request.url, response.location or "")
        self._check_site(site, location)
        self._refuse_forms(request, response, location)
        return location

    def _refuse_forms(self, request: HttpRequest, response: HttpResponse, location: str) -> None:
        if "internal_forms_authentication" in location.lower():
            raise LoginRedirectError(
                "the proxy offered its forms login page, not Windows authentication",
                location=location,
                url=request.url,
                status=response.status,
                hint=f"The User-Agent {self.user_agent!r} does not contain the virtual "
                "proxy's Windows authentication pattern (QMC: 'Windows authentication "
                "pattern', default 'Windows'); pass user_agent= with it.",
            )

    @staticmethod
    def _check_site(site: Site, location: str) -> None:
        if not site.owns(location):
            raise ForeignHostError(
                f"the proxy redirected to {redact_url(location)}, outside this site "
                f"({site.host}); Windows credentials are not sent there",
                url=location,
                hint="Check the proxy's authentication module settings and the host name "
                "the site is configured with.",
            )

    def _finish(
        self, site: Site, request: HttpRequest, response: HttpResponse
    ) -> Flow[Credentials]:
        location = urljoin(request.url, response.location or "") if response.is_redirect else ""
        self._refuse_forms(request, response, location)
        ticket = _ticket_in(location) if location else None
        if ticket is None:
            raise AuthenticationError(
                f"the Windows authentication module answered HTTP {response.status} without "
                "a ticket to return to the proxy",
                url=request.url,
                status=response.status,
                hint="The module should redirect back to the proxy with qlikTicket=...",
            )
        self._check_site(site, location)
        try:
            return (yield from start_session(site, hub_request(site, ticket), what="Windows login"))
        except (LoginRedirectError, CredentialsRejectedError) as exc:
            raise TicketError(
                f"the proxy did not accept the ticket its Windows module handed out on "
                f"{site.virtual_proxy_label}: {exc.message}",
                url=exc.url,
                status=exc.status,
                hint="The module and the proxy disagree (another virtual proxy or node?); "
                "check the virtual proxy's load balancing and authentication settings.",
            ) from exc
