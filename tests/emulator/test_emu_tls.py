"""Real TLS on every listener; mutual TLS on QPS, QRS and the direct engine."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from qlikauth.pki import make_test_pki
from qlikauth.testing.emulator import EmulatorInfo

MUTUAL = ("qps_url", "qrs_url", "engine_url")


def _request_over_tls(url: str, context: ssl.SSLContext) -> bytes:
    """Handshake, send one GET, and return whatever comes back (b"" if the peer hung up)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    request = (
        f"GET /qps/session?xrfkey=0123456789abcdef HTTP/1.1\r\nHost: {host}\r\n"
        "X-Qlik-Xrfkey: 0123456789abcdef\r\nConnection: close\r\n\r\n"
    )
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(request.encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        return data


def _refused(url: str, context: ssl.SSLContext) -> str | None:
    """Why the server refused us (TLS alert, reset, hang-up), or None if it answered."""
    try:
        reply = _request_over_tls(url, context)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        # TLS 1.3 finishes the client side first; the server's refusal arrives on read.
        return type(exc).__name__
    return None if reply else "hung up without answering"


@pytest.mark.parametrize("listener", MUTUAL)
def test_no_client_certificate_means_no_handshake(
    qlik_emulator: EmulatorInfo, listener: str
) -> None:
    context = ssl.create_default_context(cafile=str(qlik_emulator.root))
    assert _refused(qlik_emulator[listener], context) is not None


@pytest.mark.parametrize("listener", MUTUAL)
def test_client_certificate_of_another_root_is_refused(
    qlik_emulator: EmulatorInfo, listener: str, tmp_path: Path
) -> None:
    stranger = make_test_pki(tmp_path / "other", ["localhost"], pfx_password="x")
    context = ssl.create_default_context(cafile=str(qlik_emulator.root))
    context.load_cert_chain(stranger.client, stranger.client_key)
    assert _refused(qlik_emulator[listener], context) is not None


def test_client_certificate_of_the_root_is_accepted(qlik_emulator: EmulatorInfo) -> None:
    context = ssl.create_default_context(cafile=str(qlik_emulator.root))
    context.load_cert_chain(*qlik_emulator.client_cert)
    reply = _request_over_tls(qlik_emulator.qps_url, context)
    assert reply.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_server_certificate_names_localhost_and_loopback_ip(
    qlik_emulator: EmulatorInfo, name: str
) -> None:
    port = urlsplit(qlik_emulator.proxy_url).port or 0
    context = ssl.create_default_context(cafile=str(qlik_emulator.root))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_server_certificate_does_not_name_other_hosts(qlik_emulator: EmulatorInfo) -> None:
    port = urlsplit(qlik_emulator.proxy_url).port or 0
    context = ssl.create_default_context(cafile=str(qlik_emulator.root))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="qlik.example.com")


def test_certificate_names_setting_reproduces_a_hostname_mismatch(
    qlik_emulator_factory: Callable[..., EmulatorInfo],
) -> None:
    info = qlik_emulator_factory(certificate_names=("qlik.example.test",))
    assert info["certificate_names"] == ["qlik.example.test"]
    port = urlsplit(info.proxy_url).port or 0
    context = ssl.create_default_context(cafile=str(info.root))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="localhost"),
    ):
        context.wrap_socket(raw, server_hostname="localhost")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="qlik.example.test") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_info_file_lists_certificates_and_pfx_password(qlik_emulator: EmulatorInfo) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    names = {p.name for p in qlik_emulator.certs_dir.iterdir()}
    assert {"root.pem", "server.pem", "client.pem", "client_key.pem", "client.pfx"} <= names
    key, cert, _chain = pkcs12.load_key_and_certificates(
        qlik_emulator.client_pfx.read_bytes(), qlik_emulator.pfx_password.encode()
    )
    assert key is not None and cert is not None
