"""The per-user session limit (5), as live servers were seen to apply it and as an option.

Default ``session_limit = "websocket"``: HTTP logins and the QPS Session API make sessions
beyond the limit; while the user holds more live sessions than the limit (on all virtual
proxies together), every new engine websocket of that user gets
``OnMaxParallelSessionsExceeded`` and is closed. Option ``"login"``: the login beyond the
limit is refused (HTTP 403 with the text, or the notification on a socket that logs in).
"""

from __future__ import annotations

from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed


def _socket(wire: Any, prefix: str, sid: str) -> Any:
    """A websocket on a session, the way the wire's release wants it."""
    if wire.info.release == "2024-11":
        token = wire.csrf(prefix, sid)
        return wire.ws_proxy(prefix, sid=sid, token=token, origin="https://localhost")
    return wire.ws_proxy(prefix, sid=sid)


def _refused(wire: Any, ws: Any) -> dict[str, Any]:
    """The notification that refused the socket (then the socket is closed)."""
    note: dict[str, Any] = wire.recv(ws)
    assert note["method"] == "OnMaxParallelSessionsExceeded", note
    assert note["params"]["severity"] == "fatal"
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    return note


def _works(wire: Any, ws: Any) -> None:
    try:
        assert wire.recv(ws)["method"] == "OnConnected"
    finally:
        ws.close()


@pytest.mark.parametrize("release", ["2024-05", "2024-11"])
def test_logins_beyond_the_limit_then_the_websocket_is_refused(
    fresh_wire: Any, release: str
) -> None:
    wire = fresh_wire(release=release)
    user = wire.new_user()
    # Sessions on several virtual proxies count together (one user, one licence).
    sids = [(p, wire.add_session(p, user)) for p in ("hdr", "hdr", "jwt", "", "ticket")]
    open_ws = _socket(wire, *sids[0])  # a socket opened while within the limit
    assert wire.recv(open_ws)["method"] == "OnConnected"
    sixth = wire.qps("POST", "/qps/hdr/session", {"UserDirectory": "QLIKEMU", "UserId": user})
    assert sixth.status_code == 201
    seventh = wire.proxy("GET", "/hdr/hub/", headers={"header_user": user})
    assert seventh.status_code == 200
    sids.append(("hdr", seventh.cookies["X-Qlik-Session-hdr"]))
    assert len(wire.qps("GET", f"/qps/hdr/user/QLIKEMU/{user}").json()) == 4
    for prefix, sid in (sids[1], sids[-1]):
        note = _refused(wire, _socket(wire, prefix, sid))
        assert note["params"]["message"] == (
            f"Access denied for user 'QLIKEMU\\{user}': the maximum number of parallel "
            "sessions is reached. SessionCount: '7', limit: 5."
        )
    # The socket accepted before stays open; another user is not affected.
    assert "result" in wire.rpc(open_ws).call("EngineVersion")
    open_ws.close()
    _works(wire, _socket(wire, "hdr", wire.add_session("hdr", wire.new_user())))
    # Back within the limit (two sessions ended), the user's sockets open again.
    for prefix, sid in sids[-2:]:
        head = f"/{prefix}" if prefix else ""
        assert wire.qps("DELETE", f"/qps{head}/session/{sid}").status_code == 200
    wire.qps("DELETE", f"/qps/hdr/session/{sixth.json()['SessionId']}")
    _works(wire, _socket(wire, *sids[0]))


def test_may_2024_socket_that_logs_in_beyond_the_limit(fresh_wire: Any) -> None:
    wire = fresh_wire(release="2024-05")
    user = wire.new_user()
    for _ in range(5):
        wire.add_session("hdr", user)
    ws = wire.ws_proxy("hdr", headers={"header_user": user})
    assert "X-Qlik-Session-hdr=" in ws.response.headers["Set-Cookie"]
    assert "SessionCount: '6'" in _refused(wire, ws)["params"]["message"]
    assert len(wire.qps("GET", f"/qps/hdr/user/QLIKEMU/{user}").json()) == 6


@pytest.mark.parametrize("release", ["2024-05", "2024-11"])
def test_login_option_refuses_the_login_and_keeps_sockets_working(
    fresh_wire: Any, release: str
) -> None:
    wire = fresh_wire(release=release, session_limit="login")
    assert wire.info["session_limit"] == "login"
    user = wire.new_user()
    sids = [wire.add_session("hdr", user) for _ in range(5)]
    refused = wire.proxy("GET", "/hdr/hub/", headers={"header_user": user})
    assert refused.status_code == 403
    assert refused.text == (
        f"Access denied for user 'QLIKEMU\\{user}': the maximum number of parallel "
        "sessions is reached. SessionCount: '5', limit: 5."
    )
    assert "X-Qlik-Session-hdr" not in refused.cookies
    qps = wire.qps("POST", "/qps/hdr/session", {"UserDirectory": "QLIKEMU", "UserId": user})
    assert qps.status_code == 403
    # At the limit, not beyond it: the five sessions' sockets open.
    _works(wire, _socket(wire, "hdr", sids[0]))


def test_anonymous_sessions_do_not_count(fresh_wire: Any) -> None:
    import dataclasses

    from qlikauth.emulator.config import default_config

    vps = tuple(
        dataclasses.replace(vp, anonymous="always") if vp.prefix == "ticket" else vp
        for vp in default_config().virtual_proxies
    )
    wire = fresh_wire(virtual_proxies=vps, max_parallel_sessions=1)
    sids = [wire.proxy("GET", "/ticket/hub/").cookies["X-Qlik-Session-ticket"] for _ in range(3)]
    _works(wire, _socket(wire, "ticket", sids[-1]))
