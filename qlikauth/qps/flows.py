"""The QPS calls as flows, with no I/O: generators that yield requests and return values.

A driver sends each request a flow yields (:func:`qlikauth.http.drivers.run_flow`, its
asyncio twin, or an authenticator's own login) and sends back the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from qlikauth.errors import HandshakeError, SessionLimitError, TransportError
from qlikauth.http.diagnosis import check_response, session_limit_refusal
from qlikauth.http.values import Flow, HttpResponse
from qlikauth.identity import QlikUser
from qlikauth.qps.requests import (
    add_session_request,
    delete_session_request,
    get_session_request,
    list_sessions_request,
    logout_user_request,
    parse_session,
    parse_sessions,
    parse_ticket,
    ticket_request,
    user_sessions_request,
)
from qlikauth.qps.values import Attributes, ProxySession, Ticket, attribute_pairs
from qlikauth.site import Site

__all__ = [
    "add_session_flow",
    "delete_session_flow",
    "get_session_flow",
    "list_sessions_flow",
    "logout_user_flow",
    "retried",
    "ticket_flow",
    "user_sessions_flow",
]

T = TypeVar("T")


def ticket_flow(
    site: Site,
    user: QlikUser,
    *,
    attributes: Attributes = None,
    target_id: str | None = None,
    xrfkey: str | None = None,
) -> Flow[Ticket]:
    """Issue one ticket: one ``POST``, never retried."""
    request = ticket_request(site, user, attributes=attributes, target_id=target_id, xrfkey=xrfkey)
    response = yield request
    return parse_ticket(response, site, user, now=time.time())


def add_session_flow(
    site: Site,
    user: QlikUser,
    session_id: str,
    *,
    attributes: Attributes = None,
    xrfkey: str | None = None,
) -> Flow[ProxySession]:
    """Inject a proxy session; QPS answers with the struct (or nothing, then ours)."""
    request = add_session_request(site, user, session_id, attributes=attributes, xrfkey=xrfkey)
    response = yield request
    _raise_for_session_limit(response, site, user)
    check_response(response, what=f"QPS session for {user}")
    session = parse_session(response, what=f"QPS session for {user}")
    if session is None or not session.session_id:
        return ProxySession(session_id, user, tuple(attribute_pairs(attributes)))
    return session


def _raise_for_session_limit(response: HttpResponse, site: Site, user: QlikUser) -> None:
    """A 403 because the user holds too many sessions becomes :class:`SessionLimitError`."""
    refused, count = session_limit_refusal(response)
    if not refused:
        return
    text = response.text.strip()
    held = f"{count} sessions" if count is not None else "too many sessions"
    raise SessionLimitError(
        f"QPS refused a new session for {user} on {site.virtual_proxy_label}: "
        f"the user holds {held} on all virtual proxies together ({text[:200]})",
        session_count=count,
        user=user,
        hint=f"Free a slot: end unused sessions (QpsClient.user_sessions('{user}') lists those "
        f"on {site.virtual_proxy_label}, delete_session(id) or logout_user('{user}') ends "
        "them; the limit counts every virtual proxy's, so do the same with a QpsClient for "
        "site.with_prefix(PREFIX) for another one), or reuse one session; sessions "
        "otherwise last until the inactivity timeout.",
    )


def get_session_flow(
    site: Site, session_id: str, *, xrfkey: str | None = None
) -> Flow[ProxySession | None]:
    """One session, or ``None`` when QPS does not know it."""
    response = yield get_session_request(site, session_id, xrfkey=xrfkey)
    return parse_session(response)


def list_sessions_flow(site: Site, *, xrfkey: str | None = None) -> Flow[list[ProxySession]]:
    """Every session on the virtual proxy."""
    response = yield list_sessions_request(site, xrfkey=xrfkey)
    return parse_sessions(response)


def delete_session_flow(
    site: Site, session_id: str, *, xrfkey: str | None = None
) -> Flow[ProxySession | None]:
    """Delete a session; ``None`` when it was already gone."""
    response = yield delete_session_request(site, session_id, xrfkey=xrfkey)
    return parse_session(response, what="QPS session delete")


def user_sessions_flow(
    site: Site, user: QlikUser, *, xrfkey: str | None = None
) -> Flow[list[ProxySession]]:
    """The user's sessions on the virtual proxy."""
    response = yield user_sessions_request(site, user, xrfkey=xrfkey)
    return parse_sessions(response, what=f"QPS sessions of {user}")


def logout_user_flow(
    site: Site, user: QlikUser, *, xrfkey: str | None = None
) -> Flow[list[ProxySession]]:
    """Log the user out of the virtual proxy; the sessions removed."""
    response = yield logout_user_request(site, user, xrfkey=xrfkey)
    return parse_sessions(response, what=f"QPS logout of {user}")


def retried(make_flow: Callable[[], Flow[T]], *, attempts: int) -> Flow[T]:
    """Run a fresh ``make_flow()`` up to ``attempts`` times while the network fails.

    Only for reads: a retried ``POST ticket`` could issue two tickets, and a retried
    ``POST session`` could count twice against the user's session limit.
    """
    for _ in range(attempts - 1):
        try:
            return (yield from make_flow())
        except (TransportError, HandshakeError):
            # A reset on the mutual-TLS port reads as a refused certificate (TLS 1.3
            # refuses after the handshake), but may be a dropped connection: reads retry.
            continue
    return (yield from make_flow())
