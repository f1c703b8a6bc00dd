"""What the server means when it ends a session or refuses one: the errors it stands for.

The engine's ``OnConnected`` names a session state, the proxy's notifications say why it
ends a session (timed out, logged out, too many sessions, no licence), and a websocket can
simply close. Each becomes a specific error with a hint, here, with no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from qlikauth.engine.messages import JsonValue, SessionState
from qlikauth.errors import (
    AccessDeniedError,
    EngineClosedError,
    EngineMessageTooLargeError,
    EngineSessionError,
    MustAuthenticateError,
    QlikAuthError,
    SessionExpiredError,
    SessionLimitError,
    session_count_in,
)

__all__ = [
    "CONNECTION_LOST",
    "close_detail",
    "closed_error",
    "closed_hint",
    "must_authenticate_error",
    "proxy_notification_error",
    "quote",
    "session_state_error",
    "too_large_error",
]

#: ``LOCERR_GENERIC_CONNECTION_LOST``: the code of :class:`EngineClosedError`.
CONNECTION_LOST = 16

_MAX_QUOTED = 300

_SESSION_STATE_CODES = {state: number for number, state in enumerate(SessionState)}

_SESSION_STATE_HINTS: Mapping[SessionState, str] = {
    SessionState.ERROR_NO_LICENSE: "the user has no licence (access type); assign one in the QMC",
    SessionState.ERROR_LICENSE_RENEW: "the user's licence could not be renewed; check the QMC",
    SessionState.ERROR_LIMIT_EXCEEDED: (
        "the engine's session limit is reached; close other sessions or connect later"
    ),
    SessionState.ERROR_SECURITY_HEADER_CHANGED: (
        "the same engine session was reached with another identity or security header; "
        "do not reuse an /identity/ of another user"
    ),
    SessionState.ACCESS_CONTROL_SETUP_FAILURE: "the engine could not set up access control",
    SessionState.ERROR_APP_ACCESS_DENIED: "the user may not open this app (security rules)",
    SessionState.ERROR_APP_FAILURE: "the engine failed to load the app",
}

_SESSION_END_NOTIFICATIONS: Mapping[str, tuple[str, str]] = {
    "OnSessionClosed": (
        "the proxy session ended",
        "log in again to get a new session",
    ),
    "OnSessionLoggedOut": (
        "the proxy session was logged out (on this or another socket of the session)",
        "log in again to get a new session",
    ),
    "OnSessionTimedOut": (
        "the proxy session timed out for inactivity",
        "log in again; keep the session busy, or raise the virtual proxy's session "
        "inactivity timeout",
    ),
}

_LICENCE_NOTIFICATIONS = frozenset(
    {"OnLicenseAccessDenied", "OnLicenseAccessDeniedPendingUserSync"}
)

#: Proxy notifications that end the connection even when ``severity`` is not given.
_FATAL_NOTIFICATIONS = frozenset(
    {
        *_SESSION_END_NOTIFICATIONS,
        *_LICENCE_NOTIFICATIONS,
        "OnMaxParallelSessionsExceeded",
        "OnNoEngineAvailable",
        "OnEngineWebsocketFailed",
        "OnRepositoryWebsocketFailed",
        "OnNoRepositoryAvailable",
        "OnDataPrepServiceWebsocketFailed",
        "OnNoDataPrepServiceAvailable",
        "OnNoPrintingServiceAvailable",
        "OnExcessLicenseAssignment",
    }
)


def quote(text: str) -> str:
    """A server's text on one line, cut to a readable length, for an error message."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 3] + "..."


def closed_error(message: str, *, hint: str | None = None) -> EngineClosedError:
    """An :class:`EngineClosedError` with the engine's connection-lost code."""
    return EngineClosedError(message, code=CONNECTION_LOST, hint=hint)


