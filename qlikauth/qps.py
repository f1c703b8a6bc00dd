"""The QPS REST API on its trusted port: tickets, sessions and users (qlik-protocol.md §1).

Every call goes to ``https://host:4243/qps/{prefix}/...`` with the site's client
certificate (mutual TLS) and a fresh Xrfkey in both the query and the ``X-Qlik-Xrfkey``
header. The requests are built and the answers read by small pure functions
(``*_request`` / ``parse_*``) joined into flows, so the same code runs under
:class:`QpsClient` (sync, one kept-alive connection for many calls),
:class:`AsyncQpsClient`, and the authenticators' own login flows.

Only reads (GET) are retried after a network failure: a retried ``POST ticket`` could
issue two tickets, and a retried ``POST session`` could count twice against the user's
session limit.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit

from qlikauth.credentials import QlikUser
from qlikauth.errors import (
    ApiError,
    ConfigurationError,
    HandshakeError,
    SessionLimitError,
    TicketError,
    TransportError,
    XrfkeyRejectedError,
    redact_url,
)
from qlikauth.http import (
    Flow,
    HttpRequest,
    HttpResponse,
    HttpTransport,
    check_response,
    run_flow,
    run_flow_async,
    session_limit_refusal,
    with_xrfkey,
)
from qlikauth.site import Site

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

T = TypeVar("T")

#: How long a ticket stays valid on the proxy (one minute, single use).
TICKET_LIFETIME = 60.0

#: Ticket or session attributes: ``{"Group": ["Sales", "EU"], "Email": "a@b"}`` or pairs
#: ``[("Group", "Sales"), ("Group", "EU")]``; keys may repeat, values may be empty.
Attributes: TypeAlias = Mapping[str, "str | Sequence[str]"] | Iterable[tuple[str, str]] | None


def as_user(user: QlikUser | str, directory: str | None = None) -> QlikUser:
    """A :class:`QlikUser` from a user, ``DIR\\user``, or a user id plus ``directory``."""
    if isinstance(user, QlikUser):
        return user
    if directory is not None:
        return QlikUser(directory, user)
    return QlikUser.parse(user)


def attribute_list(attributes: Attributes) -> list[dict[str, str]]:
    """Qlik's attribute form: a list of one-key objects, keys repeated as needed."""
    if attributes is None:
        return []
    pairs: list[tuple[str, str]] = []
    if isinstance(attributes, Mapping):
        for key, value in attributes.items():
            if isinstance(value, str):
                pairs.append((key, value))
            else:
                pairs.extend((key, v) for v in value)
    else:
        pairs = [(str(k), str(v)) for k, v in attributes]
    for key, value in pairs:
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise ConfigurationError(
                f"invalid attribute {key!r}",
                hint="Attributes are name/value strings, e.g. {'Group': ['Sales', 'EU']}.",
            )
    return [{key: value} for key, value in pairs]


