"""The QPS API on the wire, with no I/O: each call's request, and what its answer means.

Every call goes to ``https://host:4243/qps/{prefix}/...`` with a fresh Xrfkey in both the
query and the ``X-Qlik-Xrfkey`` header (qlik-protocol.md §1). The builders (``*_request``)
and readers (``parse_*``) are pure, so the QPS clients and the authenticators' own login
flows share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from qlikauth.errors import ApiError, ConfigurationError, TicketError, XrfkeyRejectedError
from qlikauth.http.diagnosis import check_response
from qlikauth.http.values import HttpRequest, HttpResponse, with_xrfkey
from qlikauth.identity import QlikUser
from qlikauth.qps.values import TICKET_LIFETIME, Attributes, ProxySession, Ticket, attribute_list
from qlikauth.site import Site

__all__ = [
    "add_session_request",
    "delete_session_request",
    "get_session_request",
    "list_sessions_request",
    "logout_user_request",
    "parse_session",
    "parse_sessions",
    "parse_ticket",
    "ticket_request",
    "user_path",
    "user_sessions_request",
]


def _field(data: Mapping[str, Any], name: str) -> Any:
    """A field read case-insensitively (Qlik answers PascalCase; some clients camelCase)."""
    if name in data:
        return data[name]
    lname = name.lower()
    return next((v for k, v in data.items() if k.lower() == lname), None)


def _attributes_from(raw: Any) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping):
                out.extend((str(k), "" if v is None else str(v)) for k, v in item.items())
    return tuple(out)


def _json_object(response: HttpResponse, what: str) -> Any:
    if not response.body.strip():
        return None
    data = response.json()
    if not isinstance(data, dict | list):
        raise ApiError(
            f"{what}: unexpected answer from QPS ({type(data).__name__})",
            status=response.status,
            body=response.text,
            url=response.url,
        )
    return data


def user_path(user: QlikUser) -> str:
    """``user/{directory}/{id}``, URL-encoded: the QPS user API path."""
    return f"user/{quote(user.directory, safe='')}/{quote(user.user_id, safe='')}"


def _qps(
    method: str, site: Site, path: str, payload: Any = None, xrfkey: str | None = None
) -> HttpRequest:
    url = site.qps_url(path)
    if payload is None:
        request = HttpRequest(method, url, {"Accept": "application/json"})
    else:
        request = HttpRequest.json(method, url, payload, {"Accept": "application/json"})
    return with_xrfkey(request, xrfkey)


def ticket_request(
    site: Site,
    user: QlikUser,
    *,
    attributes: Attributes = None,
    target_id: str | None = None,
    xrfkey: str | None = None,
) -> HttpRequest:
    """``POST /qps/{prefix}/ticket`` for ``user`` (a fresh Xrfkey unless one is given)."""
    payload: dict[str, Any] = {
        "UserDirectory": user.directory,
        "UserId": user.user_id,
        "Attributes": attribute_list(attributes),
    }
    if target_id:
        payload["TargetId"] = target_id
    return _qps("POST", site, "ticket", payload, xrfkey)


def add_session_request(
    site: Site,
    user: QlikUser,
    session_id: str,
    *,
    attributes: Attributes = None,
    xrfkey: str | None = None,
) -> HttpRequest:
    """``POST /qps/{prefix}/session``: inject a proxy session with id ``session_id``."""
    payload = {
        "UserDirectory": user.directory,
        "UserId": user.user_id,
        "Attributes": attribute_list(attributes),
        "SessionId": session_id,
    }
    return _qps("POST", site, "session", payload, xrfkey)


def get_session_request(site: Site, session_id: str, *, xrfkey: str | None = None) -> HttpRequest:
    """``GET /qps/{prefix}/session/{id}``."""
    return _qps("GET", site, f"session/{quote(session_id, safe='')}", xrfkey=xrfkey)


def list_sessions_request(site: Site, *, xrfkey: str | None = None) -> HttpRequest:
    """``GET /qps/{prefix}/session``: every session of the virtual proxy."""
    return _qps("GET", site, "session", xrfkey=xrfkey)


def delete_session_request(
    site: Site, session_id: str, *, xrfkey: str | None = None
) -> HttpRequest:
    """``DELETE /qps/{prefix}/session/{id}``: end the session and free its slot."""
    return _qps("DELETE", site, f"session/{quote(session_id, safe='')}", xrfkey=xrfkey)


def user_sessions_request(site: Site, user: QlikUser, *, xrfkey: str | None = None) -> HttpRequest:
    """``GET /qps/{prefix}/user/{directory}/{id}``: the user's sessions."""
    return _qps("GET", site, user_path(user), xrfkey=xrfkey)


