"""The client's operations driven by hand: no sockets, each step answered by the test."""

from __future__ import annotations

from typing import Any

import pytest

from qlikauth.client.ops import (
    authed,
    build_url,
    download_op,
    engine_op,
    rest_request,
    whoami_op,
)
from qlikauth.client.state import ClientState
from qlikauth.client.steps import Download, Login, OpenEngine
from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.errors import (
    ConfigurationError,
    CredentialsRejectedError,
    ForeignHostError,
    LoginRedirectError,
    SessionLimitError,
    WebSocketRejectedError,
)
from qlikauth.http import HttpRequest, HttpResponse
from qlikauth.site import Site, VirtualProxy
from qlikauth.testing.clock import ManualClock

SITE = Site("qlik.example.com", VirtualProxy("hdr", "X-Qlik-Session-hdr"))
USER = QlikUser("CORP", "alice")


def creds(session_id: str, **extra: Any) -> Credentials:
    return Credentials(
        route=Route.PROXY,
        user=USER,
        cookies={"X-Qlik-Session-hdr": session_id},
        cookie_name="X-Qlik-Session-hdr",
        csrf_token="csrf-" + session_id,
        **extra,
    )


LOGIN_REDIRECT = HttpResponse(
    302,
    (("Location", "https://qlik.example.com:4244/internal_windows_authentication/?targetId=x"),),
)
OK = HttpResponse(200, (("Content-Type", "application/json"),), b'{"ok": true}')


def get_about(c: Credentials) -> HttpRequest:
    return HttpRequest("GET", SITE.proxy_url("qrs/about"), c.http_headers())


def test_authed_sends_the_cached_credentials_and_returns_the_answer() -> None:
    op = authed(SITE, get_about)
    assert next(op) == Login()
    request = op.send(creds("one"))
    assert isinstance(request, HttpRequest)
    assert request.headers["Cookie"] == "X-Qlik-Session-hdr=one"
    with pytest.raises(StopIteration) as done:
        op.send(OK)
    assert done.value.value is OK


def test_authed_logs_in_once_after_a_login_redirect_and_resends() -> None:
    op = authed(SITE, get_about)
    first = creds("one")
    next(op)
    op.send(first)
    step = op.send(LOGIN_REDIRECT)
    assert step == Login(stale=first)
    resent = op.send(creds("two"))
    assert isinstance(resent, HttpRequest)
    assert resent.headers["Cookie"] == "X-Qlik-Session-hdr=two"
    with pytest.raises(StopIteration) as done:
        op.send(OK)
    assert done.value.value is OK


def test_authed_raises_the_login_redirect_when_the_fresh_session_is_refused_too() -> None:
    op = authed(SITE, get_about)
    next(op)
    op.send(creds("one"))
    op.send(LOGIN_REDIRECT)
    op.send(creds("two"))
    with pytest.raises(LoginRedirectError) as err:
        op.send(LOGIN_REDIRECT)
    assert "X-Qlik-Session-hdr" in str(err.value)
    assert "two" not in str(err.value)


def test_authed_a_second_401_is_credentials_rejected() -> None:
    op = authed(SITE, get_about)
    next(op)
    op.send(creds("one"))
    assert op.send(HttpResponse(401, body=b"no")) == Login(stale=creds("one"))
    op.send(creds("two"))
    with pytest.raises(CredentialsRejectedError, match="401"):
        op.send(HttpResponse(401, body=b"no"))


def test_authed_does_not_retry_an_xrfkey_403_or_a_404() -> None:
    for answer in (
        HttpResponse(403, body=b"XSRF prevention check failed. Possible XSRF discovered."),
        HttpResponse(404, body=b"Not found."),
        HttpResponse(302, (("Location", "https://qlik.example.com/hdr/hub/"),)),
    ):
        op = authed(SITE, get_about)
        next(op)
        op.send(creds("one"))
        with pytest.raises(StopIteration) as done:
            op.send(answer)
        assert done.value.value is answer


