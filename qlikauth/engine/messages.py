"""What the engine protocol speaks in: JSON types, handles, session states, requests, events.

:class:`~qlikauth.engine.protocol.EngineProtocol` turns calls into :class:`Request` values
and the server's texts into events (:data:`Event`); the drivers act on the events.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from qlikauth.errors import QlikAuthError

__all__ = [
    "GLOBAL_HANDLE",
    "GLOBAL_INTERFACE",
    "CallFailed",
    "CallSucceeded",
    "Event",
    "GreetingCompleted",
    "GreetingFailed",
    "HandleEventKind",
    "HandleInfo",
    "HandleState",
    "HandlesChanged",
    "HandlesClosed",
    "HandlesSuspended",
    "JsonObject",
    "JsonValue",
    "Listener",
    "NotificationReceived",
    "ObjectInterface",
    "Params",
    "Request",
    "SessionEnded",
    "SessionState",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"
#: Call parameters: by name (a mapping) or by position (a sequence); values JSON-serialisable.
Params: TypeAlias = "Mapping[str, object] | Sequence[object]"

#: What the engine's lists say about a handle: listeners subscribe to one of these.
HandleEventKind: TypeAlias = Literal["changed", "closed", "suspended"]
#: A handle listener: called with no arguments.
Listener: TypeAlias = Callable[[], object]

#: The Global object's handle (not 0, whatever some libraries say).
GLOBAL_HANDLE = -1


class SessionState(enum.StrEnum):
    """``qSessionState`` of the ``OnConnected`` greeting."""

    CREATED = "SESSION_CREATED"
    ATTACHED = "SESSION_ATTACHED"
    ERROR_NO_LICENSE = "SESSION_ERROR_NO_LICENSE"
    ERROR_LICENSE_RENEW = "SESSION_ERROR_LICENSE_RENEW"
    ERROR_LIMIT_EXCEEDED = "SESSION_ERROR_LIMIT_EXCEEDED"
    ERROR_SECURITY_HEADER_CHANGED = "SESSION_ERROR_SECURITY_HEADER_CHANGED"
    ACCESS_CONTROL_SETUP_FAILURE = "SESSION_ACCESS_CONTROL_SETUP_FAILURE"
    ERROR_APP_ACCESS_DENIED = "SESSION_ERROR_APP_ACCESS_DENIED"
    ERROR_APP_FAILURE = "SESSION_ERROR_APP_FAILURE"

    @property
    def ok(self) -> bool:
        """True for a usable session (created or attached)."""
        return self in (SessionState.CREATED, SessionState.ATTACHED)


class HandleState(enum.Enum):
    """Where a handle stands, per the ``change``/``close``/``suspend`` lists."""

    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"


@dataclass(frozen=True)
class ObjectInterface:
    """A handle the engine returned (``qReturn``): handle, type and generic id."""

    handle: int
    type: str
    generic_type: str = ""
    generic_id: str = ""

    @classmethod
    def from_json(cls, value: JsonValue) -> ObjectInterface | None:
        """Read an ``ObjectInterface`` (``qHandle`` + ``qType``), or ``None`` if it is not one."""
        if not isinstance(value, dict):
            return None
        handle = value.get("qHandle")
        qtype = value.get("qType")
        if not isinstance(handle, int) or isinstance(handle, bool) or not isinstance(qtype, str):
            return None
        generic_type = value.get("qGenericType")
        generic_id = value.get("qGenericId")
        return cls(
            handle=handle,
            type=qtype,
            generic_type=generic_type if isinstance(generic_type, str) else "",
            generic_id=generic_id if isinstance(generic_id, str) else "",
        )


GLOBAL_INTERFACE = ObjectInterface(handle=GLOBAL_HANDLE, type="Global")


@dataclass
class HandleInfo:
    """One row of the handle table."""

    interface: ObjectInterface
    state: HandleState = HandleState.OPEN


@dataclass(frozen=True)
class Request:
    """A request ready for the wire: ``text`` is what to send."""

    id: int
    handle: int
    method: str
    text: str


@dataclass(frozen=True)
class CallSucceeded:
    """The answer to request ``request_id``."""

    request_id: int
    method: str
    handle: int
    result: JsonObject


@dataclass(frozen=True)
class CallFailed:
    """Request ``request_id`` failed: the engine said no, or the socket closed."""

    request_id: int
    method: str
    handle: int
    error: QlikAuthError


@dataclass(frozen=True)
class NotificationReceived:
    """A push notification (no ``id``), greeting ones included."""

    method: str
    params: JsonValue


@dataclass(frozen=True)
class HandlesChanged:
    """The engine listed these handles as changed (their layout is stale)."""

    handles: tuple[int, ...]


@dataclass(frozen=True)
class HandlesClosed:
    """The engine closed these handles; their objects are gone."""

    handles: tuple[int, ...]


@dataclass(frozen=True)
class HandlesSuspended:
    """The engine suspended these handles."""

    handles: tuple[int, ...]


@dataclass(frozen=True)
class GreetingCompleted:
    """The greeting ended well; ``session_state`` is ``None`` if no ``OnConnected`` came."""

    session_state: SessionState | None


@dataclass(frozen=True)
class GreetingFailed:
    """The greeting ended badly; the driver closes the socket and raises ``error``."""

    error: QlikAuthError


@dataclass(frozen=True)
class SessionEnded:
    """After the greeting, the server said the session is over; the driver closes the socket."""

    error: QlikAuthError


Event: TypeAlias = (
    "CallSucceeded | CallFailed | NotificationReceived | HandlesChanged | HandlesClosed"
    " | HandlesSuspended | GreetingCompleted | GreetingFailed | SessionEnded"
)
