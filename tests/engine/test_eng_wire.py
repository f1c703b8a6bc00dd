"""The websocket framing driven by hand (bytes in, bytes out), then silent servers on loopback.

The first tests play the server's side of RFC 6455 byte by byte against
:class:`~qlikauth.engine.wire.Wire`; the last ones give both connectors a real server that
accepts the upgrade and then never answers, so that the keepalive and the closing timeout
must end the socket; the last one checks that the emulator answers the keepalive pings.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import zlib

import pytest
from engine_support import direct_credentials, silent_server, upgrade_answer
from websockets.exceptions import InvalidStatus

from qlikauth.engine import AsyncEngineConnection, EngineConnection
from qlikauth.engine._transport import ConnectOptions
from qlikauth.engine.connection import Opening
from qlikauth.engine.wire import Wire
from qlikauth.errors import EngineClosedError, EngineTimeoutError
from qlikauth.site import Site

URL = "wss://qlik.example.com:4747/app/engineData?qlik-csrf-token=t0k3n"


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A frame as a server sends it (unmasked)."""
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def opened(**options: object) -> Wire:
    wire = Wire(ConnectOptions(url=URL, **options))  # type: ignore[arg-type]
    (request,) = wire.upgrade()
    received = wire.receive(upgrade_answer(request))
    assert received.upgraded and received.upgrade_error is None
    assert wire.open
    return wire


def opcodes(chunks: list[bytes]) -> list[int]:
    """The opcodes of the client frames in ``chunks`` (one frame per chunk here)."""
    return [chunk[0] & 0x0F for chunk in chunks if chunk]


def test_the_upgrade_carries_the_options_headers_origin_and_user_agent() -> None:
    wire = Wire(
        ConnectOptions(url=URL, headers={"Cookie": "X-Qlik-Session=s"}, origin="https://qlik")
    )
    (request,) = wire.upgrade()
    text = request.decode()
    assert text.startswith("GET /app/engineData?qlik-csrf-token=t0k3n HTTP/1.1\r\n")
    assert "\r\nHost: qlik.example.com:4747\r\n" in text
    assert "\r\nCookie: X-Qlik-Session=s\r\n" in text
    assert "\r\nOrigin: https://qlik\r\n" in text
    assert "\r\nUser-Agent: qlikauth/" in text
    assert "permessage-deflate" in text
    own = Wire(ConnectOptions(url=URL, headers={"User-Agent": "mine/1"}))
    (request,) = own.upgrade()
    assert request.decode().count("User-Agent") == 1
    assert "\r\nUser-Agent: mine/1\r\n" in request.decode()


OFFERS = (
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10, "
    "permessage-deflate; client_max_window_bits=10"
)


@pytest.mark.parametrize(
    ("answer", "server_bits"),
    [
        ("permessage-deflate; server_max_window_bits=12", 12),
        ("permessage-deflate; server_max_window_bits=9; client_max_window_bits=9", 9),
        ("permessage-deflate", 15),  # a server that cannot bound its window takes the second
        (None, None),  # no compression at all
    ],
)
def test_compression_is_offered_with_bounded_windows(
    answer: str | None, server_bits: int | None
) -> None:
    # An idle session keeps its zlib state: bounded windows keep that to about 25 KB.
    wire = Wire(ConnectOptions(url=URL))
    (request,) = wire.upgrade()
    assert f"\r\nSec-WebSocket-Extensions: {OFFERS}\r\n" in request.decode()
    head = upgrade_answer(request)
    if answer is not None:
        head = head.replace(b"\r\n\r\n", f"\r\nSec-WebSocket-Extensions: {answer}\r\n\r\n".encode())
    text = b'{"jsonrpc":"2.0","method":"OnConnected","params":{"qSessionState":"SESSION_CREATED"}}'
    if server_bits is None:
        greeting = server_frame(0x1, text)
    else:
        packer = zlib.compressobj(wbits=-server_bits)
        deflated = (packer.compress(text) + packer.flush(zlib.Z_SYNC_FLUSH))[:-4]
        greeting = bytes([0x80 | 0x40 | 0x1, len(deflated)]) + deflated  # RSV1: compressed
    received = wire.receive(head + greeting)
    assert received.upgraded and received.upgrade_error is None
    assert received.texts == [text]
    (sent,) = wire.send_text('{"jsonrpc":"2.0","id":1,"method":"GetDocList","handle":-1}')
    assert bool(sent[0] & 0x40) is (answer is not None)  # compressed once negotiated


def test_a_refused_upgrade_is_the_handshake_error() -> None:
    wire = Wire(ConnectOptions(url=URL))
    wire.upgrade()
    received = wire.receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    assert received.upgraded
    assert isinstance(received.upgrade_error, InvalidStatus)
    assert received.upgrade_error.response.status_code == 403
    assert not wire.open


def test_the_server_closing_before_answering_ends_the_upgrade() -> None:
    wire = Wire(ConnectOptions(url=URL))
    wire.upgrade()
    assert not wire.receive(b"HTTP/1.1 101 Swi").upgraded
    received = wire.receive(b"")
    assert received.upgraded
    assert received.upgrade_error is not None