def test_authed_retries_a_csrf_403() -> None:
    op = authed(SITE, get_about)
    next(op)
    op.send(creds("one"))
    step = op.send(HttpResponse(403, body=b"CSRF token missing or invalid"))
    assert isinstance(step, Login)
    assert step.stale is not None


def test_whoami_treats_an_inactive_personal_api_answer_as_a_refusal() -> None:
    op = whoami_op(SITE)
    next(op)
    request = op.send(creds("one"))
    assert isinstance(request, HttpRequest)
    assert request.url == "https://qlik.example.com/hdr/qps/user"
    inactive = HttpResponse(200, (("Content-Type", "application/json"),), b'{"session":"inactive"}')
    assert isinstance(op.send(inactive), Login)
    op.send(creds("two"))
    user = HttpResponse(
        200,
        (("Content-Type", "application/json"),),
        b'{"userDirectory":"CORP","userId":"alice","userName":"Alice"}',
    )
    with pytest.raises(StopIteration) as done:
        op.send(user)
    assert done.value.value == USER


def test_whoami_direct_is_the_certificate_user_without_a_request() -> None:
    op = whoami_op(SITE)
    next(op)
    direct = Credentials(route=Route.DIRECT, user=USER, headers={"X-Qlik-User": "x"})
    with pytest.raises(StopIteration) as done:
        op.send(direct)
    assert done.value.value == USER


def test_engine_call_relogs_in_once_on_a_websocket_refusal() -> None:
    op = engine_op(core(), {"app_id": "a"})
    next(op)
    call = op.send(creds("one"))
    assert isinstance(call, OpenEngine)
    assert call.options == {"app_id": "a"}
    assert call.credentials.session_id == "one"
    step = op.throw(WebSocketRejectedError("403 CSWSH"))
    assert step == Login(stale=creds("one"))
    again = op.send(creds("two"))
    assert isinstance(again, OpenEngine)
    assert again.credentials.session_id == "two"
    with pytest.raises(WebSocketRejectedError):
        op.throw(WebSocketRejectedError("403 again"))


def test_download_retries_only_when_the_session_ended() -> None:
    live = _download("/tempcontent/x/f.csv", "f.csv")
    next(live)
    assert isinstance(live.send(creds("one")), Download)
    with pytest.raises(LoginRedirectError, match="wrong user"):
        live.throw(LoginRedirectError("refused: wrong user", session_valid=True))

    ended = _download("/tempcontent/x/f.csv", "f.csv")
    next(ended)
    ended.send(creds("one"))
    step = ended.throw(LoginRedirectError("refused", session_valid=False))
    assert isinstance(step, Login)
    assert step.stale is not None


def test_urls_relative_to_the_virtual_proxy_and_direct() -> None:
    proxy = creds("one")
    assert build_url(SITE, proxy, "qrs/about", {}) == "https://qlik.example.com/hdr/qrs/about"
    assert (
        build_url(SITE, proxy, "/api/v1/x?a=1", {"b": "2"})
        == "https://qlik.example.com/hdr/api/v1/x?a=1&b=2"
    )
    direct = Credentials(route=Route.DIRECT, user=USER)
    assert build_url(SITE, direct, "qrs/about", {}) == "https://qlik.example.com:4242/qrs/about"
    assert (
        build_url(SITE, direct, "qps/user/CORP/alice", {})
        == "https://qlik.example.com:4243/qps/hdr/user/CORP/alice"
    )
    with pytest.raises(ConfigurationError, match="direct"):
        build_url(SITE, direct, "hub/", {})


def test_absolute_urls_must_belong_to_the_site() -> None:
    proxy = creds("one")
    assert build_url(SITE, proxy, "https://qlik.example.com/hdr/x", {}).endswith("/hdr/x")
    for foreign in (
        "https://evil.example.com/hdr/x",
        "http://qlik.example.com/hdr/x",
        "https://qlik.example.com:8443/hdr/x",
    ):
        with pytest.raises(ForeignHostError):
            build_url(SITE, proxy, foreign, {})


