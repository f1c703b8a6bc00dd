"""How a refused websocket upgrade becomes a specific error (no sockets: the proxy's answers
are built as websockets would report them)."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from qlikauth.engine._transport import ConnectOptions, connect_error
from qlikauth.errors import (
    ApiError,
    CredentialsRejectedError,
    LoginRedirectError,
    TransportError,
    WebSocketRejectedError,
)

URL = "wss://qlik.example/hdr/app/abc?qlik-csrf-token=tok3n-secret"


def refused(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> InvalidStatus:
    return InvalidStatus(Response(status, "reason", Headers(headers or {}), body))


def options(**headers: str) -> ConnectOptions:
    return ConnectOptions(url=URL, headers=headers, origin="https://qlik.example")


@pytest.mark.parametrize("status", [301, 302, 303, 307])
def test_redirect_is_a_login_redirect_with_redacted_location(status: int) -> None:
    location = "https://qlik.example/internal_windows_authentication/?targetId=1&qlikTicket=T1CK3T"
    error = connect_error(refused(status, {"Location": location}), options(Cookie="a=s3ss"))
    assert isinstance(error, LoginRedirectError)
    assert error.status == status
    assert error.location is not None
    assert "internal_windows_authentication" in error.location
    text = str(error)
    for secret in ("T1CK3T", "tok3n-secret", "s3ss"):
        assert secret not in text
        assert secret not in repr(error.location)
    assert "session cookie: yes" in text


def test_403_hints_follow_what_was_sent() -> None:
    with_auth = connect_error(refused(403), options(Authorization="Bearer x.y.z"))
    assert isinstance(with_auth, WebSocketRejectedError)
    assert "Authorization" in (with_auth.hint or "")
    no_token = connect_error(
        refused(403), ConnectOptions(url="wss://qlik.example/app/abc", headers={"Cookie": "a=b"})
    )
    assert "missing" in (no_token.hint or "")
    bad_token = connect_error(refused(403), options(Cookie="a=b"))
    assert "Origin" in (bad_token.hint or "")
    assert "tok3n-secret" not in str(bad_token)


def test_other_statuses() -> None:
    assert isinstance(connect_error(refused(401), options()), CredentialsRejectedError)
    not_found = connect_error(refused(404, body=b"Not found."), options())
    assert isinstance(not_found, ApiError)
    assert not_found.status == 404
    assert "prefix" in (not_found.hint or "")


def test_refused_and_timed_out() -> None:
    refused_error = connect_error(ConnectionRefusedError(111, "refused"), options())
    assert isinstance(refused_error, TransportError)
    assert "refused" in str(refused_error)
    timeout = connect_error(TimeoutError("timed out during opening handshake"), options())
    assert isinstance(timeout, TransportError)
    assert "timed out" in str(timeout)
