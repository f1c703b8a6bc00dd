"""A session from elsewhere: checked through the personal API, never created or owned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qlikauth import ConfigurationError, QlikUser, SessionExpiredError, Site, VirtualProxy
from qlikauth.auth.base import Authenticator
from qlikauth.auth.existing import ExistingSessionAuth
from qlikauth.http import HttpResponse, HttpTransport, run_flow
from qlikauth.qps import QpsClient
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

SITE = Site("qlik.example.com", VirtualProxy("hdr", "X-Qlik-Session-hdr"))
SESSION_ID = "5b0c8e0e-8f3c-4b59-9a37-6f0e0d5c4b3a"


def test_flow_sends_the_cookie_and_keeps_it() -> None:
    auth = ExistingSessionAuth(SESSION_ID, csrf_token="from-browser")
    assert ExistingSessionAuth.creates_session is False
    assert SESSION_ID not in repr(auth) and "from-browser" not in repr(auth)
    flow = auth.login(SITE)
    first = next(flow)
    assert first.url.startswith("https://qlik.example.com/hdr/qps/csrftoken?xrfkey=")
    assert first.headers["Cookie"] == f"X-Qlik-Session-hdr={SESSION_ID}"
    assert set(first.headers) == {"Cookie", "X-Qlik-Xrfkey"}
    flow.send(HttpResponse(404))  # a release before November 2024: no CSRF token endpoint
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, (), b'{"userDirectory": "CORP", "userId": "alice"}'))
    credentials = done.value.value
    assert credentials.session_id == SESSION_ID
    assert credentials.csrf_token == "from-browser"
    assert credentials.user == QlikUser("CORP", "alice")


def test_explicit_cookie_name_and_bad_values() -> None:
    flow = ExistingSessionAuth(SESSION_ID, cookie_name="X-Qlik-Session-x").login(SITE)
    assert next(flow).headers["Cookie"] == f"X-Qlik-Session-x={SESSION_ID}"
    with pytest.raises(ConfigurationError, match="which cookie"):
        next(ExistingSessionAuth(SESSION_ID).login(SITE.with_prefix("hdr")))
    with pytest.raises(ConfigurationError):
        ExistingSessionAuth("X-Qlik-Session=abc; other=1")
    with pytest.raises(ConfigurationError):
        ExistingSessionAuth(" ")


def _inject(info: EmulatorInfo, user: str) -> str:
    with QpsClient(emulator_site(info, "hdr")) as qps:
        return qps.add_session(QlikUser("QLIKEMU", user)).session_id


class TestExistingContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self, qlik_emulator: EmulatorInfo) -> Iterator[Authenticator]:
        session_id = _inject(qlik_emulator, "contract_existing")
        yield ExistingSessionAuth(session_id)
        with QpsClient(emulator_site(qlik_emulator, "hdr")) as qps:
            qps.delete_session(session_id)  # None when the test logged it out already

    @pytest.fixture
    def secrets(self, authenticator: ExistingSessionAuth) -> list[str]:
        return [authenticator.session_id]

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "hdr")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "contract_existing")


def test_unknown_session_is_expired(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "hdr")
    with HttpTransport(site) as transport, pytest.raises(SessionExpiredError) as error:
        run_flow(ExistingSessionAuth(SESSION_ID).login(site), transport)
    assert "X-Qlik-Session-hdr" in str(error.value)
    assert SESSION_ID not in str(error.value)


def test_session_of_another_virtual_proxy(qlik_emulator: EmulatorInfo) -> None:
    session_id = _inject(qlik_emulator, "elsewhere")
    site = emulator_site(qlik_emulator, "jwt")
    with HttpTransport(site) as transport, pytest.raises(SessionExpiredError):
        run_flow(
            ExistingSessionAuth(session_id, cookie_name="X-Qlik-Session-hdr").login(site),
            transport,
        )
    with QpsClient(emulator_site(qlik_emulator, "hdr")) as qps:
        assert qps.delete_session(session_id) is not None
