"""Engine websockets through the proxy (both CSRF behaviours) and direct on the engine port."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from qlikauth.testing.wsclient import connect


def test_november_2024_socket_with_cookie_token_and_origin(
    wire: Any, sockets: list[Any], sales_id: str
) -> None:
    user = wire.new_user()
    _sid, ws = wire.ws_session("hdr", user, f"app/{sales_id}")
    sockets.append(ws)
    greeting = wire.recv(ws)
    assert greeting == {
        "jsonrpc": "2.0",
        "method": "OnConnected",
        "params": {"qSessionState": "SESSION_CREATED"},
    }
    rpc = wire.rpc(ws)
    me = rpc.call("GetAuthenticatedUser")
    assert me["result"]["qReturn"] == f"UserDirectory=QLIKEMU; UserId={user}"
    docs = rpc.call("GetDocList")["result"]["qDocList"]
    assert sales_id in [d["qDocId"] for d in docs]
    opened = rpc.call("OpenDoc", -1, [sales_id])
    assert opened["result"]["qReturn"]["qHandle"] == 1
    value = rpc.call("EvaluateEx", 1, {"qExpression": "Count(OrderId)"})
    assert value["result"]["qValue"]["qNumber"] == 36
    assert rpc.call("NoSuchMethod", 1)["error"]["code"] == -32601


def _rejected(call: Any) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        call()
    return caught.value


def test_the_judging_client_enters_openssl_one_thread_at_a_time(wire: Any) -> None:
    from qlikauth.testing.wsclient import SerialTlsSocket

    _, ws = wire.ws_session("hdr", wire.new_user())
    try:
        assert isinstance(ws.socket, SerialTlsSocket)  # else reads and writes would race
        assert wire.recv(ws)["method"] == "OnConnected"
    finally:
        ws.close()


def test_november_2024_rejections_are_403_handshakes(wire: Any) -> None:
    user = wire.new_user()
    sid = wire.add_session("hdr", user)
    token = wire.csrf("hdr", sid)
    origin = f"https://{wire.info.host}"
    cases = {
        "no token": dict(sid=sid, origin=origin),
        "wrong token": dict(sid=sid, token=token[::-1], origin=origin),
        "no cookie": dict(token=token, origin=origin),
        "no origin": dict(sid=sid, token=token),
        "foreign origin": dict(sid=sid, token=token, origin="https://evil.example"),
        "ip origin": dict(sid=sid, token=token, origin="https://127.0.0.1"),
        "authorization": dict(
            sid=sid, token=token, origin=origin, headers={"Authorization": "Bearer x.y.z"}
        ),
        "header auth only": dict(origin=origin, headers={"header_user": user}),
    }
    for name, kwargs in cases.items():
        error = _rejected(lambda kwargs=kwargs: wire.ws_proxy("hdr", **kwargs))
        assert error.response.status_code == 403, name
        assert b"Cross-Site Websocket Hijacking" in error.response.body, name
    # The same session with everything right is accepted.
    ok = wire.ws_proxy("hdr", sid=sid, token=token, origin=origin)
    assert wire.recv(ok)["method"] == "OnConnected"
    ok.close()


def test_token_only_in_a_header_is_refused(wire: Any) -> None:
    sid = wire.add_session("hdr", wire.new_user())
    token = wire.csrf("hdr", sid)
    error = _rejected(
        lambda: wire.ws_proxy(
            "hdr", sid=sid, origin="https://localhost", headers={"qlik-csrf-token": token}
        )
    )
    assert error.response.status_code == 403


def test_default_allow_lists_hold_the_emulator_host(wire: Any) -> None:
    for vp in wire.info["virtual_proxies"]:
        assert vp["allow_list"] == [wire.info.host], vp["prefix"]


def _with_allow_list(fresh_wire: Any, allow_list: tuple[str, ...], **overrides: Any) -> Any:
    import dataclasses

    from qlikauth.emulator.config import default_config

    base = default_config()
    vps = tuple(
        dataclasses.replace(vp, allow_list=allow_list) if vp.prefix == "hdr" else vp
        for vp in base.virtual_proxies
    )
    return fresh_wire(virtual_proxies=vps, **overrides)


def test_allow_list_without_the_client_host_refuses_its_origin(fresh_wire: Any) -> None:
    # The client reaches the site as "localhost", but the allow list names only an alias.
    wire = _with_allow_list(fresh_wire, ("mashup.example",))
    assert wire.info.virtual_proxy("hdr")["allow_list"] == ["mashup.example"]
    sid = wire.add_session("hdr", "alice")
    token = wire.csrf("hdr", sid)
    error = _rejected(
        lambda: wire.ws_proxy("hdr", sid=sid, token=token, origin="https://localhost")
    )
    assert error.response.status_code == 403
    assert b"Origin host localhost is not in the virtual proxy's host allow list" in (
        error.response.body
    )
    ws = wire.ws_proxy("hdr", sid=sid, token=token, origin="https://mashup.example:8443")
    assert wire.recv(ws)["method"] == "OnConnected"
    ws.close()


def test_empty_allow_list_refuses_every_origin(fresh_wire: Any) -> None:
    wire = _with_allow_list(fresh_wire, ())
    sid = wire.add_session("hdr", "alice")
    token = wire.csrf("hdr", sid)
    for origin in (f"https://{wire.info.host}", "https://localhost"):
        error = _rejected(lambda o=origin: wire.ws_proxy("hdr", sid=sid, token=token, origin=o))
        assert error.response.status_code == 403


def test_a_site_reached_by_ip_with_an_allowed_origin_opens(wire: Any) -> None:
    # The client dials 127.0.0.1 (in the certificate) and sends an Origin of the allow list:
    # the Origin decides, not the name dialled.
    sid = wire.add_session("hdr", wire.new_user())
    token = wire.csrf("hdr", sid)
    port = wire.info["ports"]["proxy"]
    url = f"wss://127.0.0.1:{port}/hdr/app/engineData?qlik-csrf-token={token}"

    def socket(origin: str) -> Any:
        return connect(
            url,
            ssl=wire.ssl_context(),
            origin=Origin(origin),
            additional_headers={"Cookie": f"X-Qlik-Session-hdr={sid}"},
            proxy=None,
            legacy=True,  # websockets 17: connect directly, not as a context manager
            open_timeout=10,
        )

    assert _rejected(lambda: socket("https://127.0.0.1")).response.status_code == 403
    ws = socket(f"https://{wire.info.host}")
    assert wire.recv(ws)["method"] == "OnConnected"
    ws.close()


def test_no_implicit_localhost_when_the_host_is_another_name(fresh_wire: Any) -> None:
    import uuid

    import requests

    # The configured host name does not resolve here: every call dials localhost instead.
    wire = fresh_wire(host="qlik.example.test", certificate_names=("localhost",))
    assert wire.info.virtual_proxy("hdr")["allow_list"] == ["qlik.example.test"]
    ports = wire.info["ports"]
    sid = str(uuid.uuid4())
    body = {"UserDirectory": "QLIKEMU", "UserId": "alice", "SessionId": sid}
    base = f"https://localhost:{ports['qps']}"
    assert wire.qps("POST", "/qps/hdr/session", body, base=base).status_code == 201
    token = requests.get(
        f"https://localhost:{ports['proxy']}/hdr/qps/csrftoken",
        cookies={"X-Qlik-Session-hdr": sid},
        verify=wire.verify,
        timeout=10,
    ).headers["qlik-csrf-token"]
    url = f"wss://localhost:{ports['proxy']}/hdr/app/engineData?qlik-csrf-token={token}"

    def socket(origin: str) -> Any:
        return connect(
            url,
            ssl=wire.ssl_context(),
            origin=Origin(origin),
            additional_headers={"Cookie": f"X-Qlik-Session-hdr={sid}"},
            proxy=None,
            legacy=True,  # websockets 17: connect directly, not as a context manager
            open_timeout=10,
        )

    assert _rejected(lambda: socket("https://localhost")).response.status_code == 403
    ws = socket("https://qlik.example.test")
    assert wire.recv(ws)["method"] == "OnConnected"
    ws.close()


def test_reconnect_with_identity_attaches(wire: Any, sales_id: str) -> None:
    user = wire.new_user()
    sid = wire.add_session("hdr", user)
    token = wire.csrf("hdr", sid)
    route = f"app/{sales_id}/identity/one/ttl/30"
    states = []
    for _ in range(2):
        ws = wire.ws_proxy("hdr", route, sid=sid, token=token, origin="https://localhost")
        states.append(wire.recv(ws)["params"]["qSessionState"])
        ws.close()
    assert states == ["SESSION_CREATED", "SESSION_ATTACHED"]


def test_logout_closes_open_sockets_with_notification(wire: Any, sockets: list[Any]) -> None:
    user = wire.new_user()
    sid, ws = wire.ws_session("hdr", user)
    sockets.append(ws)
    assert wire.recv(ws)["method"] == "OnConnected"
    wire.proxy("DELETE", "/hdr/qps/user", cookies=wire.cookie("hdr", sid))
    note = wire.recv(ws)
    assert note["method"] == "OnSessionLoggedOut"
    assert note["params"]["severity"] == "fatal"
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)


def test_qps_session_delete_closes_sockets(wire: Any, sockets: list[Any]) -> None:
    sid, ws = wire.ws_session("hdr", wire.new_user())
    sockets.append(ws)
    wire.recv(ws)
    assert wire.qps("DELETE", f"/qps/hdr/session/{sid}").status_code == 200
    assert wire.recv(ws)["method"] == "OnSessionClosed"


def test_inactivity_timeout_pushes_on_session_timed_out(fresh_wire: Any) -> None:
    wire = fresh_wire(session_timeout=0.5)
    _sid, ws = wire.ws_session("hdr", "alice")
    assert wire.recv(ws)["method"] == "OnConnected"
    note = wire.recv(ws, timeout=10)
    assert note["method"] == "OnSessionTimedOut"
    ws.close()


def test_socket_traffic_keeps_the_session_alive(fresh_wire: Any) -> None:
    wire = fresh_wire(session_timeout=0.8)
    sid, ws = wire.ws_session("hdr", "alice")
    wire.recv(ws)
    rpc = wire.rpc(ws)
    for _ in range(4):
        time.sleep(0.4)
        assert "result" in rpc.call("EngineVersion")
    assert wire.qps("GET", f"/qps/hdr/session/{sid}").status_code == 200
    ws.close()


# -- legacy behaviour ----------------------------------------------------------------------


@pytest.fixture
def legacy(fresh_wire: Any) -> Any:
    return fresh_wire(release="2024-05")


def test_legacy_unauthenticated_socket_must_authenticate(legacy: Any) -> None:
    ws = legacy.ws_proxy("", "app/engineData")
    ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "GetDocList"}))
    info = legacy.recv(ws)
    assert info["method"] == "OnAuthenticationInformation"
    assert info["params"]["mustAuthenticate"] is True
    assert info["params"]["loginUri"].startswith(
        legacy.info.auth_url + "/internal_windows_authentication/?targetUri="
    )
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)


def test_legacy_header_authenticated_socket(legacy: Any) -> None:
    # The seed article's websocket: header authentication on the upgrade, no cookie.
    ws = legacy.ws_proxy("hdr", "app/", headers={"header_user": "user1"})
    assert legacy.recv(ws)["params"]["qSessionState"] == "SESSION_CREATED"
    ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "GetDocList"}))
    info = legacy.recv(ws)
    assert info["method"] == "OnAuthenticationInformation"
    assert info["params"]["mustAuthenticate"] is False
    assert info["params"]["userId"] == "user1"
    answer = legacy.recv(ws)
    assert answer["id"] == 1
    assert answer["result"]["qDocList"]
    ws.close()


def test_legacy_ticket_in_the_socket_url(legacy: Any) -> None:
    issued = legacy.qps(
        "POST", "/qps/ticket/ticket", {"UserDirectory": "QLIKEMU", "UserId": "bob"}
    ).json()
    ws = legacy.ws_proxy("ticket", "app/engineData", query=f"QlikTicket={issued['Ticket']}")
    assert legacy.recv(ws)["method"] == "OnConnected"
    rpc = legacy.rpc(ws)
    assert rpc.call("GetAuthenticatedUser")["result"]["qReturn"].endswith("UserId=bob")
    assert rpc.notifications[0]["params"]["mustAuthenticate"] is False
    ws.close()


def test_legacy_sixth_session_gets_max_parallel_sessions(fresh_wire: Any) -> None:
    # The "login" limit: the socket's own login is refused (the default is in test_emu_limit).
    legacy = fresh_wire(release="2024-05", session_limit="login")
    for _ in range(5):
        legacy.add_session("hdr", "carol")
    ws = legacy.ws_proxy("hdr", "app/engineData", headers={"header_user": "carol"})
    note = legacy.recv(ws)
    assert note["method"] == "OnMaxParallelSessionsExceeded"
    assert "SessionCount: '5'" in note["params"]["message"]
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)


# -- direct engine ---------------------------------------------------------------------------


def test_direct_engine_with_certificate_and_user(wire: Any, sales_id: str) -> None:
    ws = wire.ws_direct(f"app/{sales_id}", user="UserDirectory=QLIKEMU;UserId=dave")
    assert wire.recv(ws)["params"]["qSessionState"] == "SESSION_CREATED"
    rpc = wire.rpc(ws)
    assert rpc.call("GetAuthenticatedUser")["result"]["qReturn"].endswith("UserId=dave")
    ws.close()


@pytest.mark.parametrize(
    "user",
    [None, "UserDirectory:QLIKEMU;UserId:alice", "UserId=alice", "UserDirectory=; UserId=x"],
    ids=["missing", "colons", "no-directory", "empty-directory"],
)
def test_direct_engine_without_valid_user_header_is_refused(wire: Any, user: str | None) -> None:
    error = _rejected(lambda: wire.ws_direct(user=user))
    assert error.response.status_code == 403
    assert b"X-Qlik-User" in error.response.body


def test_direct_engine_with_prefix_is_404(wire: Any) -> None:
    error = _rejected(lambda: wire.ws_direct("hdr/app/engineData"))
    assert error.response.status_code == 404


def test_direct_engine_user_header_is_url_decoded(wire: Any) -> None:
    ws = wire.ws_direct(user="UserDirectory=QLIK%20EMU; UserId=j%C3%B6rg")
    try:
        wire.recv(ws)
        me = wire.rpc(ws).call("GetAuthenticatedUser")["result"]["qReturn"]
        assert "QLIK EMU" in me and "jörg" in me
    finally:
        ws.close()


# -- clients that go away ---------------------------------------------------------------------


def _wait_until_closed(wire: Any) -> None:
    deadline = time.monotonic() + 10
    while wire.info.counters()["websockets_open"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wire.info.counters()["websockets_open"] == 0


@pytest.mark.parametrize("release", ["2024-05", "2024-11"])
def test_a_client_that_leaves_mid_call_is_no_server_error(
    fresh_wire: Any, release: str, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    wire = fresh_wire(release=release)
    for _ in range(3):
        sid = wire.add_session("hdr", wire.new_user())
        token = wire.csrf("hdr", sid) if release == "2024-11" else None
        ws = wire.ws_proxy("hdr", sid=sid, token=token, origin="https://localhost")
        wire.recv(ws)
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "GetDocList"}))
        ws.socket.shutdown(socket.SHUT_RDWR)  # gone before the answer, without a close frame
        ws.socket.close()
    _wait_until_closed(wire)
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors == [], [r.getMessage() for r in errors]
