"""What the proxy remembers: sessions, tickets, login targets, counters and faults.

All of it lives on the emulator's event loop thread; nothing here locks. The stores tell
time by the ``clock`` they are given (monotonic by default): a test hands them a manual
clock and moves it past a timeout instead of sleeping.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from qlikauth._clock import Clock, monotonic

__all__ = [
    "Counters",
    "Faults",
    "LoginTarget",
    "Session",
    "SessionLimitExceeded",
    "SessionStore",
    "TargetStore",
    "Ticket",
    "TicketStore",
]

Attributes = list[dict[str, str]]
_TICKET_ALPHABET = string.ascii_letters + string.digits + "-_."


@dataclass(eq=False)
class Session:
    """One proxy session: a user on one virtual proxy, known by its cookie value."""

    prefix: str
    session_id: str = field(repr=False)
    user_directory: str
    user_id: str
    attributes: Attributes = field(default_factory=list)
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    last_seen: float = field(default_factory=monotonic)
    anonymous: bool = False

    def struct(self) -> dict[str, Any]:
        """The QPS session struct (PascalCase, as the Session API returns it)."""
        return {
            "UserDirectory": self.user_directory,
            "UserId": self.user_id,
            "Attributes": self.attributes,
            "SessionId": self.session_id,
        }

    @property
    def user(self) -> tuple[str, str]:
        """(directory, id), compared case-insensitively as Windows does."""
        return (self.user_directory.upper(), self.user_id.upper())


class SessionLimitExceeded(Exception):
    """The user holds the maximum number of parallel proxy sessions (or more)."""

    def __init__(self, limit: int, count: int, directory: str, user_id: str) -> None:
        super().__init__(f"limit {limit}, count {count}")
        self.limit = limit
        self.count = count
        self.directory = directory
        self.user_id = user_id

    @property
    def text(self) -> str:
        """The refusal text (INFERRED; modelled on Qlik's "Access was denied ... SessionCount"
        audit log line, without the session id)."""
        return (
            f"Access denied for user '{self.directory}\\{self.user_id}': the maximum number "
            f"of parallel sessions is reached. SessionCount: '{self.count}', limit: {self.limit}."
        )


class SessionStore:
    """Proxy sessions keyed by (virtual proxy prefix, session id).

    The per-user limit counts a user's live sessions on every virtual proxy (anonymous ones
    do not count). With ``refuse_at_login`` a session beyond it is never created; without,
    it is, and :meth:`over_limit` tells the engine websocket to refuse the user.
    """

    def __init__(
        self,
        timeouts: Callable[[str], float],
        limit: int,
        *,
        refuse_at_login: bool = False,
        clock: Clock = monotonic,
    ) -> None:
        self._sessions: dict[tuple[str, str], Session] = {}
        self._timeouts = timeouts
        self._clock = clock
        self.limit = limit
        self.refuse_at_login = refuse_at_login
        self.created = 0
        #: Called with (session, reason) when a session ends: "timeout", "logout", "deleted".
        self.on_end: Callable[[Session, str], None] = lambda _s, _r: None

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)

    def count_for(self, directory: str, user_id: str) -> int:
        """Active sessions of this user on every virtual proxy (the licence counts them all)."""
        key = (directory.upper(), user_id.upper())
        return sum(1 for s in self._sessions.values() if s.user == key and not s.anonymous)

    def create(
        self,
        prefix: str,
        directory: str,
        user_id: str,
        attributes: Attributes | None = None,
        *,
        session_id: str | None = None,
        anonymous: bool = False,
    ) -> Session:
        """A new session, or (``refuse_at_login``) SessionLimitExceeded when the user holds
        the maximum already."""
        self.expire()
        count = self.count_for(directory, user_id)
        if self.refuse_at_login and not anonymous and count >= self.limit:
            raise SessionLimitExceeded(self.limit, count, directory, user_id)
        session = Session(
            prefix=prefix,
            session_id=session_id or str(uuid.uuid4()),
            user_directory=directory,
            user_id=user_id,
            attributes=list(attributes or []),
            last_seen=self._clock(),
            anonymous=anonymous,
        )
        self._sessions[(prefix, session.session_id)] = session
        self.created += 1
        return session

    def over_limit(self, session: Session) -> SessionLimitExceeded | None:
        """Why the session's user may not open an engine websocket now, if so: the user
        holds more live sessions than the limit (on any virtual proxy)."""
        if session.anonymous:
            return None
        self.expire()
        count = self.count_for(session.user_directory, session.user_id)
        if count <= self.limit:
            return None
        return SessionLimitExceeded(self.limit, count, session.user_directory, session.user_id)

    def exists(self, prefix: str, session_id: str) -> bool:
        """Whether the id is taken on that virtual proxy (expired ones are dropped first)."""
        self.expire()
        return (prefix, session_id) in self._sessions

    def get(self, prefix: str, session_id: str, *, touch: bool = True) -> Session | None:
        """The live session with this id on this virtual proxy, refreshed when ``touch``."""
        session = self._sessions.get((prefix, session_id))
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._timeouts(prefix):
            self.end(session, "timeout")
            return None
        if touch:
            session.last_seen = now
        return session

    def of_user(self, prefix: str, directory: str, user_id: str) -> list[Session]:
        """Live sessions of one user on one virtual proxy."""
        self.expire()
        key = (directory.upper(), user_id.upper())
        return [s for s in self._sessions.values() if s.prefix == prefix and s.user == key]

    def on_proxy(self, prefix: str) -> list[Session]:
        """Live sessions on one virtual proxy."""
        self.expire()
        return [s for s in self._sessions.values() if s.prefix == prefix]

    def end(self, session: Session, reason: str) -> None:
        """Remove a session and tell its websockets why."""
        if self._sessions.pop((session.prefix, session.session_id), None) is not None:
            self.on_end(session, reason)

    def expire(self) -> None:
        """Drop every session idle for longer than its virtual proxy's timeout."""
        now = self._clock()
        for session in list(self._sessions.values()):
            if now - session.last_seen > self._timeouts(session.prefix):
                self.end(session, "timeout")

    def clear(self) -> None:
        """End every session (emulator reset)."""
        for session in list(self._sessions.values()):
            self.end(session, "deleted")
        self.created = 0


