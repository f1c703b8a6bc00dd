"""Websockets through the proxy: messages relayed both ways, and a close by either side
passed on with its code, as the tool would see it talking to Qlik directly."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from proxy_support import end_sessions, new_user, proxied
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.sync.client import ClientConnection

from qlikauth.client import QlikClient
from qlikauth.proxy import LocalProxy
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.wsclient import connect


def direct(client: QlikClient, app_id: str) -> ClientConnection:
    """A websocket straight to Qlik with the client's session (the comparison)."""
    options = client.websocket_options(app_id)
    return connect(**options.websockets_kwargs(), open_timeout=10)


def through(proxy: LocalProxy, app_id: str, **kwargs: object) -> ClientConnection:
    return connect(proxy.websocket_url(app_id), open_timeout=10, **kwargs)  # type: ignore[arg-type]


def greeting(ws: ClientConnection) -> str:
    return str(json.loads(ws.recv(timeout=10))["params"]["qSessionState"])


def wait_for(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 10
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def test_messages_are_relayed_both_ways(qlik_emulator_release: EmulatorInfo) -> None:
    app = qlik_emulator_release.app_id("Sales")
    with proxied(qlik_emulator_release) as (_client, proxy), through(proxy, app) as ws:
        assert greeting(ws) == "SESSION_CREATED"
        for i, method in enumerate(("GetDocList", "EngineVersion", "GetAuthenticatedUser")):
            ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "handle": -1, "method": method,
                                "params": {}}))  # fmt: skip
            answer = json.loads(ws.recv(timeout=10))
            while "id" not in answer:  # before November 2024: OnAuthenticationInformation
                assert answer["method"] == "OnAuthenticationInformation"
                answer = json.loads(ws.recv(timeout=10))
            assert answer["id"] == i
            assert "result" in answer, answer


def test_a_close_by_the_tool_reaches_qlik_with_its_code(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    app = info.app_id("Sales")
    with proxied(info) as (client, proxy):
        seen = []
        for opener in (lambda: direct(client, app), lambda: through(proxy, app)):
            with opener() as ws:
                greeting(ws)
                assert info.counters()["websockets_open"] == 1
                ws.close(code=4000, reason="suspended")  # enigma.js's code for a suspend
                seen.append((ws.close_code, ws.close_reason))
            assert wait_for(lambda: info.counters()["websockets_open"] == 0)
    assert seen[1] == seen[0]


def test_a_close_by_qlik_reaches_the_tool_with_its_notice_and_code(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    app = info.app_id("Sales")
    user = new_user()
    with (
        proxied(info, user) as (client, proxy),
        direct(client, app) as plain,
        through(proxy, app, additional_headers={"X-Qlik-Session": "second"}) as ws,
    ):
        greeting(plain)
        greeting(ws)
        end_sessions(info, "hdr", "QLIKEMU", user)  # an administrator logs the user out
        notices = []
        for socket in (plain, ws):
            notices.append(json.loads(socket.recv(timeout=10))["method"])
            with pytest.raises(ConnectionClosed):
                socket.recv(timeout=10)
    assert notices[1] == notices[0] == "OnSessionLoggedOut"
    assert (ws.close_code, ws.close_reason) == (plain.close_code, plain.close_reason)


def test_qlik_going_away_reaches_the_tool_as_1001(qlik_emulator_factory: object) -> None:
    info = qlik_emulator_factory()  # type: ignore[operator]
    app = info.app_id("Sales")
    with proxied(info) as (_client, proxy), through(proxy, app) as ws:
        greeting(ws)
        info.emulator.stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "emulator stopping")


def test_a_connection_qlik_drops_is_dropped_for_the_tool(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    app = info.app_id("Sales")
    with proxied(info) as (_client, proxy), through(proxy, app) as ws:
        greeting(ws)
        info.set_faults(drop_websockets=True)  # cut without a close frame
        with pytest.raises(ConnectionClosedError) as dropped:
            ws.recv(timeout=10)
    assert dropped.value.rcvd is None  # no close frame: 1006, as Qlik's side ended
    assert ws.close_code == 1006


def test_the_tools_authorization_never_reaches_the_upgrade(
    qlik_emulator_release: EmulatorInfo,
) -> None:
    # Since November 2024 Qlik refuses an upgrade that carries Authorization (CSWSH check).
    app = qlik_emulator_release.app_id("Sales")
    headers = {"Authorization": "Bearer a-token-of-the-tool", "Cookie": "X-Qlik-Session-hdr=x"}
    with (
        proxied(qlik_emulator_release) as (_client, proxy),
        through(proxy, app, additional_headers=headers) as ws,
    ):
        assert greeting(ws) == "SESSION_CREATED"
