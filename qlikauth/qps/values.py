"""What QPS hands out and takes, as values: tickets, proxy sessions, users, attributes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias
from urllib.parse import quote

from qlikauth.destination import url_authority
from qlikauth.errors import ConfigurationError, redact_url
from qlikauth.identity import QlikUser
from qlikauth.site import Site

__all__ = [
    "TICKET_LIFETIME",
    "Attributes",
    "ProxySession",
    "Ticket",
    "as_user",
    "attribute_list",
    "attribute_pairs",
    "new_session_id",
]

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


def attribute_pairs(attributes: Attributes) -> tuple[tuple[str, str], ...]:
    """The attributes as ``(name, value)`` pairs, in order, names repeated as needed."""
    return tuple(next(iter(item.items())) for item in attribute_list(attributes))


def new_session_id() -> str:
    """A random UUID4: long and unguessable, as Qlik requires of session ids."""
    return str(uuid.uuid4())


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
        """Whether ``url`` is on one of the names the site's proxy is known by (read with
        the parser that decides :meth:`Site.owns`, so parsers cannot disagree on it)."""
        target = url_authority(url)
        if target is None or target.scheme != site.scheme:
            return False
        if isinstance(proxy_names, str):
            proxy_names = (proxy_names,)
        standard = 443 if site.scheme == "https" else 80
        for name in proxy_names:
            named = url_authority(f"{site.scheme}://{name.strip()}/")
            if named is None:
                continue
            given_port = ":" in name.strip().rsplit("]", 1)[-1]
            ports = {named.port} if given_port else {site.proxy_port, standard}
            if named.host == target.host and target.port in ports:
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
