"""The QPS REST API on its trusted port: tickets, sessions and users (qlik-protocol.md §1).

Every call goes to ``https://host:4243/qps/{prefix}/...`` with the site's client
certificate (mutual TLS) and a fresh Xrfkey in both the query and the ``X-Qlik-Xrfkey``
header. The layers, lowest first:

* :mod:`~qlikauth.qps.values`: tickets, proxy sessions, users and attributes;
* :mod:`~qlikauth.qps.requests`: each call's request (``*_request``) and what its answer
  means (``parse_*``), with no I/O, so authenticators build on them;
* :mod:`~qlikauth.qps.flows`: the calls as flows (generators of requests), with no I/O;
* :mod:`~qlikauth.qps.client`: :class:`QpsClient` (sync, one kept-alive connection for many
  calls) and :class:`AsyncQpsClient`, both described once.

Only reads (GET) are retried after a network failure: a retried ``POST ticket`` could
issue two tickets, and a retried ``POST session`` could count twice against the user's
session limit.
"""

from __future__ import annotations

from qlikauth.qps.client import AsyncQpsClient, QpsClient
from qlikauth.qps.flows import (
    add_session_flow,
    delete_session_flow,
    get_session_flow,
    list_sessions_flow,
    logout_user_flow,
    ticket_flow,
    user_sessions_flow,
)
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
    user_path,
    user_sessions_request,
)
from qlikauth.qps.values import (
    TICKET_LIFETIME,
    Attributes,
    ProxySession,
    Ticket,
    as_user,
    attribute_list,
    attribute_pairs,
    new_session_id,
)

__all__ = [
    "TICKET_LIFETIME",
    "AsyncQpsClient",
    "Attributes",
    "ProxySession",
    "QpsClient",
    "Ticket",
    "add_session_flow",
    "add_session_request",
    "as_user",
    "attribute_list",
    "attribute_pairs",
    "delete_session_flow",
    "delete_session_request",
    "get_session_flow",
    "get_session_request",
    "list_sessions_flow",
    "list_sessions_request",
    "logout_user_flow",
    "logout_user_request",
    "new_session_id",
    "parse_session",
    "parse_sessions",
    "parse_ticket",
    "ticket_flow",
    "ticket_request",
    "user_path",
    "user_sessions_flow",
    "user_sessions_request",
]
