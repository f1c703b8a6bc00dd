"""``/_emulator/``: token, counters, each fault, reset; and the minimal QRS."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed, ConnectionClosedError


def _admin(wire: Any, method: str, path: str, token: str | None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(
        method,
        wire.info.admin_url + path,
        json=body,
        headers=headers,
        verify=wire.verify,
        timeout=10,
    )


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_admin_api_needs_the_token(wire: Any, token: str | None) -> None:
    for method, path in (("GET", "counters"), ("POST", "faults"), ("POST", "reset")):
        response = _admin(wire, method, path, token, {})
        assert response.status_code == 401, path


def test_counters_follow_what_happens(fresh_wire: Any) -> None:
    wire = fresh_wire()
    info = wire.info
    before = info.counters()
    assert before["sessions_created"] == 0
    sid = wire.add_session("hdr", "alice")
    ticket = wire.qps(
        "POST", "/qps/ticket/ticket", {"UserDirectory": "QLIKEMU", "UserId": "bob"}
    ).json()["Ticket"]
    wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    token = wire.csrf("hdr", sid)
    ws = wire.ws_proxy(
        "hdr", f"app/{info.app_id('Sales')}", sid=sid, token=token, origin="https://localhost"
    )
    wire.recv(ws)
    q_url = wire.rpc(ws).export(info.app_id("Sales"))
    ws.close()
    assert wire.proxy("GET", f"/hdr{q_url}", cookies=wire.cookie("hdr", sid)).status_code == 200
    after = info.counters()
    assert after["sessions_created"] == 2
    assert after["sessions_active"] == 2
    assert after["tickets_issued"] == 1
    assert after["tickets_consumed"] == 1
    assert after["websocket_connections"] == 1
    assert after["downloads"] == 1
    assert after["engine"]["exports"] == 1


def test_reset_forgets_sessions_tickets_and_counts(fresh_wire: Any) -> None:
    wire = fresh_wire()
    sid = wire.add_session("hdr", "alice")
    wire.info.set_faults(latency_ms=1)
    counts = wire.info.reset()
    assert counts["sessions_active"] == 0
    assert counts["sessions_created"] == 0
    assert wire.proxy("GET", "/hdr/hub/", cookies=wire.cookie("hdr", sid)).status_code == 401
    assert _admin(wire, "GET", "faults", wire.info.admin_token).json()["latency_ms"] == 0


def test_fault_error_rate(fresh_wire: Any) -> None:
    wire = fresh_wire()
    wire.info.set_faults(error_rate=1.0)
    assert wire.proxy("GET", "/hdr/hub/", headers={"header_user": "alice"}).status_code == 503
    assert wire.qps("GET", "/qps/session").status_code == 503
    assert wire.info.counters()["faults_injected"] == 2
    wire.info.set_faults(error_rate=0.0)
    assert wire.proxy("GET", "/hdr/hub/", headers={"header_user": "alice"}).status_code == 200


def test_fault_latency(fresh_wire: Any) -> None:
    wire = fresh_wire()
    wire.info.set_faults(latency_ms=400)
    started = time.monotonic()
    assert wire.qps("GET", "/qps/session").status_code == 200
    # A lower bound only: the emulator waited at least as long as asked.
    assert time.monotonic() - started >= 0.4


def test_fault_drop_websockets(fresh_wire: Any) -> None:
    wire = fresh_wire()
    _sid, ws = wire.ws_session("hdr", "alice")
    assert wire.recv(ws)["method"] == "OnConnected"
    wire.info.set_faults(drop_websockets=True)
    with pytest.raises(ConnectionClosedError):
        ws.recv(timeout=5)  # cut without a close frame
    _sid2, again = wire.ws_session("hdr", "bob")
    with pytest.raises(ConnectionClosed):
        again.recv(timeout=5)
    wire.info.set_faults(drop_websockets=False)
    _sid3, ok = wire.ws_session("hdr", "carol")
    assert wire.recv(ok)["method"] == "OnConnected"
    ok.close()


def test_fault_truncate_downloads(fresh_wire: Any) -> None:
    wire = fresh_wire()
    sales = wire.info.app_id("Sales")
    sid, ws = wire.ws_session("hdr", "alice", f"app/{sales}")
    wire.recv(ws)
    q_url = wire.rpc(ws).export(sales)
    ws.close()
    wire.info.set_faults(truncate_downloads=True)
    with pytest.raises(requests.exceptions.RequestException):
        wire.proxy("GET", f"/hdr{q_url}", cookies=wire.cookie("hdr", sid))
    assert wire.info.counters()["downloads"] == 0
    wire.info.set_faults(truncate_downloads=False)
    whole = wire.proxy("GET", f"/hdr{q_url}", cookies=wire.cookie("hdr", sid))
    assert whole.status_code == 200
    assert len(whole.content) == int(whole.headers["Content-Length"])


def test_invalid_faults_are_400(wire: Any) -> None:
    for body in ({"error_rate": 2}, {"latency_ms": -1}, {"drop_websockets": "yes"}, {"x": 1}):
        response = _admin(wire, "POST", "faults", wire.info.admin_token, body)
        assert response.status_code == 400, body


# -- QRS -----------------------------------------------------------------------------------


def test_qrs_about_and_apps(wire: Any) -> None:
    about = wire.qps("GET", "/qrs/about", base=wire.info.qrs_url)
    assert about.status_code == 200
    assert "buildVersion" in about.json()
    apps = wire.qps(
        "GET",
        "/qrs/app",
        base=wire.info.qrs_url,
        headers={"X-Qlik-User": "UserDirectory=INTERNAL; UserId=sa_repository"},
    )
    assert {a["id"] for a in apps.json()} == {a["id"] for a in wire.info.apps}


def test_qrs_refusals(wire: Any) -> None:
    no_key = requests.get(
        wire.info.qrs_url + "/qrs/about", cert=wire.cert, verify=wire.verify, timeout=10
    )
    assert no_key.status_code == 403
    assert no_key.text == "XSRF prevention check failed. Possible XSRF discovered."
    malformed = wire.qps(
        "GET",
        "/qrs/app",
        base=wire.info.qrs_url,
        headers={"X-Qlik-User": "UserDirectory:Internal;UserId:sa_repository"},
    )
    assert malformed.status_code == 403
    assert "X-Qlik-User" in malformed.text
