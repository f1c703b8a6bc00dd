"""LdapValidator against a loopback server that refuses StartTLS: no password leaves."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from qlikauth.errors import HandshakeError
from qlikauth.validators import LdapValidator

# LDAPMessage { messageID 1, ExtendedResponse { resultCode protocolError(2), "", "" } }
_STARTTLS_REFUSED = bytes.fromhex("300c02010178070a010204000400")


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
                conn.sendall(_STARTTLS_REFUSED)
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