def test_texts_split_across_reads_and_fragmented_messages_arrive_whole() -> None:
    wire = Wire(ConnectOptions(url=URL))
    (request,) = wire.upgrade()
    # The answer and the first message in one read, as servers often send them.
    greeting = server_frame(0x1, b'{"method":"OnConnected"}')
    received = wire.receive(upgrade_answer(request) + greeting)
    assert received.upgraded
    assert received.texts == [b'{"method":"OnConnected"}']
    frame = server_frame(0x1, b'{"id":1}')
    assert wire.receive(frame[:3]).texts == []
    assert wire.receive(frame[3:]).texts == [b'{"id":1}']
    pieces = server_frame(0x1, b'{"id":', fin=False) + server_frame(0x0, b"2}")
    assert wire.receive(pieces).texts == [b'{"id":2}']


def test_pings_are_answered_and_an_unanswered_keepalive_fails_the_socket() -> None:
    wire = opened()
    assert opcodes(wire.receive(server_frame(0x9, b"hi")).outgoing) == [0xA]
    chunks, answered = wire.keepalive()
    assert answered
    (ping,) = chunks
    assert opcodes(chunks) == [0x9]
    # The client masks its frames: unmask the ping's 4-byte payload to answer it.
    mask, masked = ping[2:6], ping[6:10]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
    wire.receive(server_frame(0xA, payload))
    chunks, answered = wire.keepalive()
    assert answered
    chunks, answered = wire.keepalive()  # the second ping went unanswered
    assert not answered
    assert opcodes(chunks) == [0x8]
    assert not wire.open


def test_the_closing_handshake_then_the_end_of_the_stream() -> None:
    wire = opened()
    assert opcodes(wire.close()) == [0x8]
    assert wire.closing
    assert wire.close() == []
    wire.receive(server_frame(0x8, close_payload(1000, "bye")))
    assert not wire.closed  # the server closes the TCP connection first
    wire.receive(b"")
    assert wire.closed
    assert wire.close_exc.rcvd is not None
    assert (wire.close_exc.rcvd.code, wire.close_exc.rcvd.reason) == (1000, "bye")


def test_a_server_close_is_answered() -> None:
    wire = opened()
    received = wire.receive(server_frame(0x8, close_payload(1001)))
    assert opcodes(received.outgoing) == [0x8]
    assert wire.closing


# -- silent servers ---------------------------------------------------------------------------


class QuickKeepalive(EngineConnection):
    _keepalive_interval = 0.1


class AsyncQuickKeepalive(AsyncEngineConnection):
    _keepalive_interval = 0.1


class QuickClose(EngineConnection):
    _close_timeout = 0.1


class AsyncQuickClose(AsyncEngineConnection):
    _close_timeout = 0.1


def test_an_unanswered_keepalive_ends_the_socket() -> None:
    with silent_server() as port, pytest.raises(EngineClosedError, match="keepalive"):
        QuickKeepalive.connect(f"ws://127.0.0.1:{port}/app/engineData", timeout=60)


def test_an_unanswered_keepalive_ends_the_socket_on_asyncio() -> None:
    async def main() -> None:
        with pytest.raises(EngineClosedError, match="keepalive"):
            await AsyncQuickKeepalive.connect(f"ws://127.0.0.1:{port}/app/engineData", timeout=60)

    with silent_server() as port:
        asyncio.run(main())


def test_a_server_that_never_closes_is_cut_off() -> None:
    with silent_server() as port, pytest.raises(EngineTimeoutError, match="no greeting"):
        QuickClose.connect(f"ws://127.0.0.1:{port}/app/engineData", timeout=0.5)


def test_a_server_that_never_closes_is_cut_off_on_asyncio() -> None:
    async def main() -> None:
        with pytest.raises(EngineTimeoutError, match="no greeting"):
            await AsyncQuickClose.connect(f"ws://127.0.0.1:{port}/app/engineData", timeout=0.5)

    with silent_server() as port:
        asyncio.run(main())


# -- keepalive against the emulator -----------------------------------------------------------


class CountingKeepalive(EngineConnection):
    """Pings every 50 ms and counts the pings whose predecessor was answered."""

    _keepalive_interval = 0.05

    def __init__(self, opening: Opening) -> None:
        self.answered = 0
        self.three_answered = threading.Event()
        super().__init__(opening)

    def _keepalive(self) -> bool:
        answered = super()._keepalive()
        if answered:
            self.answered += 1
            if self.answered >= 3:
                self.three_answered.set()
        return answered


def test_the_emulator_answers_keepalive_pings(site: Site, sales_app: str) -> None:
    with CountingKeepalive.open(site, direct_credentials(), sales_app, timeout=10) as conn:
        assert conn.three_answered.wait(30)
        assert not conn.closed
        assert conn.open_doc().evaluate("1 + 1") == 2
