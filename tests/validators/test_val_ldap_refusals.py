"""LdapValidator against a loopback server that refuses StartTLS: no password leaves."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from qlikauth.errors import HandshakeError
from qlikauth.validators import LdapValidator

# ExtendedResponse { resultCode protocolError(2), matchedDN "", diagnosticMessage "" }
_REFUSAL = bytes.fromhex("78070a010204000400")


def refusal_for(request: bytes) -> bytes:
    """An LDAPMessage answering ``request`` (same message ID) with protocolError."""
    # SEQUENCE header: 0x30, then a short or long form length.
    offset = 2 if request[1] < 0x80 else 2 + (request[1] & 0x7F)
    assert request[offset] == 0x02  # INTEGER messageID
    message_id = request[offset : offset + 2 + request[offset + 1]]
    body = message_id + _REFUSAL
    return bytes([0x30, len(body)]) + body


class RefusingServer:
    """Answers the first request with protocolError and records every byte it receives."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            try:
                self.received += conn.recv(4096)
                conn.sendall(refusal_for(bytes(self.received)))
                while chunk := conn.recv(4096):
                    self.received += chunk
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=10)


@pytest.fixture
def refusing_server() -> Iterator[RefusingServer]:
    server = RefusingServer()
    yield server
    server.close()


def test_refused_starttls_sends_no_password(refusing_server: RefusingServer) -> None:
    password = "Never-on-the-wire-1!"
    validator = LdapValidator(f"ldap://127.0.0.1:{refusing_server.port}", start_tls=True, timeout=5)
    with pytest.raises(HandshakeError):
        validator.validate("alice@corp.example.com", password)
    refusing_server.thread.join(timeout=10)
    assert b"1.3.6.1.4.1.1466.20037" in refusing_server.received  # the StartTLS request
    assert password.encode() not in refusing_server.received
    assert b"alice" not in refusing_server.received
