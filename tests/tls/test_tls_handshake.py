"""qlikauth.tls.handshake: failed handshakes explained, against real TLS servers on loopback."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tls_support import PFX_PASSWORD, TlsServer, failure_of, server_side_context, talk

from qlikauth.errors import (
    CertificateChainError,
    CertificateValidityError,
    HandshakeError,
    HostnameMismatchError,
    TlsError,
)
from qlikauth.pki import TestPki, make_test_pki
from qlikauth.tls import CertificateBundle, TlsConfig
from qlikauth.tls.handshake import check_connection, explain_tls_failure, server_certificate_names


def test_hostname_mismatch_lists_the_names_the_certificate_holds(
    site: TestPki, https: TlsServer
) -> None:
    config = TlsConfig(root=site.root)
    exc = failure_of(config.server_context(), "127.0.0.1", https.port)
    assert isinstance(exc, ssl.SSLCertVerificationError)

    error = explain_tls_failure(exc, host="127.0.0.1", port=https.port, config=config)

    assert isinstance(error, HostnameMismatchError)
    assert error.host == "127.0.0.1"
    assert error.server_names == ("localhost",)
    assert "localhost" in error.message
    assert "127.0.0.1" in error.message
    assert error.hint is not None
    assert "localhost" in error.hint
    assert "hosts file" in error.hint
    assert "IP address" in error.hint


def test_hostname_mismatch_is_found_inside_a_wrapping_library_error(
    site: TestPki, https: TlsServer
) -> None:
    context = TlsConfig(root=site.root).server_context()
    with pytest.raises(urllib.error.URLError) as info:
        urllib.request.urlopen(f"https://127.0.0.1:{https.port}/", context=context, timeout=5)

    error = explain_tls_failure(info.value, host="127.0.0.1", port=https.port)

    assert isinstance(error, HostnameMismatchError)
    assert error.server_names == ("localhost",)


def test_mutual_tls_server_names_are_fetched_with_the_client_certificate(
    site: TestPki, mtls: TlsServer
) -> None:
    bundle = CertificateBundle.from_folder(site.directory)
    config = TlsConfig(bundle=bundle)
    exc = failure_of(config.client_context(), "127.0.0.1", mtls.port)
    error = explain_tls_failure(exc, host="127.0.0.1", port=mtls.port, config=config)
    assert isinstance(error, HostnameMismatchError)
    assert error.server_names == ("localhost",)
    assert server_certificate_names("127.0.0.1", mtls.port, bundle=bundle) == ("localhost",)


def test_unknown_ca_says_to_pass_the_site_root(
    site: TestPki, other: TestPki, https: TlsServer
) -> None:
    config = TlsConfig(root=other.root)
    exc = failure_of(config.server_context(), "localhost", https.port)
    error = explain_tls_failure(exc, host="localhost", port=https.port, config=config)
    assert isinstance(error, CertificateChainError)
    assert error.hint is not None
    assert str(other.root) in error.hint
    assert "root.pem" in error.hint
    assert "qlikauth test root CA" in error.hint  # the issuer the server certificate names


def test_system_trust_store_does_not_know_the_site_root(https: TlsServer) -> None:
    config = TlsConfig()
    exc = failure_of(config.server_context(), "localhost", https.port)
    error = explain_tls_failure(exc, host="localhost", port=https.port, config=config)
    assert isinstance(error, CertificateChainError)
    assert error.hint is not None
    assert "root.pem" in error.hint


def test_mutual_tls_refuses_a_connection_without_client_certificate(
    site: TestPki, mtls: TlsServer
) -> None:
    config = TlsConfig(root=site.root)
    exc = failure_of(config.server_context(), "localhost", mtls.port)
    error = explain_tls_failure(exc, host="localhost", port=mtls.port, config=config)
    assert isinstance(error, HandshakeError)
    assert error.hint is not None
    assert "client.pem" in error.hint
    assert mtls.wait_for_error(), "the server side saw the refused handshake"


def test_tls12_mutual_tls_refusal_and_names(site: TestPki, mtls12: TlsServer) -> None:
    bundle = CertificateBundle.from_folder(site.directory)
    config = TlsConfig(bundle=bundle)
    assert talk(config.client_context(), "localhost", mtls12.port) == b"hello"

    without = TlsConfig(root=site.root)
    exc = failure_of(without.server_context(), "localhost", mtls12.port)
    error = explain_tls_failure(exc, host="localhost", port=mtls12.port, config=without)
    assert isinstance(error, HandshakeError)
    assert "without a client certificate" in error.message

    exc = failure_of(config.client_context(), "127.0.0.1", mtls12.port)
    error = explain_tls_failure(exc, host="127.0.0.1", port=mtls12.port, config=config)
    assert isinstance(error, HostnameMismatchError)
    assert error.server_names == ("localhost",)


def test_mutual_tls_refuses_a_client_certificate_of_another_site(
    site: TestPki, other: TestPki, mtls: TlsServer
) -> None:
    foreign = CertificateBundle(
        client_cert=other.client, client_key=other.client_key, root=site.root
    )
    config = TlsConfig(bundle=foreign)
    exc = failure_of(config.client_context(), "localhost", mtls.port)
    error = explain_tls_failure(exc, host="localhost", port=mtls.port, config=config)
    assert isinstance(error, HandshakeError)
    assert error.hint is not None
    assert "not signed by this site's root" in error.hint


def test_server_rejects_an_expired_client_certificate(site: TestPki, tmp_path: Path) -> None:
    old = make_test_pki(
        tmp_path / "old",
        ["localhost"],
        pfx_password=PFX_PASSWORD,
        client_not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
        client_days=1,
    )
    server = TlsServer(server_side_context(old, client_roots=old.root))
    try:
        config = TlsConfig(bundle=CertificateBundle.from_folder(old.directory))
        exc = failure_of(config.client_context(), "localhost", server.port)
        error = explain_tls_failure(exc, host="localhost", port=server.port, config=config)
    finally:
        server.close()
    assert isinstance(error, CertificateValidityError)


def test_check_connection_reports_success_and_rejection(site: TestPki, mtls: TlsServer) -> None:
    good = TlsConfig(bundle=CertificateBundle.from_folder(site.directory))
    [finding] = check_connection("localhost", mtls.port, config=good)
    assert finding.level == "ok"
    [finding] = check_connection("localhost", mtls.port, config=TlsConfig(root=site.root))
    assert finding.level == "error"
    assert finding.hint is not None
    assert "client" in finding.hint
    [finding] = check_connection("127.0.0.1", mtls.port, config=good)
    assert finding.level == "error"
    assert "localhost" in finding.message


def test_explain_an_unrelated_failure_is_a_handshake_error() -> None:
    error = explain_tls_failure(ConnectionRefusedError(111, "refused"), host="h", port=1)
    assert isinstance(error, HandshakeError)
    assert isinstance(error, TlsError)


def test_check_connection_reads_a_silent_close_as_a_refusal(site: TestPki) -> None:
    # Some servers (the emulator, by choice) refuse a client certificate by closing the
    # connection after the handshake without an alert.
    context = server_side_context(site)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
            pass  # handshake done, then close without a word

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        config = TlsConfig(bundle=CertificateBundle.from_folder(site.directory))
        [finding] = check_connection("localhost", port, config=config)
    finally:
        thread.join(5)
        listener.close()
    assert finding.level == "error"
    assert "closed the connection" in finding.message
