"""The websocket relay, watched from the Qlik side: a small websocket server stands where
Qlik would and records what arrives, so close codes, reasons, binary frames and the chosen
subprotocol can be compared on both ends. (The emulator answers every close with 1000, so
what reached it cannot be seen there.)"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from aiohttp import WSMsgType, web
from websockets.exceptions import ConnectionClosed

from qlikauth.auth.base import Authenticator
from qlikauth.client import QlikClient
from qlikauth.credentials import Credentials
from qlikauth.http import Flow
from qlikauth.proxy import LocalProxy
from qlikauth.site import Site, VirtualProxy
from qlikauth.testing.wsclient import connect

COOKIE = "X-Qlik-Session-obs-HTTP"


@dataclass(frozen=True)
class GivenSessionAuth(Authenticator):
    """A session cookie the observer accepts, without a login round trip."""

    name: ClassVar[str] = "given-session"
    creates_session: ClassVar[bool] = False

    session_id: str

    def login(self, site: Site) -> Flow[Credentials]:
        return Credentials(cookies={COOKIE: self.session_id}, cookie_name=COOKIE)
        yield  # sends nothing


@dataclass
class Observer:
    """A websocket server in a thread: echoes frames, records closes and upgrade headers."""

    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    closes: list[tuple[int | None, str]] = field(default_factory=list)
    upgrades: list[dict[str, str]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    close_first: tuple[int, str] | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.upgrades.append(dict(request.headers))
        self.targets.append(request.raw_path)
        if request.cookies.get(COOKIE) != self.session_id:
            return web.Response(status=403, text="unknown session")
        ws = web.WebSocketResponse(protocols=("qix.b", "qix.a"), autoclose=False)
        await ws.prepare(request)
        if self.close_first is not None:
            await ws.close(code=self.close_first[0], message=self.close_first[1].encode())
            return ws
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(f"echo {msg.data}")
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
            elif msg.type is WSMsgType.CLOSE:
                self.closes.append((msg.data, msg.extra))
                await ws.close(code=4321, message=b"observer says bye")
                return ws
            else:
                return ws


def _serve(observer: Observer) -> Iterator[Observer]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", observer.handle)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        observer.port = int(runner.addresses[0][1])
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    ready.wait()
    try:
        yield observer
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def observer() -> Iterator[Observer]:
    yield from _serve(Observer())


@pytest.fixture
def proxy(observer: Observer) -> Iterator[LocalProxy]:
    site = Site(
        "127.0.0.1", VirtualProxy("obs", "X-Qlik-Session-obs"), scheme="http",
        proxy_port=observer.port,
    )  # fmt: skip
    with (
        QlikClient(site, GivenSessionAuth(observer.session_id)) as client,
        LocalProxy(client) as running,
    ):
        yield running


def test_the_tools_close_code_and_reason_reach_qlik_and_qliks_answer_comes_back(
    observer: Observer, proxy: LocalProxy
) -> None:
    with connect(proxy.websocket_url("app1"), open_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "echo hello"
        ws.close(code=4000, reason="suspended")
    assert observer.closes == [(4000, "suspended")]
    assert (ws.close_code, ws.close_reason) == (4321, "observer says bye")


def test_qliks_close_code_and_reason_reach_the_tool(observer: Observer, proxy: LocalProxy) -> None:
    observer.close_first = (4002, "engine went away")
    with (
        connect(proxy.websocket_url("app1"), open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, "engine went away")


def test_binary_frames_subprotocols_and_the_upgrade_headers(
    observer: Observer, proxy: LocalProxy
) -> None:
    url = proxy.websocket_url("app1")
    headers = {"X-Qlik-Session": "ident", "Origin": "http://x"}
    protocols = ["qix.a"]
    with connect(url, open_timeout=10, subprotocols=protocols, additional_headers=headers) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "qix.a"
        ws.send(b"\x00\x01\x02binary")
        assert ws.recv(timeout=10) == b"yranib\x02\x01\x00"
    upgrade = {k.lower(): v for k, v in observer.upgrades[-1].items()}
    assert upgrade["origin"] == f"http://127.0.0.1:{observer.port}"  # the site's, not the tool's
    assert upgrade["cookie"] == f"{COOKIE}={observer.session_id}"
    assert upgrade["x-qlik-session"] == "ident"  # gopherciser's engine-session key passes
    assert observer.targets[-1] == "/obs/app/app1"  # the access token stays with the proxy
    assert proxy.token is not None
    assert all(proxy.token not in value for value in upgrade.values())
