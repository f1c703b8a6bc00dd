"""Header authentication: the flow by hand, the contract, and Qlik's header rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qlikauth import (
    ConfigurationError,
    CredentialsRejectedError,
    InvalidHeaderValueError,
    LoginRedirectError,
    QlikUser,
    SessionLimitError,
    Site,
    VirtualProxy,
)
from qlikauth.auth.base import Authenticator, create_authenticator
from qlikauth.auth.header import HeaderAuth
from qlikauth.http import HttpResponse, HttpTransport, run_flow
from qlikauth.qps import QpsClient
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

SITE = Site("qlik.example.com", VirtualProxy("hdr", "X-Qlik-Session-hdr"))


def _user_answer(directory: str, user_id: str) -> HttpResponse:
    body = f'{{"userDirectory": "{directory}", "userId": "{user_id}"}}'.encode()
    return HttpResponse(200, (("Content-Type", "application/json"),), body)


# --- the flow, by hand ---------------------------------------------------------------------


def test_static_flow_sends_the_header_once_then_only_the_cookie() -> None:
    flow = HeaderAuth("alice").login(SITE)
    first = next(flow)
    assert first.method == "GET"
    assert first.url.startswith("https://qlik.example.com/hdr/qrs/about?xrfkey=")
    assert first.headers["header_user"] == "alice"
    second = flow.send(
        HttpResponse(200, (("Set-Cookie", "X-Qlik-Session-hdr=s1d; Path=/; HttpOnly"),), b"{}")
    )
    assert second.url.startswith("https://qlik.example.com/hdr/qps/csrftoken")
    assert "header_user" not in second.headers
    assert second.headers["Cookie"] == "X-Qlik-Session-hdr=s1d"
    third = flow.send(HttpResponse(204, (("qlik-csrf-token", "t0k"),)))
    assert third.url.startswith("https://qlik.example.com/hdr/qps/user")
    assert "header_user" not in third.headers
    with pytest.raises(StopIteration) as done:
        flow.send(_user_answer("CORP", "alice"))
    credentials = done.value.value
    assert credentials.user == QlikUser("CORP", "alice")
    assert credentials.session_id == "s1d"
    assert credentials.csrf_token == "t0k"
    assert credentials.headers == {}


def test_dynamic_flow_renders_the_pattern() -> None:
    auth = HeaderAuth("bob", directory="CORP")
    assert auth.header_value == "CORP\\bob"
    assert next(auth.login(SITE)).headers["header_user"] == "CORP\\bob"
    custom = HeaderAuth("bob", directory="CORP", pattern="$id@$ud", header_name="hdr-usr")
    assert custom.headers == {"hdr-usr": "bob@CORP"}


def test_the_pattern_copied_from_the_qmc_sends_one_backslash() -> None:
    # The QMC stores and shows $ud\\$id (an escaped backslash); the header carries one.
    qmc = HeaderAuth("alice", directory="CORP", pattern=r"$ud\\$id")
    assert qmc.header_value == "CORP\\alice"
    assert HeaderAuth("alice", directory="CORP", pattern=r"$ud\$id").header_value == "CORP\\alice"
    # One pass: a value that looks like a placeholder stays what it is.
    odd = HeaderAuth("$ud", directory="D$id", pattern=r"$id@$ud")
    assert odd.header_value == "$ud@D$id"


def test_a_401_is_a_rejection_with_the_proxy_text() -> None:
    flow = HeaderAuth("mallory").login(SITE)
    next(flow)
    with pytest.raises(CredentialsRejectedError, match="unknown user"):
        flow.send(HttpResponse(401, (), b"unknown user"))


@pytest.mark.parametrize(
    "name", ["X-Qlik-User", "x-qlik-userheader", "My-X-Qlik-Security", "X-Qlik-App"]
)
def test_reserved_header_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidHeaderValueError, match="reserved") as error:
        HeaderAuth("alice", header_name=name)
    assert "hdr-usr" in str(error.value)


def test_valid_header_names_pass() -> None:
    for name in ("Qlik-User", "hdr-usr", "header_user"):
        assert HeaderAuth("alice", header_name=name).header_name == name


def test_non_ascii_and_line_breaks_are_refused() -> None:
    with pytest.raises(InvalidHeaderValueError, match="US-ASCII"):
        HeaderAuth("jürgen")
    with pytest.raises(InvalidHeaderValueError, match="line break"):
        HeaderAuth("alice\r\nX-Evil: 1")
    with pytest.raises(ConfigurationError):
        HeaderAuth("   ")
    with pytest.raises(ConfigurationError, match="lacks"):
        HeaderAuth("bob", directory="CORP", pattern="$id")


def test_created_by_name() -> None:
    auth = create_authenticator("header", user="alice", header_name="hdr-usr")
    assert auth == HeaderAuth("alice", header_name="hdr-usr")


# --- against the emulator ------------------------------------------------------------------


class TestHeaderStaticContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return HeaderAuth("contract_header")

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "hdr")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "contract_header")


class TestHeaderDynamicContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return HeaderAuth("contract_dyn", directory="PARTNERS")

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "hdrdyn")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("PARTNERS", "contract_dyn")


def test_wrong_header_name_is_not_a_login(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "hdr")
    with (
        HttpTransport(site) as transport,
        pytest.raises((LoginRedirectError, CredentialsRejectedError)),
    ):
        run_flow(HeaderAuth("alice", header_name="hdr-usr").login(site), transport)


def test_cookie_name_mismatch_names_both_cookies(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "hdr").with_prefix("hdr", "X-Qlik-Session-wrong")
    for _attempt in range(3):
        with HttpTransport(site) as transport, pytest.raises(ConfigurationError) as error:
            run_flow(HeaderAuth("cookie_mismatch").login(site), transport)
    with QpsClient(site) as qps:  # the proxy made a session each time; the login ended it
        assert qps.user_sessions("QLIKEMU\\cookie_mismatch") == []
    message = str(error.value)
    assert "X-Qlik-Session-wrong" in message
    assert "X-Qlik-Session-hdr" in message
    assert "Session cookie header name" in message


def test_unknown_cookie_name_is_learned(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "hdr").with_prefix("hdr")
    assert site.cookie_name is None
    with HttpTransport(site) as transport:
        credentials = run_flow(HeaderAuth("learner").login(site), transport)
        try:
            assert credentials.cookie_name == "X-Qlik-Session-hdr"
        finally:
            run_flow(HeaderAuth("learner").logout(site, credentials), transport)


def test_session_limit_reached(qlik_emulator_factory: Callable[..., EmulatorInfo]) -> None:
    # The emulator's "login" limit (the default refuses the websocket, not the login).
    site = emulator_site(qlik_emulator_factory(session_limit="login"), "hdr")
    auth = HeaderAuth("busy")
    with HttpTransport(site) as transport:
        for _ in range(5):
            run_flow(auth.login(site), transport)
        with pytest.raises(SessionLimitError) as error:
            run_flow(auth.login(site), transport)
    text = str(error.value)
    assert "SessionCount: '5'" in text
    assert "log out unused ones" in text