@dataclass(frozen=True)
class Ticket:
    """A one-time login ticket bound to one virtual proxy."""

    prefix: str
    user_directory: str
    user_id: str
    attributes: Attributes
    expires: float


class TicketStore:
    """Single-use tickets with a lifetime (60 s by default, as Qlik)."""

    def __init__(self, ttl: float, *, clock: Clock = monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._tickets: dict[str, Ticket] = {}
        self.issued = 0
        self.consumed = 0

    def issue(self, prefix: str, directory: str, user_id: str, attributes: Attributes) -> str:
        """A new ticket value."""
        now = self._clock()
        for key, ticket in list(self._tickets.items()):
            if ticket.expires <= now:
                del self._tickets[key]
        value = "".join(secrets.choice(_TICKET_ALPHABET) for _ in range(16))
        self._tickets[value] = Ticket(prefix, directory, user_id, list(attributes), now + self.ttl)
        self.issued += 1
        return value

    def consume(self, value: str, prefix: str) -> tuple[Ticket | None, str]:
        """The ticket (now gone) or None and why: unknown, used or expired, other proxy."""
        ticket = self._tickets.get(value)
        if ticket is None:
            return None, "unknown or already used ticket"
        if ticket.expires <= self._clock():
            del self._tickets[value]
            return None, "ticket expired"
        if ticket.prefix != prefix:
            # Qlik keeps tickets per virtual proxy: another proxy does not know it at all.
            return None, "ticket issued for another virtual proxy"
        del self._tickets[value]
        self.consumed += 1
        return ticket, ""

    def clear(self) -> None:
        """Forget every ticket and count (emulator reset)."""
        self._tickets.clear()
        self.issued = 0
        self.consumed = 0


@dataclass(frozen=True)
class LoginTarget:
    """Where an unauthenticated request wanted to go, remembered under its targetId."""

    prefix: str
    uri: str
    expires: float


class TargetStore:
    """targetId -> original URI, so that a ticket issued with TargetId returns TargetUri."""

    def __init__(self, ttl: float = 600.0, *, clock: Clock = monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._targets: dict[str, LoginTarget] = {}

    def remember(self, prefix: str, uri: str) -> str:
        """A new targetId for this URI."""
        now = self._clock()
        for key, target in list(self._targets.items()):
            if target.expires <= now:
                del self._targets[key]
        target_id = str(uuid.uuid4())
        self._targets[target_id] = LoginTarget(prefix, uri, now + self.ttl)
        return target_id

    def get(self, target_id: str) -> LoginTarget | None:
        """The remembered target, if still known."""
        target = self._targets.get(target_id)
        if target is None or target.expires <= self._clock():
            return None
        return target

    def clear(self) -> None:
        """Forget every target (emulator reset)."""
        self._targets.clear()


@dataclass
class Faults:
    """Fault injection switches, set through ``POST /_emulator/faults``."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_websockets: bool = False
    truncate_downloads: bool = False

    def reset(self) -> None:
        """Switch every fault off."""
        self.latency_ms = 0.0
        self.error_rate = 0.0
        self.drop_websockets = False
        self.truncate_downloads = False

    def as_dict(self) -> dict[str, Any]:
        """The current switches as JSON."""
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "drop_websockets": self.drop_websockets,
            "truncate_downloads": self.truncate_downloads,
        }


@dataclass
class Counters:
    """Event counts not kept by the stores themselves."""

    websocket_connections: int = 0
    websockets_open: int = 0
    downloads: int = 0
    faults_injected: int = 0

    def reset(self) -> None:
        """Zero the event counts (open sockets stay counted: they are still open)."""
        self.websocket_connections = 0
        self.downloads = 0
        self.faults_injected = 0
