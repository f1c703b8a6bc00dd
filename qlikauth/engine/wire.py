"""The engine websocket's framing, with no I/O: websockets' Sans-I/O client protocol.

The connections own their sockets and call this with the bytes they read; it answers with
the bytes to write back (pongs, the closing handshake), the texts that arrived and the
upgrade's outcome. Only the documented Sans-I/O layer of ``websockets`` is used
(``ClientProtocol``: ``connect``, ``send_request``, ``receive_data``, ``events_received``,
``data_to_send``, ``send_text``, ...), so no driver depends on its threads or tasks.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

from qlikauth.engine._transport import ConnectOptions, websocket_logger

__all__ = ["Received", "Wire"]

#: The close code websockets uses when a keepalive ping goes unanswered.
_KEEPALIVE_FAILED = 1011
#: Frames that carry a message (the engine sends text; binary is read the same way).
_DATA = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})

#: permessage-deflate's zlib state stays with each socket while it sits idle: with zlib's
#: windows (32 KiB each way, memLevel 5) that was about 190 KB a session. The server's
#: window is bounded to 4 KiB (websockets' own server default), the client's, which only
#: compresses small requests, to 1 KiB: about 25 KB. A server that cannot bound its window
#: gets the second offer, which bounds the client's alone.
_SERVER_WINDOW_BITS = 12
_CLIENT_WINDOW_BITS = 10
_CLIENT_MEMORY_LEVEL = 3
_COMPRESSION_OFFERS = (
    ClientPerMessageDeflateFactory(
        server_max_window_bits=_SERVER_WINDOW_BITS,
        client_max_window_bits=_CLIENT_WINDOW_BITS,
        compress_settings={"memLevel": _CLIENT_MEMORY_LEVEL},
    ),
    ClientPerMessageDeflateFactory(
        client_max_window_bits=_CLIENT_WINDOW_BITS,
        compress_settings={"memLevel": _CLIENT_MEMORY_LEVEL},
    ),
)


@dataclass(slots=True)
class Received:
    """What one read brought: bytes to write back, whole texts, and the upgrade's outcome."""

    outgoing: list[bytes]
    texts: list[bytes] = field(default_factory=list)
    #: Set once the server answered the upgrade: ``None`` when it opened the websocket.
    upgrade_error: Exception | None = None
    upgraded: bool = False
    #: The closing handshake started; the stream ended.
    closing: bool = False
    ended: bool = False


class Wire:
    """One engine websocket's protocol state: bytes in, bytes and texts out."""

    def __init__(self, options: ConnectOptions) -> None:
        uri = parse_uri(options.url)
        self.host, self.port, self.secure = uri.host, uri.port, uri.secure
        self._options = options
        self._protocol = ClientProtocol(
            uri,
            origin=Origin(options.origin) if options.origin else None,
            extensions=list(_COMPRESSION_OFFERS),
            max_size=options.max_message_size,
            logger=websocket_logger,
        )
        self._fragments: list[bytes] = []
        self._ping: bytes | None = None

    @property
    def open(self) -> bool:
        """True while messages can be sent."""
        return self._protocol.state is State.OPEN

    @property
    def closing(self) -> bool:
        """True once the closing handshake started, until the socket ends."""
        return self._protocol.state is State.CLOSING

    @property
    def closed(self) -> bool:
        """True once the stream ended (after the closing handshake, or without one)."""
        return self._protocol.state is State.CLOSED

    @property
    def close_exc(self) -> ConnectionClosed:
        """How the websocket closed (the close frames exchanged), once it did."""
        return self._protocol.close_exc

    def upgrade(self) -> list[bytes]:
        """The upgrade request, with the options' headers and User-Agent."""
        request = self._protocol.connect()
        for name, value in self._options.headers.items():
            request.headers[name] = value
        if self._options.user_agent is not None and "User-Agent" not in request.headers:
            request.headers["User-Agent"] = self._options.user_agent
        self._protocol.send_request(request)
        return self._protocol.data_to_send()

    def receive(self, data: bytes) -> Received:
        """Digest bytes read from the socket; ``b""`` is the end of the stream."""
        protocol = self._protocol
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        received = Received(protocol.data_to_send())
        for event in protocol.events_received():
            if isinstance(event, Frame):
                self._frame(event, received)
            elif isinstance(event, Response):
                received.upgraded = True
        if protocol.handshake_exc is not None:
            received.upgraded = True
            received.upgrade_error = protocol.handshake_exc
        state = protocol.state
        received.closing, received.ended = state is State.CLOSING, state is State.CLOSED
        return received

    def send_text(self, text: str) -> list[bytes]:
        """The frames of one text message."""
        self._protocol.send_text(text.encode())
        return self._protocol.data_to_send()

    def close(self) -> list[bytes]:
        """Start the closing handshake (nothing to send when it already started)."""
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(1000)
        return self._protocol.data_to_send()

    def keepalive(self) -> tuple[list[bytes], bool]:
        """A keepalive ping, and whether the previous one was answered.

        Unanswered, the websocket fails instead (close code 1011, as websockets does): the
        caller then aborts the socket.
        """
        if not self.open:
            return [], True
        if self._ping is not None:
            self._protocol.fail(_KEEPALIVE_FAILED, "keepalive ping timeout")
            return self._protocol.data_to_send(), False
        self._ping = secrets.token_bytes(4)
        self._protocol.send_ping(self._ping)
        return self._protocol.data_to_send(), True

    def _frame(self, frame: Frame, received: Received) -> None:
        if frame.opcode in _DATA:
            if frame.fin and not self._fragments:
                received.texts.append(bytes(frame.data))
            elif frame.fin:
                self._fragments.append(bytes(frame.data))
                received.texts.append(b"".join(self._fragments))
                self._fragments.clear()
            else:
                self._fragments.append(bytes(frame.data))
        elif frame.opcode is Opcode.PONG and frame.data == self._ping:
            self._ping = None