@pytest.mark.parametrize(
    "path", ["qrs/about", "api/hub/v1/apps/user", "qps/user", "api/about/v1/system/info"]
)
def test_every_proxied_rest_call_carries_the_same_xrfkey_in_query_and_header(path: str) -> None:
    # The November 2024 release enforces the Xrfkey beyond QRS (/api/hub/...): always send it.
    request = rest_request(
        SITE, "get", path, params={"a": "1"}, json_body=None, data=None, headers=None
    )(creds("one"))
    key = request.headers["X-Qlik-Xrfkey"]
    assert len(key) == 16 and key.isalnum()
    assert request.url == f"https://qlik.example.com/hdr/{path}?a=1&xrfkey={key}"
    assert request.method == "GET"


class _Named:
    """An authenticator stand-in: only what the client reads."""

    creates_session = True

    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)

    def login_description(self) -> str:
        return "logged in to"


def core(clock: ManualClock | None = None, **kwargs: Any) -> ClientState:
    return ClientState(
        SITE,
        _Named(**kwargs),  # type: ignore[arg-type]
        session_timeout=kwargs.pop("session_timeout", None),
        leeway=0.0,
        clock=clock or ManualClock(),
    )


def _download(url: str, path: str) -> Any:
    return download_op(
        core(),
        url,
        path,
        allow_hosts=(),
        exporter=None,
        progress=None,
        callback=None,
        chunk_size=1 << 20,
    )


def test_core_logs_in_when_empty_stale_or_expired(manual_clock: ManualClock) -> None:
    c = core(manual_clock)
    assert c.needs_login(None)
    first = creds("one", expires_at=manual_clock() + 20)
    c.accept(first)
    assert not c.needs_login(None)
    assert not c.needs_login(creds("other"))  # another thread already replaced it
    assert c.needs_login(first)
    manual_clock.advance(19)
    assert not c.needs_login(None)
    manual_clock.advance(1)
    assert c.needs_login(None)
    assert c.logout_on_close


def test_core_inactivity_timer_restarts_on_use(manual_clock: ManualClock) -> None:
    c = core(manual_clock)
    c.session_timeout = 30
    c.accept(creds("one"))
    manual_clock.advance(20)
    c.touch()
    manual_clock.advance(20)
    assert not c.needs_login(None)  # 40 s since the login, 20 s since the last use
    manual_clock.advance(10)
    assert c.needs_login(None)


def test_session_limit_error_names_count_user_and_the_way_out() -> None:
    c = core(qlik_user=USER)
    refused = SessionLimitError(
        "login: the proxy refused a new session: Access denied for user 'CORP\\alice': the "
        "maximum number of parallel sessions is reached. SessionCount: '5', limit: 5.",
        session_count=5,  # as every producer of this error reads it from Qlik's text
    )
    assert c.user_hint() == USER
    assert c.reported(refused) == (USER, 5)
    assert c.session_count_request(USER) is None  # no client certificate configured
    counted = c.session_limit_error(refused, USER, 5)
    assert counted.session_count == 5
    assert "CORP\\alice holds 5 proxy session(s)" in counted.message
    assert "DELETE https://qlik.example.com:4243/qps/hdr/user/CORP/alice" in (counted.hint or "")
    assert "sessions on other virtual proxies count toward the limit too" in counted.message
    # The proxy's count covers every virtual proxy, as the limit does; QPS's only this one.
    both = c.session_limit_error(refused, USER, 2, 5)
    assert both.session_count == 5
    assert "holds 5 proxy session(s) on all virtual proxies together" in both.message
    assert "2 of them on virtual proxy 'hdr' (QPS user API)" in both.message
    assert "every virtual proxy together" in (both.hint or "")
    unknown = c.session_limit_error(SessionLimitError("refused"), None, None)
    assert unknown.session_count is None
    assert "could not be counted" in unknown.message
