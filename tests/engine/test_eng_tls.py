"""TLS on memory buffers (the asyncio driver's), and TLS verification on both drivers.

:class:`TlsBuffers` is driven first against a server-side ``SSLObject`` in memory (real
TLS, a test PKI, no socket); then both drivers meet the emulator's direct engine port
through a loopback forwarder on an address its certificate does not name, and without a
client certificate: each must refuse with the specific TLS error, whichever TLS it runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import direct_credentials

from qlikauth.engine import AsyncEngineConnection, EngineConnection
from qlikauth.engine._tls import TlsBuffers
from qlikauth.errors import HostnameMismatchError, TlsError
from qlikauth.pki import TestPki, make_test_pki
from qlikauth.site import Site


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(tmp_path_factory.mktemp("tls-pki"), pfx_password="unused")


class MemoryServer:
    """The server's side of one TLS connection, in memory."""

    def __init__(self, pki: TestPki) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server, pki.server_key)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def receive(self, data: bytes) -> bytes:
        """Digest the client's bytes; return the server's answer."""
        self.incoming.write(data)
        with contextlib.suppress(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.outgoing.read()

    def read_all(self) -> bytes:
        text = b""
        with contextlib.suppress(ssl.SSLWantReadError):
            while chunk := self.tls.read(65536):
                text += chunk
        return text

    def send(self, data: bytes) -> bytes:
        self.tls.write(data)
        return self.outgoing.read()


def client_context(pki: TestPki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.root))


def handshake(client: TlsBuffers, server: MemoryServer) -> None:
    to_server = client.start()
    while not client.handshake_done:
        to_client = server.receive(to_server)
        to_server, plaintext = client.receive(to_client)
        assert plaintext == []
    tickets = server.receive(to_server)  # TLS 1.3 session tickets, after the handshake
    assert client.receive(tickets) == (b"", [])


def test_a_handshake_then_plaintext_both_ways_queued_until_it_is_done(pki: TestPki) -> None:
    client, server = TlsBuffers(client_context(pki), "localhost"), MemoryServer(pki)
    assert client.send(b"early") == b""  # before the handshake: held back, nothing sent
    handshake(client, server)
    assert client.handshake_done
    # The held-back plaintext went out with the handshake's last flight.
    assert server.read_all() == b"early"
    assert server.receive(client.send(b"GET / HTTP/1.1\r\n\r\n")) == b""
    assert server.read_all() == b"GET / HTTP/1.1\r\n\r\n"
    big = bytes(range(256)) * 200  # four records
    to_client = server.send(b"small") + server.send(big)
    _, plaintext = client.receive(to_client[:7])  # not even a whole record header
    assert plaintext == []
    _, plaintext = client.receive(to_client[7:])
    assert b"".join(plaintext) == b"small" + big
    assert all(len(chunk) <= 16384 for chunk in plaintext)
    assert not client.ended


def test_a_close_notify_ends_the_stream_and_is_answered(pki: TestPki) -> None:
    client, server = TlsBuffers(client_context(pki), "localhost"), MemoryServer(pki)
    handshake(client, server)
    with contextlib.suppress(ssl.SSLWantReadError):
        server.tls.unwrap()
    _, plaintext = client.receive(server.outgoing.read())
    assert plaintext == [b""] and client.ended
    assert client.send(b"late") == b""  # nothing goes out after the end
    goodbye = client.close()
    server.incoming.write(goodbye)
    server.tls.unwrap()  # the client's close_notify completes the server's shutdown


def test_the_socket_ending_without_a_close_notify_ends_the_stream(pki: TestPki) -> None:
    client, server = TlsBuffers(client_context(pki), "localhost"), MemoryServer(pki)
    handshake(client, server)
    _, plaintext = client.receive(server.send(b"last words"))
    assert plaintext == [b"last words"]
    _, plaintext = client.receive(b"")
    assert plaintext == [b""] and client.ended


def test_verification_is_the_contexts(pki: TestPki, tmp_path: Path) -> None:
    other = make_test_pki(tmp_path, pfx_password="unused")
    untrusted = TlsBuffers(client_context(other), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        handshake(untrusted, MemoryServer(pki))
    misnamed = TlsBuffers(client_context(pki), "qlik.example.com")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(misnamed, MemoryServer(pki))
    cut = TlsBuffers(client_context(pki), "localhost")
    cut.start()
    with pytest.raises(ssl.SSLError):
        cut.receive(b"")  # the server hung up during the handshake


# -- both drivers against the emulator --------------------------------------------------------


@contextlib.contextmanager
def forwarder(host: str, target: tuple[str, int]) -> Iterator[int]:
    """Relay TCP from ``host`` (an address the server certificate does not name) to
    ``target``; yields the port."""
    listener = socket.create_server((host, 0))
    stop = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def relay(peer: socket.socket) -> None:
        with peer, socket.create_connection(target) as upstream:
            back = threading.Thread(target=pipe, args=(upstream, peer), daemon=True)
            back.start()
            pipe(peer, upstream)
            back.join(10)

    def serve() -> None:
        with listener, contextlib.suppress(OSError):
            while not stop.is_set():
                peer, _ = listener.accept()
                threading.Thread(target=relay, args=(peer,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(10)


def connect(driver: str, url: str, context: ssl.SSLContext) -> None:
    headers = direct_credentials().websocket_headers()
    if driver == "sync":
        EngineConnection.connect(url, ssl_context=context, headers=headers, timeout=10).close()
        return

    async def main() -> None:
        connection = await AsyncEngineConnection.connect(
            url, ssl_context=context, headers=headers, timeout=10
        )
        await connection.close()

    asyncio.run(main())


@pytest.mark.parametrize("driver", ["sync", "asyncio"])
def test_a_certificate_for_another_name_is_refused(site: Site, driver: str) -> None:
    with forwarder("127.0.0.2", (site.host, site.engine_port)) as port:
        url = f"wss://127.0.0.2:{port}/app/engineData"
        with pytest.raises(HostnameMismatchError, match=r"127\.0\.0\.2"):
            connect(driver, url, direct_credentials().ssl_context(site))


@pytest.mark.parametrize("driver", ["sync", "asyncio"])
def test_the_direct_port_without_a_client_certificate_is_refused(site: Site, driver: str) -> None:
    url = direct_credentials().websocket_url(site)
    with pytest.raises(TlsError):
        connect(driver, url, site.tls.server_context())


@pytest.mark.parametrize("driver", ["sync", "asyncio"])
def test_with_the_sites_context_the_direct_port_opens(site: Site, driver: str) -> None:
    connect(
        driver, direct_credentials().websocket_url(site), direct_credentials().ssl_context(site)
    )
