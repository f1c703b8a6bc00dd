"""The proxy's one session: shared with its client, renewed once when it expires mid-use
(HTTP, websockets in both release modes), and a second refusal passed on to the tool."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import pytest
import requests
from proxy_support import new_user, proxied, user_sessions
from websockets.exceptions import InvalidStatus

from qlikauth.auth.base import Authenticator
from qlikauth.auth.certificate import CertificateAuth
from qlikauth.client import QlikClient
from qlikauth.credentials import Credentials
from qlikauth.errors import ConfigurationError
from qlikauth.http import Flow
from qlikauth.proxy import LocalProxy
from qlikauth.site import Site
from qlikauth.testing.clock import ManualClock
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.wsclient import connect

Factory = Callable[..., EmulatorInfo]


def pass_the_timeout(info: EmulatorInfo, clock: ManualClock) -> None:
    """Move the emulator's clock past its inactivity timeout: it ends every session."""
    clock.advance(61)
    assert info.counters()["sessions_active"] == 0


def engine_call(url: str, app_id: str) -> list[dict[str, object]]:
    """Open the app on the proxy's websocket; every frame received up to the answer."""
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "OpenDoc",
                            "params": [app_id]}))  # fmt: skip
        frames = []
        while True:
            frame = json.loads(ws.recv(timeout=10))
            frames.append(frame)
            if frame.get("id") == 1:
                return frames


def test_the_proxy_and_its_client_share_one_session(qlik_emulator: EmulatorInfo) -> None:
    user = new_user()
    with proxied(qlik_emulator, user) as (client, proxy):
        assert proxy.user is not None and proxy.user.user_id == user
        through = requests.get(proxy.url + "qps/user", headers=proxy.headers, timeout=10)
        doc = client.open_app(qlik_emulator.app_id("Sales"))  # the notebook's own engine use
        assert doc.evaluate("Sum(Amount)") == pytest.approx(28510.9)
        assert through.json()["userId"] == user
        assert client.login_count == 1
        assert len(user_sessions(qlik_emulator, "hdr", "QLIKEMU", user)) == 1


@pytest.mark.parametrize("release", ["2024-05", "2024-11"])
def test_an_expired_session_is_renewed_once_for_http(
    release: str,
    qlik_emulator_factory: Factory,
    manual_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    info = qlik_emulator_factory(session_timeout=60.0, clock=manual_clock, release=release)
    user = new_user()
    with caplog.at_level(logging.INFO, "qlikauth.proxy"), proxied(info, user) as (client, proxy):
        first = requests.get(proxy.url + "qps/user", headers=proxy.headers, timeout=10)
        assert first.json()["userId"] == user
        pass_the_timeout(info, manual_clock)
        # The hub answers an ended session with 401 (header virtual proxy): a refusal. Eight
        # tools refused at once get one new login between them.
        with ThreadPoolExecutor(8) as pool:
            later = list(pool.map(lambda _: requests.get(
                proxy.url + "hub/", headers=proxy.headers, timeout=30), range(8)))  # fmt: skip
        assert [r.status_code for r in later] == [200] * 8
        assert all(f"Signed in as QLIKEMU\\{user}" in r.text for r in later)
        assert client.login_count == 2
        assert proxy.renewals == 1
    assert info.counters()["sessions_created"] == 2
    assert "the session has ended; logging in again" in caplog.text


def test_an_expired_session_is_renewed_once_for_a_websocket(
    qlik_emulator_factory: Factory, manual_clock: ManualClock
) -> None:
    info = qlik_emulator_factory(session_timeout=60.0, clock=manual_clock, release="2024-11")
    app = info.app_id("Sales")
    with proxied(info) as (client, proxy):
        pass_the_timeout(info, manual_clock)
        frames = engine_call(proxy.websocket_url(app), app)  # the upgrade is refused (403)
        assert frames[-1]["result"]["qReturn"]["qType"] == "Doc"
        assert client.login_count == 2
        assert proxy.renewals == 1


def test_before_november_2024_a_must_authenticate_socket_is_renewed(
    qlik_emulator_factory: Factory, manual_clock: ManualClock
) -> None:
    info = qlik_emulator_factory(session_timeout=60.0, clock=manual_clock, release="2024-05")
    app = info.app_id("Sales")
    with proxied(info) as (client, proxy):
        pass_the_timeout(info, manual_clock)
        # The socket opens; Qlik answers the first message with mustAuthenticate: the proxy
        # renews, opens a new socket and sends the message again.
        frames = engine_call(proxy.websocket_url(app), app)
        assert client.login_count == 2
    methods = [f.get("method") for f in frames]
    assert methods[0] == "OnConnected"
    infos = [f["params"] for f in frames if f.get("method") == "OnAuthenticationInformation"]
    assert infos and all(i["mustAuthenticate"] is False for i in infos)
    assert frames[-1]["result"]["qReturn"]["qType"] == "Doc"


@dataclass(frozen=True)
class UnknownSessionAuth(Authenticator):
    """Credentials naming a session the proxy never made: every login is refused later."""

    name: ClassVar[str] = "unknown-session"

    cookie_name: str

    def login(self, site: Site) -> Flow[Credentials]:
        cookie = {self.cookie_name: str(uuid.uuid4())}
        return Credentials(cookies=cookie, cookie_name=self.cookie_name)
        yield  # a flow that sends nothing


def test_a_second_refusal_is_passed_to_the_tool(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    site = emulator_site(qlik_emulator, "hdr")
    auth = UnknownSessionAuth(qlik_emulator.cookie_name("hdr"))
    with (
        caplog.at_level(logging.INFO, "qlikauth.proxy"),
        QlikClient(site, auth) as client,
        LocalProxy(client) as proxy,
    ):
        answer = requests.get(proxy.url + "hub/", headers=proxy.headers, timeout=10)
        assert client.login_count == 2
        with pytest.raises(InvalidStatus) as refused:
            connect(proxy.websocket_url(), open_timeout=10).close()
        assert client.login_count == 3
    # Qlik's own refusal, as Qlik sent it.
    assert answer.status_code == 401
    assert answer.text.startswith("Header authentication: no session")
    assert "was refused (401) again right after a new login" in caplog.text
    assert refused.value.response.status_code == 403
    assert b"even right after a new login" in refused.value.response.body
    assert "was refused (403) again right after a new login" in caplog.text


def test_a_refused_streamed_upload_is_not_sent_twice(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    site = emulator_site(qlik_emulator, "hdr")
    auth = UnknownSessionAuth(qlik_emulator.cookie_name("hdr"))

    def body() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * (1 << 16)  # 2.5 MiB, chunked: more than the proxy keeps

    with (
        caplog.at_level(logging.INFO, "qlikauth.proxy"),
        QlikClient(site, auth) as client,
        LocalProxy(client) as proxy,
    ):
        answer = requests.post(proxy.url + "hub/", data=body(), headers=proxy.headers, timeout=30)
        assert client.login_count == 2  # renewed for the next request all the same
    assert answer.status_code == 401
    assert "its streamed body cannot be sent again" in caplog.text


def test_certificate_credentials_are_refused_with_a_hint(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "")
    with QlikClient(site, CertificateAuth(user="alice", directory="QLIKEMU")) as client:
        proxy = LocalProxy(client)
        with pytest.raises(ConfigurationError, match="direct to QRS and the engine") as refused:
            proxy.start()
    assert refused.value.hint is not None and "session or ticket" in refused.value.hint