def new_session_id() -> str:
    """A random UUID4: long and unguessable, as Qlik requires of session ids."""
    return str(uuid.uuid4())


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


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Ticket:
    """A one-time ticket from QPS, valid for one minute on the virtual proxy it was made for.

    ``target_uri`` is where to send the browser (with ``qlikTicket=`` appended) when the
    request named a ``TargetId``. Its repr hides the ticket.
    """

    ticket: str = field(repr=False)
    target_uri: str | None
    user: QlikUser
    expires_at: float
    prefix: str = ""
    attributes: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        target = redact_url(self.target_uri) if self.target_uri else None
        return (
            f"Ticket(ticket='[secure]', user={str(self.user)!r}, prefix={self.prefix!r}, "
            f"target_uri={target!r}, expires_at={self.expires_at:.0f})"
        )

    __str__ = __repr__

    def expired(self, *, now: float | None = None) -> bool:
        """Whether the proxy no longer accepts the ticket."""
        return (time.time() if now is None else now) >= self.expires_at

    def redirect_url(self, site: Site, *, proxy_names: Iterable[str] = ()) -> str:
        """Where to send a browser: ``TargetUri`` (or the hub) with ``qlikTicket=``.

        The target must be on the site's own proxy, or name one of ``proxy_names``: the
        names users know the proxy by (a load balancer, a DNS alias), as ``host`` (the
        proxy's port or the scheme's standard one) or ``host:port``, over the site's scheme.
        """
        base = self.target_uri or site.with_prefix(self.prefix).proxy_url("hub/")
        if not (site.owns(base) or self._on_proxy_name(base, site, proxy_names)):
            raise ConfigurationError(
                f"the ticket's target {redact_url(base)} is not on this site ({site.origin})",
                hint="Redirect only to the site's own proxy or to a name it is known by "
                "(proxy_names); a TargetId from another server cannot be used here.",
            )
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}qlikTicket={quote(self.ticket, safe='')}"

    @staticmethod
    def _on_proxy_name(url: str, site: Site, proxy_names: Iterable[str]) -> bool:
        """Whether ``url`` is on one of the names the site's proxy is known by."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme != site.scheme or not parts.hostname or parts.username or parts.password:
            return False
        if isinstance(proxy_names, str):
            proxy_names = (proxy_names,)
        standard = 443 if site.scheme == "https" else 80
        for name in proxy_names:
            try:
                named = urlsplit(f"//{name.strip()}")
                named_port = named.port
            except ValueError:
                continue
            ports = {named_port} if named_port else {site.proxy_port, standard}
            if named.hostname == parts.hostname.lower() and (port or standard) in ports:
                return True
        return False


@dataclass(frozen=True)
class ProxySession:
    """A proxy session as QPS describes it; the repr hides the session id."""

    session_id: str = field(repr=False)
    user: QlikUser | None
    attributes: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        user = str(self.user) if self.user is not None else None
        return f"ProxySession(session_id='[secure]', user={user!r})"

    __str__ = __repr__


# --------------------------------------------------------------------------- requests


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


# --------------------------------------------------------------------------- answers


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


# --------------------------------------------------------------------------- flows


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
        f"the user holds {held} ({text[:200]})",
        session_count=count,
        user=user,
        hint=f"Free a slot: end unused sessions (QpsClient.user_sessions('{user}') lists them, "
        f"delete_session(id) or logout_user('{user}') ends them), or reuse one session; "
        "sessions otherwise last until the inactivity timeout.",
    )


def attribute_pairs(attributes: Attributes) -> tuple[tuple[str, str], ...]:
    """The attributes as ``(name, value)`` pairs, in order, names repeated as needed."""
    return tuple(next(iter(item.items())) for item in attribute_list(attributes))


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


# --------------------------------------------------------------------------- clients


class _QpsBase:
    def __init__(
        self, site: Site, *, transport: HttpTransport | None = None, retries: int = 2
    ) -> None:
        self.site = site
        self._own_transport = transport is None
        self.transport = transport or HttpTransport(site)
        self.retries = retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.site.host!r}, prefix={self.site.prefix!r})"


class QpsClient(_QpsBase):
    """The QPS REST API for one site, over one kept-alive mutual-TLS connection.

    The virtual proxy is the site's (``for_prefix`` gives a client for another one that
    shares the connection). Thread-safe; close it (or use ``with``) when done.
    """

    def for_prefix(self, prefix: str) -> QpsClient:
        """A client for another virtual proxy of the same site, sharing the connection."""
        client = QpsClient(self.site.with_prefix(prefix), transport=self.transport)
        client.retries = self.retries
        client._own_transport = False
        return client

    def run(self, make_flow: Callable[[], Flow[T]], *, safe: bool = False) -> T:
        """Run a flow; a ``safe`` (read-only) one is retried after a network failure."""
        attempts = 1 + (self.retries if safe else 0)
        for attempt in range(attempts):
            try:
                return run_flow(make_flow(), self.transport)
            except (TransportError, HandshakeError):
                # A reset on the mutual-TLS port reads as a refused certificate (TLS 1.3
                # refuses after the handshake), but may be a dropped connection: reads retry.
                if attempt + 1 >= attempts:
                    raise
        raise AssertionError("unreachable")

    def issue_ticket(
        self,
        user: QlikUser | str,
        *,
        attributes: Attributes = None,
        target_id: str | None = None,
    ) -> Ticket:
        """A one-time ticket for ``user`` (``QlikUser`` or ``DIR\\user``); never retried."""
        who = as_user(user)
        return self.run(
            lambda: ticket_flow(self.site, who, attributes=attributes, target_id=target_id)
        )

    def add_session(
        self,
        user: QlikUser | str,
        *,
        attributes: Attributes = None,
        session_id: str | None = None,
    ) -> ProxySession:
        """Inject a proxy session (a random UUID4 id unless one is given)."""
        who, sid = as_user(user), session_id or new_session_id()
        return self.run(lambda: add_session_flow(self.site, who, sid, attributes=attributes))

    def get_session(self, session_id: str) -> ProxySession | None:
        """One session, or ``None``."""
        return self.run(lambda: get_session_flow(self.site, session_id), safe=True)

    def list_sessions(self) -> list[ProxySession]:
        """Every session of the virtual proxy."""
        return self.run(lambda: list_sessions_flow(self.site), safe=True)

    def delete_session(self, session_id: str) -> ProxySession | None:
        """End a session and free its slot; ``None`` when it was already gone."""
        return self.run(lambda: delete_session_flow(self.site, session_id))

    def user_sessions(self, user: QlikUser | str) -> list[ProxySession]:
        """The sessions ``user`` holds on the virtual proxy."""
        who = as_user(user)
        return self.run(lambda: user_sessions_flow(self.site, who), safe=True)

    def logout_user(self, user: QlikUser | str) -> list[ProxySession]:
        """Log ``user`` out of the virtual proxy; the sessions that were removed."""
        who = as_user(user)
        return self.run(lambda: logout_user_flow(self.site, who))

    def close(self) -> None:
        """Close the connection (only when this client opened it)."""
        if self._own_transport:
            self.transport.close()

    def __enter__(self) -> QpsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncQpsClient(_QpsBase):
    """The asyncio twin of :class:`QpsClient`: the same flows, the same connection reuse."""

    def for_prefix(self, prefix: str) -> AsyncQpsClient:
        """A client for another virtual proxy of the same site, sharing the connection."""
        client = AsyncQpsClient(self.site.with_prefix(prefix), transport=self.transport)
        client.retries = self.retries
        client._own_transport = False
        return client

    async def run(self, make_flow: Callable[[], Flow[T]], *, safe: bool = False) -> T:
        """Run a flow; a ``safe`` (read-only) one is retried after a network failure."""
        attempts = 1 + (self.retries if safe else 0)
        for attempt in range(attempts):
            try:
                return await run_flow_async(make_flow(), self.transport)
            except (TransportError, HandshakeError):
                # A reset on the mutual-TLS port reads as a refused certificate (TLS 1.3
                # refuses after the handshake), but may be a dropped connection: reads retry.
                if attempt + 1 >= attempts:
                    raise
        raise AssertionError("unreachable")

    async def issue_ticket(
        self,
        user: QlikUser | str,
        *,
        attributes: Attributes = None,
        target_id: str | None = None,
    ) -> Ticket:
        """A one-time ticket for ``user``; never retried."""
        who = as_user(user)
        return await self.run(
            lambda: ticket_flow(self.site, who, attributes=attributes, target_id=target_id)
        )

    async def add_session(
        self,
        user: QlikUser | str,
        *,
        attributes: Attributes = None,
        session_id: str | None = None,
    ) -> ProxySession:
        """Inject a proxy session (a random UUID4 id unless one is given)."""
        who, sid = as_user(user), session_id or new_session_id()
        return await self.run(lambda: add_session_flow(self.site, who, sid, attributes=attributes))

    async def get_session(self, session_id: str) -> ProxySession | None:
        """One session, or ``None``."""
        return await self.run(lambda: get_session_flow(self.site, session_id), safe=True)

    async def list_sessions(self) -> list[ProxySession]:
        """Every session of the virtual proxy."""
        return await self.run(lambda: list_sessions_flow(self.site), safe=True)

    async def delete_session(self, session_id: str) -> ProxySession | None:
        """End a session and free its slot."""
        return await self.run(lambda: delete_session_flow(self.site, session_id))

    async def user_sessions(self, user: QlikUser | str) -> list[ProxySession]:
        """The sessions ``user`` holds on the virtual proxy."""
        who = as_user(user)
        return await self.run(lambda: user_sessions_flow(self.site, who), safe=True)

    async def logout_user(self, user: QlikUser | str) -> list[ProxySession]:
        """Log ``user`` out of the virtual proxy."""
        who = as_user(user)
        return await self.run(lambda: logout_user_flow(self.site, who))

    async def aclose(self) -> None:
        """Close the connection (only when this client opened it)."""
        if self._own_transport:
            self.transport.close()

    async def __aenter__(self) -> AsyncQpsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
