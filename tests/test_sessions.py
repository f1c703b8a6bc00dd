"""How a proxy session starts, completes and ends: the flows driven by hand (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from qlikauth import (
    ApiError,
    CertificateBundle,
    ConfigurationError,
    CredentialsRejectedError,
    LoginRedirectError,
    QlikUser,
    SessionLimitError,
    Site,
    TlsConfig,
    TransportError,
    VirtualProxy,
)
from qlikauth.http import HttpRequest, HttpResponse
from qlikauth.http.drivers import drive
from qlikauth.pki import make_test_pki
from qlikauth.sessions import (
    complete_session,
    credential_request,
    hub_request,
    session_cookie_from,
    start_session,
)

SITE = Site("qlik.example.com", VirtualProxy("jwt"))
ME = json.dumps({"userDirectory": "CORP", "userId": "alice", "userName": "Alice"}).encode()
BEARER = {"Authorization": "Bearer j.w.t"}


def _answer(*cookies: str, status: int = 200, body: bytes = b"{}") -> HttpResponse:
    return HttpResponse(status, tuple(("Set-Cookie", c) for c in cookies), body)


def _token(status: int = 204, token: str | None = "tok") -> HttpResponse:
    return HttpResponse(status, (("qlik-csrf-token", token),) if token is not None else ())


def _query(request: HttpRequest) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def _login(site: Site = SITE, headers: dict[str, str] = BEARER) -> Generator[Any, Any, Any]:
    return start_session(site, credential_request(site, headers), what="JWT login")


def test_a_login_starts_on_an_ordinary_resource_then_asks_csrftoken_with_the_cookie() -> None:
    flow = _login()
    first = next(flow)
    assert first.method == "GET"
    assert urlsplit(first.url).path == "/jwt/qrs/about"
    assert first.headers["Authorization"] == "Bearer j.w.t"
    assert _query(first)["xrfkey"] == [first.headers["X-Qlik-Xrfkey"]]  # QRS demands both

    second = flow.send(_answer("X-Qlik-Session-jwt=s3ss; Path=/; Secure; HttpOnly"))
    assert urlsplit(second.url).path == "/jwt/qps/csrftoken"
    assert "Authorization" not in second.headers  # from now on only the cookie
    assert second.headers["Cookie"] == "X-Qlik-Session-jwt=s3ss"

    third = flow.send(_token())
    assert urlsplit(third.url).path == "/jwt/qps/user"
    assert third.headers["qlik-csrf-token"] == "tok"
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, (("Content-Type", "application/json"),), ME))
    creds = done.value.value
    assert (creds.session_id, creds.cookie_name) == ("s3ss", "X-Qlik-Session-jwt")
    assert creds.csrf_token == "tok"
    assert creds.user == QlikUser("CORP", "alice")
    assert creds.expires_at is not None


def test_a_ticket_is_redeemed_on_the_hub() -> None:
    request = hub_request(SITE, "TICKET_123")
    assert urlsplit(request.url).path == "/jwt/hub/"
    assert _query(request) == {"qlikTicket": ["TICKET_123"]}
    flow = start_session(SITE, request, what="ticket redemption")
    sent = next(flow)
    assert sent == request
    assert sent.late_answer is not None  # a late answer's session gets ended
    second = flow.send(_answer("X-Qlik-Session-jwt=t", body=b"<html>hub</html>"))
    assert urlsplit(second.url).path == "/jwt/qps/csrftoken"
    assert "qlikTicket" not in second.url


def test_a_release_without_csrftoken_needs_no_token() -> None:
    flow = _login()
    next(flow)
    flow.send(_answer("X-Qlik-Session-jwt=s"))
    whoami = flow.send(_token(404, None))
    assert "qlik-csrf-token" not in whoami.headers
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, body=ME))
    assert done.value.value.csrf_token is None


def test_a_cookie_counts_whatever_the_resource_answered() -> None:
    flow = _login()
    next(flow)
    # The proxy took the credential (it set the cookie); QRS itself refused the resource.
    second = flow.send(_answer("X-Qlik-Session-jwt=s", status=403, body=b"Forbidden"))
    assert urlsplit(second.url).path == "/jwt/qps/csrftoken"


def test_configured_cookie_name_must_be_the_one_set_and_the_stray_session_is_ended() -> None:
    site = Site("h", VirtualProxy("jwt", "X-Qlik-Session-custom"))
    flow = _login(site)
    next(flow)
    cleanup = flow.send(_answer("X-Qlik-Session-jwt=stray"))
    # No client certificate: the personal API's logout, with the cookie the proxy set.
    assert (cleanup.method, urlsplit(cleanup.url).path) == ("DELETE", "/jwt/qps/user")
    assert cleanup.headers["Cookie"] == "X-Qlik-Session-jwt=stray"
    with pytest.raises(ConfigurationError, match="X-Qlik-Session-custom") as info:
        flow.send(HttpResponse(200, body=b'{"session": "inactive"}'))
    assert "it set: X-Qlik-Session-jwt" in info.value.message
    assert "X-Qlik-Session-jwt: configure that name" in (info.value.hint or "")


def test_two_session_cookies_without_a_configured_name_are_ambiguous() -> None:
    answer = _answer("X-Qlik-Session-a=1", "X-Qlik-Session-b=2")
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
        (HttpResponse(404, body=b"Not found"), ApiError, "(?i)check the virtual proxy prefix"),
    ],
)
def test_refusals_of_the_credential_are_specific(
    answer: HttpResponse, error: type[Exception], match: str
) -> None:
    flow = _login()
    next(flow)
    with pytest.raises(error, match=match) as info:
        flow.send(answer)
    assert match.removeprefix("(?i)").lower() in str(info.value).lower()


def test_the_session_limit_refusal_carries_the_count_the_proxy_names() -> None:
    flow = _login()
    next(flow)
    refusal = HttpResponse(403, body=b"Access denied: parallel session limit, SessionCount: '5'")
    with pytest.raises(SessionLimitError) as info:
        flow.send(refusal)
    assert info.value.session_count == 5


def _after_cookie(site: Site = SITE) -> Generator[Any, Any, Any]:
    flow = _login(site)
    next(flow)
    flow.send(_answer("X-Qlik-Session-jwt=made"))
    return flow


def test_a_login_failing_after_the_cookie_ends_the_session_it_made() -> None:
    flow = _after_cookie()
    flow.send(_token())
    cleanup = flow.send(HttpResponse(200, body=b'{"session": "inactive"}'))
    assert (cleanup.method, urlsplit(cleanup.url).path) == ("DELETE", "/jwt/qps/user")
    assert cleanup.headers["Cookie"] == "X-Qlik-Session-jwt=made"
    with pytest.raises(CredentialsRejectedError, match="no logged-in user"):
        flow.send(HttpResponse(200, body=b'{"session": "inactive"}'))


def test_a_transport_failure_after_the_cookie_also_ends_the_session(tmp_path: Path) -> None:
    make_test_pki(tmp_path, ["qlik.example.com"], pfx_password="unused-Pfx-1")
    bundle = CertificateBundle.from_folder(tmp_path)
    site = Site("qlik.example.com", VirtualProxy("jwt"), tls=TlsConfig(bundle=bundle))
    flow = _after_cookie(site)
    timeout = TransportError("timed out talking to qlik.example.com:443")
    cleanup = flow.throw(timeout)  # what run_flow does when a request fails
    # With the client certificate, QPS ends exactly this one session.
    assert cleanup.method == "DELETE"
    assert urlsplit(cleanup.url).path == "/qps/jwt/session/made"
    assert urlsplit(cleanup.url).port == 4243
    with pytest.raises(TransportError, match="timed out"):
        flow.send(HttpResponse(200, body=b"{}"))


def test_ctrl_c_after_the_cookie_ends_the_session_it_made() -> None:
    flow = _after_cookie()
    cleanup = flow.throw(KeyboardInterrupt())  # what drive does when Ctrl-C lands in a step
    assert (cleanup.method, urlsplit(cleanup.url).path) == ("DELETE", "/jwt/qps/user")
    assert cleanup.headers["Cookie"] == "X-Qlik-Session-jwt=made"
    with pytest.raises(KeyboardInterrupt):
        flow.send(HttpResponse(204))


def test_the_driver_throws_ctrl_c_into_the_flow_and_performs_its_undoing() -> None:
    performed: list[str] = []

    def perform(request: HttpRequest) -> HttpResponse:
        performed.append(f"{request.method} {urlsplit(request.url).path}")
        if "/qps/csrftoken" in request.url:
            raise KeyboardInterrupt
        if request.method == "DELETE":
            return HttpResponse(204)
        return _answer("X-Qlik-Session-jwt=made; Path=/; HttpOnly; Secure")

    with pytest.raises(KeyboardInterrupt):
        drive(_login(), perform)
    assert performed[-1] == "DELETE /jwt/qps/user", performed


def test_a_failed_cleanup_does_not_hide_the_login_error() -> None:
    flow = _after_cookie()
    flow.send(_token())
    flow.send(HttpResponse(200, body=b'{"session": "inactive"}'))
    with pytest.raises(CredentialsRejectedError, match="no logged-in user"):
        flow.throw(TransportError("connection refused"))


def test_a_session_from_elsewhere_is_never_ended_by_a_failed_check() -> None:
    flow = complete_session(SITE, "X-Qlik-Session-jwt", "theirs", what="existing", owned=False)
    first = next(flow)
    assert first.headers["Cookie"] == "X-Qlik-Session-jwt=theirs"
    with pytest.raises(LoginRedirectError):
        flow.send(
            HttpResponse(302, (("Location", "https://h/internal_windows_authentication/?t"),))
        )
