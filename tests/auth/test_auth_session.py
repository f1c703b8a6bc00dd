"""Session injection through QPS: the flow, the contract, cookie names and logout."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from qlikauth import ConfigurationError, LoginRedirectError, QlikUser, Site, VirtualProxy
from qlikauth.auth.base import Authenticator
from qlikauth.auth.session import SessionAuth
from qlikauth.credentials import Credentials
from qlikauth.http import HttpResponse, HttpTransport, run_flow
from qlikauth.qps import QpsClient
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

SITE = Site("qlik.example.com", VirtualProxy("hdr", "X-Qlik-Session-hdr"))


def test_flow_posts_a_random_uuid4_then_sends_it_as_the_cookie() -> None:
    flow = SessionAuth("alice", "CORP").login(SITE)
    post = next(flow)
    assert post.method == "POST"
    assert urlsplit(post.url).path == "/qps/hdr/session"
    assert post.body is not None
    body = json.loads(post.body)
    session_id = body["SessionId"]
    assert uuid.UUID(session_id).version == 4
    assert (body["UserDirectory"], body["UserId"]) == ("CORP", "alice")
    bootstrap = flow.send(HttpResponse(201, (), post.body))
    assert bootstrap.headers["Cookie"] == f"X-Qlik-Session-hdr={session_id}"
    assert next(SessionAuth("alice", "CORP").login(SITE)).body != post.body


def test_logout_deletes_the_session_through_qps() -> None:
    credentials = Credentials(
        cookies={"X-Qlik-Session-hdr": "0f0e0d0c-0b0a-4908-8706-050403020100"},
        cookie_name="X-Qlik-Session-hdr",
    )
    request = next(SessionAuth("alice", "CORP").logout(SITE, credentials))
    assert request.method == "DELETE"
    assert urlsplit(request.url).path.endswith(
        "/qps/hdr/session/0f0e0d0c-0b0a-4908-8706-050403020100"
    )


def test_needs_the_cookie_name_and_a_long_session_id() -> None:
    with pytest.raises(ConfigurationError, match="cookie name"):
        next(SessionAuth("alice", "CORP").login(SITE.with_prefix("hdr")))
    with pytest.raises(ConfigurationError, match="too short"):
        SessionAuth("alice", "CORP", session_id="11111111")
    assert "deadbeef" not in repr(SessionAuth("a", "b", session_id="deadbeef" * 4))


class TestSessionContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return SessionAuth("contract_session", "QLIKEMU", attributes={"Group": "Ops"})

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "hdr")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "contract_session")


@pytest.fixture
def qps(qlik_emulator: EmulatorInfo) -> Iterator[QpsClient]:
    with QpsClient(emulator_site(qlik_emulator, "hdr")) as client:
        yield client


def test_logout_frees_the_slot(qlik_emulator: EmulatorInfo, qps: QpsClient) -> None:
    site = emulator_site(qlik_emulator, "hdr")
    auth = SessionAuth("slot_user", "QLIKEMU")
    with HttpTransport(site) as transport:
        credentials = run_flow(auth.login(site), transport)
        held = qps.user_sessions("QLIKEMU\\slot_user")
        assert [s.session_id for s in held] == [credentials.session_id]
        run_flow(auth.logout(site, credentials), transport)
    assert qps.user_sessions("QLIKEMU\\slot_user") == []


def test_cookie_name_mismatch(qlik_emulator: EmulatorInfo, qps: QpsClient) -> None:
    site = emulator_site(qlik_emulator, "hdr").with_prefix("hdr", "X-Qlik-Session-nothdr")
    with HttpTransport(site) as transport, pytest.raises(LoginRedirectError) as error:
        run_flow(SessionAuth("mismatch_user", "QLIKEMU").login(site), transport)
    text = str(error.value)
    assert "X-Qlik-Session-nothdr" in text
    assert "Session cookie header name" in text
    assert qps.user_sessions("QLIKEMU\\mismatch_user") == []
