"""The shared proxy-session bootstrap and the registry, driven by hand (no sockets)."""

from __future__ import annotations

import json

import pytest

from qlikauth import (
    ApiError,
    ConfigurationError,
    CredentialsRejectedError,
    LoginRedirectError,
    QlikUser,
    SessionLimitError,
    Site,
    VirtualProxy,
)
from qlikauth.auth.base import (
    bootstrap_session,
    create_authenticator,
    get_authenticator,
    session_cookie_from,
)
from qlikauth.http import HttpResponse

SITE = Site("qlik.example.com", VirtualProxy("jwt"))
ME = json.dumps({"userDirectory": "CORP", "userId": "alice", "userName": "Alice"}).encode()


def _csrf_answer(*cookies: str, status: int = 204, token: str | None = "tok") -> HttpResponse:
    headers = [("Set-Cookie", c) for c in cookies]
    if token is not None:
        headers.append(("qlik-csrf-token", token))
    return HttpResponse(status, tuple(headers))


def test_bootstrap_learns_cookie_token_and_user() -> None:
    flow = bootstrap_session(SITE, {"Authorization": "Bearer j.w.t"})
    first = next(flow)
    assert first.method == "GET"
    assert first.url == "https://qlik.example.com/jwt/qps/csrftoken"
    assert first.headers["Authorization"] == "Bearer j.w.t"
    second = flow.send(_csrf_answer("X-Qlik-Session-jwt=s3ss; Path=/; Secure; HttpOnly"))
    assert second.url == "https://qlik.example.com/jwt/qps/user"
    assert "Authorization" not in second.headers  # from now on only the cookie
    assert second.headers["Cookie"] == "X-Qlik-Session-jwt=s3ss"
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, (("Content-Type", "application/json"),), ME))
    creds = done.value.value
    assert creds.session_id == "s3ss"
    assert creds.cookie_name == "X-Qlik-Session-jwt"
    assert creds.csrf_token == "tok"
    assert creds.user == QlikUser("CORP", "alice")
    assert creds.expires_at is not None


def test_bootstrap_tolerates_releases_without_csrftoken() -> None:
    flow = bootstrap_session(SITE, {"Authorization": "Bearer x"})
    next(flow)
    flow.send(_csrf_answer("X-Qlik-Session-jwt=s", status=404, token=None))
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, body=ME))
    assert done.value.value.csrf_token is None


def test_configured_cookie_name_must_be_the_one_set() -> None:
    site = Site("h", VirtualProxy("jwt", "X-Qlik-Session-custom"))
    flow = bootstrap_session(site, {})
    next(flow)
    with pytest.raises(ConfigurationError, match="X-Qlik-Session-custom") as info:
        flow.send(_csrf_answer("X-Qlik-Session-jwt=s"))
    assert "X-Qlik-Session-jwt" in info.value.message  # says what was set instead


def test_two_session_cookies_without_a_configured_name_are_ambiguous() -> None:
    answer = _csrf_answer("X-Qlik-Session-a=1", "X-Qlik-Session-b=2")
    with pytest.raises(ConfigurationError, match="several"):
        session_cookie_from(answer, SITE)


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (HttpResponse(401, body=b"JWT signature invalid"), CredentialsRejectedError, "signature"),
        (
            HttpResponse(
                302, (("Location", "https://h:4244/internal_windows_authentication/?targetId=1"),)
            ),
            LoginRedirectError,
            "login",
        ),
        (
            HttpResponse(403, body=b"Access denied: parallel session limit, SessionCount: '5'"),
            SessionLimitError,
            "refused a new session",
        ),
        (HttpResponse(500, body=b"boom"), ApiError, "HTTP 500"),
    ],
)
def test_bootstrap_failures_are_specific(
    answer: HttpResponse, error: type[Exception], match: str
) -> None:
    flow = bootstrap_session(SITE, {"Authorization": "Bearer x"}, what="JWT login")
    next(flow)
    with pytest.raises(error, match=match):
        flow.send(answer)


def test_cookie_without_a_user_is_rejected() -> None:
    flow = bootstrap_session(SITE, {})
    next(flow)
    flow.send(_csrf_answer("X-Qlik-Session-jwt=s"))
    with pytest.raises(CredentialsRejectedError, match="no logged-in user"):
        flow.send(HttpResponse(200, body=b'{"session": "inactive"}'))


def test_unknown_authenticator_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="no authenticator named 'nope'") as info:
        get_authenticator("nope")
    assert "qlikauth.authenticators" in str(info.value)
    with pytest.raises(ConfigurationError):
        create_authenticator("nope")


def test_session_limit_carries_the_count_the_proxy_names() -> None:
    flow = bootstrap_session(SITE, {"Authorization": "Bearer x"})
    next(flow)
    refusal = HttpResponse(403, body=b"Access denied: parallel session limit, SessionCount: '5'")
    with pytest.raises(SessionLimitError) as info:
        flow.send(refusal)
    assert info.value.session_count == 5