def too_large_error(what: str, limit: int) -> EngineMessageTooLargeError:
    """Why ``what`` failed when the server sent a message above ``limit`` bytes."""
    return EngineMessageTooLargeError(
        f"{what}: the server sent a message larger than max_message_size "
        f"({_size_text(limit)}), so this client closed the websocket without reading it",
        code=CONNECTION_LOST,
        hint=(
            "Qlik's answers fit far below it (a page of a hypercube is a few MB): fetch "
            "smaller pages, or, for an answer that must be this big, raise max_message_size "
            "(client.engine(max_message_size=...), open_app(..., max_message_size=...) or "
            "EngineConnection.open(..., max_message_size=...); None: no limit)"
        ),
    )


def _size_text(size: int) -> str:
    return f"{size / (1 << 20):g} MiB" if size >= 1 << 20 else f"{size} bytes"


def proxy_notification_error(method: str, params: JsonValue) -> QlikAuthError | None:
    """The error a fatal proxy notification stands for, or ``None`` if it is not fatal."""
    fields = params if isinstance(params, dict) else {}
    severity = fields.get("severity")
    if method not in _FATAL_NOTIFICATIONS and severity != "fatal":
        return None
    raw = fields.get("message")
    said = f' (the proxy said: "{quote(raw)}")' if isinstance(raw, str) and raw else ""
    if method in _SESSION_END_NOTIFICATIONS:
        what, hint = _SESSION_END_NOTIFICATIONS[method]
        return SessionExpiredError(f"{what}: {method}{said}", hint=hint)
    if method == "OnMaxParallelSessionsExceeded":
        return SessionLimitError(
            f"the user holds too many proxy sessions: {method}{said}",
            session_count=session_count_in(raw) if isinstance(raw, str) else None,
            hint=(
                "reuse one session (one Credentials value) for every socket and download, "
                "log out sessions you no longer need, or wait for them to time out"
            ),
        )
    if method in _LICENCE_NOTIFICATIONS:
        return AccessDeniedError(
            f"the proxy denied access to the app: {method}{said}",
            code=5,
            parameter=method,
            engine_message=raw if isinstance(raw, str) else "",
            hint="the user has no access type (licence) available; assign one in the QMC",
        )
    return closed_error(
        f"the proxy closed the connection: {method}{said}",
        hint="the proxy could not reach a service it needs; check the Qlik services",
    )


def session_state_error(state: str) -> QlikAuthError | None:
    """The error an ``OnConnected`` ``qSessionState`` stands for, or ``None`` when usable."""
    try:
        known = SessionState(state)
    except ValueError:
        if "ERROR" not in state and "FAILURE" not in state:
            return None
        return EngineSessionError(
            f"the engine refused the session: {quote(state)}",
            code=-1,
            parameter=quote(state),
        )
    if known.ok:
        return None
    return EngineSessionError(
        f"the engine refused the session: {known.value}",
        code=_SESSION_STATE_CODES[known],
        parameter=known.value,
        hint=_SESSION_STATE_HINTS.get(known),
    )


def must_authenticate_error(fields: Mapping[str, JsonValue]) -> MustAuthenticateError | None:
    """The error ``OnAuthenticationInformation`` stands for when it says ``mustAuthenticate``."""
    if fields.get("mustAuthenticate") is not True:
        return None
    login = fields.get("loginUri")
    return MustAuthenticateError(
        "the proxy opened the websocket but says the request is not authenticated "
        "(mustAuthenticate: true)",
        login_uri=login if isinstance(login, str) else None,
        hint=(
            "the upgrade carried no valid session for this virtual proxy: log in first and "
            "send its session cookie (for the right prefix) on the upgrade"
        ),
    )


def close_detail(code: int | None, reason: str, cause: str | None) -> str:
    """`` (close code 1006, reason "...", cause)`` for a message, or nothing to say."""
    parts = []
    if code is not None:
        parts.append(f"close code {code}")
    if reason:
        parts.append(f'reason "{quote(reason)}"')
    if cause:
        parts.append(cause)
    return f" ({', '.join(parts)})" if parts else ""


def closed_hint(fatal: QlikAuthError | None) -> str:
    """The hint of a call failed by a closed connection (``fatal``: why the server ended it)."""
    if fatal is not None:
        return f"the server ended the session first: {fatal.message}"
    return "the connection failed or was closed; open a new connection and call again"
