"""Ticket authentication: a QPS ticket, redeemed once for a proxy session (§1.4, §2.5).

:class:`TicketAuth` is for scripts: it asks QPS (port 4243, mutual TLS, Xrfkey) for a
ticket and redeems it at once on the same virtual proxy's hub (``GET /{prefix}/hub/
?qlikTicket=...``), keeping the session cookie and the CSRF token. Authentication modules
that redirect a browser issue tickets with :meth:`qlikauth.qps.QpsClient.issue_ticket`
(the ticket and the ``TargetUri`` to send the browser to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials
from qlikauth.errors import CredentialsRejectedError, LoginRedirectError, TicketError
from qlikauth.http.values import Flow
from qlikauth.identity import QlikUser, check_attributes
from qlikauth.qps.flows import ticket_flow
from qlikauth.qps.values import Attributes, Ticket, attribute_pairs
from qlikauth.sessions import hub_request, start_session
from qlikauth.site import Site

__all__ = ["TicketAuth", "redeem_ticket_flow"]


def redeem_ticket_flow(site: Site, ticket: Ticket | str) -> Flow[Credentials]:
    """Redeem a ticket on ``site``'s virtual proxy for a session (cookie + CSRF token).

    A ticket is good once, for a minute, on the virtual proxy it was issued for; a refusal
    raises :class:`TicketError` saying which of these is likely.
    """
    value = ticket.ticket if isinstance(ticket, Ticket) else ticket
    try:
        user = ticket.user if isinstance(ticket, Ticket) else None
        request = hub_request(site, value)
        return (yield from start_session(site, request, what="ticket redemption", user=user))
    except (LoginRedirectError, CredentialsRejectedError) as exc:
        raise TicketError(
            f"the proxy did not accept the ticket on {site.virtual_proxy_label}: {exc.message}",
            url=exc.url,
            status=exc.status,
            hint=_refusal_hint(site, ticket),
        ) from exc


def _refusal_hint(site: Site, ticket: Ticket | str) -> str:
    reasons = ["a ticket is valid once: it was used before"]
    if isinstance(ticket, Ticket):
        if ticket.prefix != site.prefix:
            reasons.insert(
                0,
                f"it was issued for virtual proxy '{ticket.prefix}' and redeemed on "
                f"'{site.prefix}': redeem it where it was issued",
            )
        if ticket.expired():
            reasons.insert(0, "it is older than one minute")
    else:
        reasons.append("or it is older than one minute, or for another virtual proxy")
    return "; ".join(reasons) + ". Issue a new ticket for each login."


@dataclass(frozen=True)
class TicketAuth(Authenticator):
    """Log in with a QPS ticket (needs the site's client certificate for port 4243).

    ``attributes`` become ticket attributes (e.g. ``{"Group": ["Sales"]}``); the proxy
    passes them on to apps as ``X-Qlik-Security``.
    """

    name: ClassVar[str] = "ticket"

    user: str
    directory: str
    attributes: Attributes = ()

    def __post_init__(self) -> None:
        pairs = attribute_pairs(self.attributes)
        check_attributes(pairs)
        object.__setattr__(self, "attributes", pairs)
        QlikUser(self.directory, self.user)  # raises on empty or backslash values

    @property
    def qlik_user(self) -> QlikUser:
        """The user the ticket is for."""
        return QlikUser(self.directory, self.user)

    def login(self, site: Site) -> Flow[Credentials]:
        """Issue a ticket on the site's virtual proxy and redeem it there at once."""
        ticket = yield from ticket_flow(site, self.qlik_user, attributes=self.attributes)
        return (yield from redeem_ticket_flow(site, ticket))
