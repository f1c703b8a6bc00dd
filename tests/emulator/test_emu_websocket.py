"""Engine websockets through the proxy (both CSRF behaviours) and direct on the engine port."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus


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


def test_allow_list_origin_is_accepted(fresh_wire: Any) -> None:
    import dataclasses

    from qlikauth.emulator.config import default_config

    base = default_config()
    vps = tuple(
        dataclasses.replace(vp, allow_list=("mashup.example",)) if vp.prefix == "hdr" else vp
        for vp in base.virtual_proxies
    )
    wire = fresh_wire(virtual_proxies=vps)
    sid = wire.add_session("hdr", "alice")
    token = wire.csrf("hdr", sid)
    ws = wire.ws_proxy("hdr", sid=sid, token=token, origin="https://mashup.example:8443")
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
    return fresh_wire(legacy_websocket=True)


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


def test_legacy_sixth_session_gets_max_parallel_sessions(legacy: Any) -> None:
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