def logout_user_request(site: Site, user: QlikUser, *, xrfkey: str | None = None) -> HttpRequest:
    """``DELETE /qps/{prefix}/user/{directory}/{id}``: log the user out of the virtual proxy."""
    return _qps("DELETE", site, user_path(user), xrfkey=xrfkey)


def parse_ticket(response: HttpResponse, site: Site, user: QlikUser, *, now: float) -> Ticket:
    """The :class:`Ticket` in a ``POST ticket`` answer; errors name Qlik's reason."""
    try:
        check_response(response, what=f"QPS ticket for {user}")
    except XrfkeyRejectedError:
        raise
    except ApiError as exc:
        if 400 <= response.status < 500:
            raise TicketError(
                f"QPS refused a ticket for {user} on {site.virtual_proxy_label}: "
                f"HTTP {response.status} {response.text.strip()[:300]}",
                url=response.url,
                status=response.status,
                hint=_ticket_hint(response.status),
            ) from exc
        raise
    data = _json_object(response, "QPS ticket")
    ticket = _field(data, "Ticket") if isinstance(data, Mapping) else None
    if not isinstance(ticket, str) or not ticket:
        raise TicketError(
            f"QPS answered {response.status} to a ticket request for {user} but sent no ticket",
            url=response.url,
            status=response.status,
            hint="Check that port the site calls QPS on is really the QPS API (4243).",
        )
    assert isinstance(data, Mapping)
    target = _field(data, "TargetUri")
    return Ticket(
        ticket=ticket,
        target_uri=str(target) if target else None,
        user=user,
        expires_at=now + TICKET_LIFETIME,
        prefix=site.prefix,
        attributes=_attributes_from(_field(data, "Attributes")),
    )


def _ticket_hint(status: int) -> str:
    if status == 404:
        return (
            "QPS does not know this virtual proxy prefix: check the prefix (it goes after "
            "/qps/ on port 4243) and that the virtual proxy is linked to this proxy."
        )
    return (
        "UserDirectory and UserId may not be empty or contain a backslash; attributes are "
        "name/value pairs. Qlik's message above names the field."
    )


def parse_session(response: HttpResponse, *, what: str = "QPS session") -> ProxySession | None:
    """The session struct in an answer; ``None`` for 404 (no such session)."""
    if response.status == 404:
        return None
    check_response(response, what=what)
    data = _json_object(response, what)
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, Mapping):
        return None
    return _session_from(data)


def parse_sessions(response: HttpResponse, *, what: str = "QPS sessions") -> list[ProxySession]:
    """The list of session structs in an answer.

    A 404 is an error, not "no sessions": QPS answers ``[]`` for a user without sessions, and
    404 when it knows no virtual proxy with that prefix.
    """
    check_response(response, what=what)
    data = _json_object(response, what)
    if data is None:
        return []
    items = data if isinstance(data, list) else [data]
    return [_session_from(item) for item in items if isinstance(item, Mapping)]


def _session_from(data: Mapping[str, Any]) -> ProxySession:
    directory, user_id = _field(data, "UserDirectory"), _field(data, "UserId")
    user = None
    if isinstance(directory, str) and isinstance(user_id, str) and directory and user_id:
        try:
            user = QlikUser(directory, user_id)
        except ConfigurationError:
            user = None
    return ProxySession(
        session_id=str(_field(data, "SessionId") or ""),
        user=user,
        attributes=_attributes_from(_field(data, "Attributes")),
    )
