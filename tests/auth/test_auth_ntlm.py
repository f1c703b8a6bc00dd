"""Windows authentication (NTLM / Negotiate) through the proxy's internal module."""

from __future__ import annotations

import base64
import sys

import pytest

from qlikauth import (
    ConfigurationError,
    ForeignHostError,
    InvalidCredentialsError,
    LoginRedirectError,
    QlikUser,
    Site,
    VirtualProxy,
)
from qlikauth.auth.base import Authenticator
from qlikauth.auth.ntlm import NtlmAuth
from qlikauth.http import HttpResponse, HttpTransport, run_flow
from qlikauth.testing.contract import AuthenticatorContract, RecordingDriver, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

pytest.importorskip("spnego", reason="NTLM needs pyspnego (the 'windows' extra)")

SITE = Site("qlik.example.com", VirtualProxy("", "X-Qlik-Session"))
MODULE = "https://qlik.example.com:4244/internal_windows_authentication/?targetId=t1"


def test_flow_by_hand_up_to_the_first_ntlm_leg() -> None:
    auth = NtlmAuth("alice", "pw-not-shown", domain="CORP", protocol="ntlm")
    assert auth.principal == "CORP\\alice"
    assert "pw-not-shown" not in repr(auth)
    flow = auth.login(SITE)
    start = next(flow)
    assert start.url == "https://qlik.example.com/hub/"
    assert start.headers["User-Agent"] == "Windows"
    probe = flow.send(HttpResponse(302, (("Location", MODULE),)))
    assert probe.url == MODULE
    assert "Authorization" not in probe.headers
    leg1 = flow.send(HttpResponse(401, (("WWW-Authenticate", "NTLM"),)))
    scheme, token = leg1.headers["Authorization"].split(" ")
    assert scheme == "NTLM"
    assert base64.b64decode(token).startswith(b"NTLMSSP\x00\x01")  # NEGOTIATE_MESSAGE


def test_redirect_away_from_the_site_is_refused() -> None:
    flow = NtlmAuth("CORP\\alice", "pw").login(SITE)
    next(flow)
    with pytest.raises(ForeignHostError, match=r"evil\.example"):
        flow.send(HttpResponse(302, (("Location", "https://evil.example/login"),)))


def test_forms_page_explains_the_user_agent_pattern() -> None:
    flow = NtlmAuth("CORP\\alice", "pw", user_agent="python-requests").login(SITE)
    next(flow)
    forms = "https://qlik.example.com:4244/internal_forms_authentication/?targetId=1"
    with pytest.raises(LoginRedirectError, match="Windows authentication pattern"):
        flow.send(HttpResponse(302, (("Location", forms),)))


def test_without_pyspnego_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spnego", None)  # makes "import spnego" fail
    with pytest.raises(ConfigurationError, match=r"qlikauth\[windows\]"):
        next(NtlmAuth("CORP\\alice", "pw").login(SITE))


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        NtlmAuth(" ", "pw")
    with pytest.raises(ConfigurationError):
        NtlmAuth("a", "pw", protocol="kerberos")  # type: ignore[arg-type]


class TestNtlmNegotiateContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self, qlik_emulator: EmulatorInfo) -> Authenticator:
        return NtlmAuth("QLIKEMU\\carol", qlik_emulator.windows_password("carol"))

    @pytest.fixture
    def secrets(self, qlik_emulator: EmulatorInfo) -> list[str]:
        return [qlik_emulator.windows_password("carol")]

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "carol")


def test_plain_ntlm_with_separate_domain_uses_one_connection(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "")
    auth = NtlmAuth(
        "dave", qlik_emulator.windows_password("dave"), domain="QLIKEMU", protocol="ntlm"
    )
    with HttpTransport(site) as transport:
        driver = RecordingDriver(transport)
        credentials = driver.run(auth.login(site))
        assert credentials.user == QlikUser("QLIKEMU", "dave")
        legs = [r for r in driver.requests if "Authorization" in r.headers]
        assert [r.headers["Authorization"].split()[0] for r in legs] == ["NTLM", "NTLM"]
        # The module only completes the handshake on one kept-alive connection: the last
        # leg is answered with the redirect back to the proxy (with a ticket).
        last_leg = [answer for sent, answer in driver.exchanges if sent is legs[-1]]
        assert [answer.status for answer in last_leg] == [302]
        run_flow(auth.logout(site, credentials), transport)


def test_wrong_password(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "")
    with HttpTransport(site) as transport, pytest.raises(InvalidCredentialsError) as error:
        run_flow(NtlmAuth("QLIKEMU\\alice", "Wrong-Password-9").login(site), transport)
    assert "Wrong-Password-9" not in str(error.value)
    assert "QLIKEMU\\alice" in str(error.value)


def test_user_agent_without_the_windows_pattern(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "")
    auth = NtlmAuth("QLIKEMU\\alice", qlik_emulator.windows_password("alice"), user_agent="curl")
    with HttpTransport(site) as transport, pytest.raises(LoginRedirectError, match="pattern"):
        run_flow(auth.login(site), transport)
