"""Every authenticator through QlikClient against the emulator: one session for everything."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import websocket
from client_support import AuthCase, end_user_sessions, make_site, new_user_id, proxy_sessions

from qlikauth.client import QlikClient
from qlikauth.credentials import QlikUser, Route
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.wsclient import connect

ENGINE_VERSION = {"jsonrpc": "2.0", "id": 1, "method": "EngineVersion", "handle": -1, "params": {}}


def test_login_whoami_rest_and_websocket_share_one_session(
    qlik_emulator: EmulatorInfo, auth_case: AuthCase
) -> None:
    user_id = new_user_id()
    expected = QlikUser(auth_case.directory, user_id)
    site = make_site(qlik_emulator, auth_case.prefix)
    authenticator = auth_case.build(qlik_emulator, user_id)
    with QlikClient(site, authenticator) as client:
        assert client.whoami() == expected
        about = client.get("qrs/about")
        assert about.status == 200, about.text
        # A dotted version, as a real repository answers (clients parse it as a version).
        assert all(part.isdigit() for part in about.json()["buildVersion"].split("."))
        with client.engine() as engine:
            assert engine.global_.engine_version()
        for _ in range(3):
            assert client.whoami() == expected
            assert client.get("qrs/about").status == 200
        with client.engine() as engine:
            assert engine.global_.engine_version()
        credentials = client.credentials()
        assert client.login_count == 1
        if auth_case.direct:
            assert credentials.route is Route.DIRECT
            assert proxy_sessions(qlik_emulator, "", expected) == 0
        else:
            assert proxy_sessions(qlik_emulator, auth_case.prefix, expected) == 1
    if not auth_case.direct and authenticator.creates_session:
        assert proxy_sessions(qlik_emulator, auth_case.prefix, expected) == 0


def test_websocket_options_work_with_websocket_client_and_websockets(
    qlik_emulator: EmulatorInfo,
) -> None:
    user_id = new_user_id()
    site = make_site(qlik_emulator, "jwt")
    from client_support import AUTH_CASES

    jwt_case = next(c for c in AUTH_CASES if c.name == "jwt")
    with QlikClient(site, jwt_case.build(qlik_emulator, user_id)) as client:
        options = client.websocket_options()
        assert "Authorization" not in options.headers
        assert "[secure]" in repr(options)

        ws = websocket.create_connection(timeout=10, **options.websocket_client_kwargs())
        try:
            greeting = json.loads(ws.recv())
            assert greeting["method"] == "OnConnected"
            ws.send(json.dumps(ENGINE_VERSION))
            answer = json.loads(ws.recv())
            assert answer["id"] == 1
            assert "result" in answer
        finally:
            ws.close()

        with connect(open_timeout=10, **options.websockets_kwargs()) as sock:
            greeting = json.loads(sock.recv(timeout=10))
            assert greeting["method"] == "OnConnected"
            sock.send(json.dumps(ENGINE_VERSION))
            answer = json.loads(sock.recv(timeout=10))
            assert answer["id"] == 1
            assert "result" in answer

        assert client.login_count == 1
        assert proxy_sessions(qlik_emulator, "jwt", QlikUser("CORP", user_id)) == 1


def test_websocket_options_direct_carry_the_certificate_and_user(
    qlik_emulator: EmulatorInfo,
) -> None:
    from qlikauth.auth.certificate import CertificateAuth

    site = make_site(qlik_emulator, "")
    with QlikClient(site, CertificateAuth(user="alice", directory="QLIKEMU")) as client:
        options = client.websocket_options()
        assert options.url.startswith(f"wss://{site.host}:{site.engine_port}/app/")
        assert options.headers["X-Qlik-User"] == "UserDirectory=QLIKEMU; UserId=alice"
        ws = websocket.create_connection(timeout=10, **options.websocket_client_kwargs())
        try:
            assert json.loads(ws.recv())["method"] == "OnConnected"
        finally:
            ws.close()


def test_websocket_without_the_session_is_refused(qlik_emulator: EmulatorInfo) -> None:
    site = make_site(qlik_emulator, "hdr")
    from qlikauth.auth.header import HeaderAuth

    with QlikClient(site, HeaderAuth(user=new_user_id())) as client:
        options = client.websocket_options()
        kwargs = options.websocket_client_kwargs()
        kwargs["header"] = [h for h in kwargs["header"] if not h.startswith("Cookie")]
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(timeout=10, **kwargs)
        assert refused.value.status_code == 403


def test_ntlm_through_the_windows_virtual_proxy(qlik_emulator_fresh: EmulatorInfo) -> None:
    pytest.importorskip("spnego", reason="NTLM needs the 'windows' extra (pyspnego)")
    from qlikauth.auth.ntlm import NtlmAuth

    info = qlik_emulator_fresh
    domain = info.windows_domain
    user = QlikUser(domain, "carol")
    site = make_site(info, "")
    auth = NtlmAuth(user=f"{domain}\\carol", password=info.windows_password("carol"))
    with QlikClient(site, auth) as client:
        assert client.whoami() == user
        assert client.get("qrs/about").status == 200
        with client.engine() as engine:
            assert engine.global_.engine_version()
        assert client.whoami() == user
        assert client.login_count == 1
        assert proxy_sessions(info, "", user) == 1
    assert proxy_sessions(info, "", user) == 0


def test_legacy_proxy_must_authenticate_is_renewed_once(
    qlik_emulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qlikauth.client")
    info = qlik_emulator_factory(release="2024-05")
    site = make_site(info, "hdr")
    user = QlikUser("QLIKEMU", new_user_id())
    from qlikauth.auth.header import HeaderAuth

    with QlikClient(site, HeaderAuth(user=user.user_id)) as client:
        with client.engine() as engine:
            assert engine.global_.engine_version()
        end_user_sessions(info, "hdr", user)  # the socket's next greeting says mustAuthenticate
        with client.engine() as engine:
            assert engine.global_.engine_version()
        assert client.login_count == 2
        assert "engine refused (MustAuthenticateError)" in caplog.text
        assert proxy_sessions(info, "hdr", user) == 1


def test_anonymous_virtual_proxy(qlik_emulator_factory: Any) -> None:
    from qlikauth.auth.anonymous import AnonymousAuth
    from qlikauth.emulator.config import VirtualProxyConfig, default_config

    anonymous = VirtualProxyConfig(
        prefix="anon",
        method="header",
        cookie_name="X-Qlik-Session-anon",
        header_name="header_user",
        user_directory="QLIKEMU",
        anonymous="always",
    )
    info = qlik_emulator_factory(virtual_proxies=(*default_config().virtual_proxies, anonymous))
    with QlikClient(make_site(info, "anon"), AnonymousAuth()) as client:
        user = client.whoami()
        assert user.directory == "NONE"
        assert user.user_id.startswith("anonymous")
        assert client.get("qrs/about").status == 200
        with client.engine() as engine:
            assert engine.global_.engine_version()
        assert client.whoami() == user
        assert client.login_count == 1
        assert proxy_sessions(info, "anon", user) == 1
