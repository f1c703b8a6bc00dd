"""qlikauth.tls against real TLS handshakes on loopback, with certificates from the test PKI."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from qlikauth.errors import (
    CertificateChainError,
    CertificateFileError,
    CertificateMismatchError,
    CertificateValidityError,
    ConfigurationError,
    HandshakeError,
    HostnameMismatchError,
    TLSError,
)
from qlikauth.handshake import check_connection, explain_tls_failure, server_certificate_names
from qlikauth.pki import TestPki, make_test_pki
from qlikauth.tls import (
    CertificateBundle,
    Finding,
    InsecureTLSWarning,
    KeyPermissionWarning,
    TlsConfig,
    certificate_names,
    diagnose,
    host_matches,
)

PFX_PASSWORD = "correct horse battery"
KEY_PASSPHRASE = "key-passphrase-42"
POSIX = os.name == "posix"


# --------------------------------------------------------------------------- loopback server


class TlsServer:
    """A TLS server on 127.0.0.1 that answers each handshake with ``hello`` and closes."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.errors: list[BaseException] = []
        self.peers: list[dict[str, Any]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.peers.append(tls.getpeercert() or {})
                    tls.sendall(b"hello")
            except OSError as exc:  # ssl.SSLError included
                with self._changed:
                    self.errors.append(exc)
                    self._changed.notify_all()
            finally:
                conn.close()

    def wait_for_error(self) -> bool:
        """Wait until the server side has recorded a failed handshake (the client may see
        the alert before the server thread gets to record it)."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self.errors), timeout=10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def server_side_context(pki: TestPki, *, client_roots: Path | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server, pki.server_key)
    if client_roots is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_roots)
    return context


def talk(context: ssl.SSLContext, host: str, port: int) -> bytes:
    """Connect, read the greeting; a TLS 1.3 client-certificate refusal surfaces on read."""
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.recv(16)


def failure_of(context: ssl.SSLContext, host: str, port: int) -> OSError:
    try:
        talk(context, host, port)
    except OSError as exc:  # ssl.SSLError included
        return exc
    pytest.fail(f"the connection to {host}:{port} was expected to fail")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A site whose server certificate names localhost only (no IP address)."""
    return make_test_pki(tmp_path_factory.mktemp("site"), ["localhost"], pfx_password=PFX_PASSWORD)


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """Another site: same layout, a different root."""
    return make_test_pki(tmp_path_factory.mktemp("other"), ["localhost"], pfx_password=PFX_PASSWORD)


@pytest.fixture
def https(site: TestPki) -> Iterator[TlsServer]:
    """The site's proxy: server certificate, no client certificate asked."""
    server = TlsServer(server_side_context(site))
    yield server
    server.close()


@pytest.fixture
def mtls(site: TestPki) -> Iterator[TlsServer]:
    """The site's QPS: requires a client certificate signed by the site's root."""
    server = TlsServer(server_side_context(site, client_roots=site.root))
    yield server
    server.close()


@pytest.fixture
def mtls12(site: TestPki) -> Iterator[TlsServer]:
    """The QPS again, limited to TLS 1.2: the client certificate is judged mid-handshake."""
    context = server_side_context(site, client_roots=site.root)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    server = TlsServer(context)
    yield server
    server.close()


def pem_folder(pki: TestPki, target: Path, **overrides: Path) -> Path:
    """Copy a PKI's QMC-style PEM export to ``target``, replacing files by name."""
    target.mkdir(mode=0o700)
    for name in ("client.pem", "client_key.pem", "root.pem", "server.pem", "server_key.pem"):
        shutil.copy(overrides.get(name.replace(".", "_"), pki.directory / name), target / name)
    return target


def encrypted_key(pki: TestPki, target: Path, passphrase: str) -> Path:
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), None)
    target.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
    )
    target.chmod(0o600)
    return target


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def warnings_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "warning"]


# --------------------------------------------------------------------------- handshakes


def test_server_context_verifies_the_site_root(site: TestPki, https: TlsServer) -> None:
    context = TlsConfig(root=site.root).server_context()
    assert talk(context, "localhost", https.port) == b"hello"


def test_contexts_require_tls12_hostname_and_certificate(site: TestPki) -> None:
    config = TlsConfig(bundle=CertificateBundle.from_folder(site.directory))
    for context in (config.server_context(), config.client_context()):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
        assert context.check_hostname is True
        assert context.verify_mode == ssl.CERT_REQUIRED


def test_mutual_tls_presents_the_client_certificate(site: TestPki, mtls: TlsServer) -> None:
    config = TlsConfig(bundle=CertificateBundle.from_folder(site.directory))
    assert talk(config.client_context(), "localhost", mtls.port) == b"hello"
    subject = dict(item[0] for item in mtls.peers[-1]["subject"])
    assert subject["commonName"] == "QlikClient"


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


# --------------------------------------------------------------------------- PFX


def test_pfx_with_the_right_password_does_mutual_tls(
    site: TestPki, mtls: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    bundle = CertificateBundle.from_pfx(site.client_pfx, password=PFX_PASSWORD, root=site.root)
    assert bundle.client_key is None
    assert bundle.is_pfx

    context = TlsConfig(bundle=bundle).client_context()

    assert list(scratch.iterdir()) == [], "the extracted key must not outlive the loading"
    assert talk(context, "localhost", mtls.port) == b"hello"
    assert not errors(bundle.check())


def test_pfx_with_a_wrong_password_is_a_certificate_file_error(site: TestPki) -> None:
    bundle = CertificateBundle.from_pfx(site.client_pfx, password="wrong one", root=site.root)
    with pytest.raises(CertificateFileError) as info:
        TlsConfig(bundle=bundle).client_context()
    assert "wrong password" in str(info.value)
    assert "wrong one" not in str(info.value)
    with pytest.raises(CertificateFileError):
        bundle.validate()
    [error] = errors(bundle.check())
    assert "wrong password" in error.message


def test_pfx_folder_needs_its_password(site: TestPki, tmp_path: Path) -> None:
    folder = tmp_path / "windows-export"
    folder.mkdir()
    shutil.copy(site.client_pfx, folder / "client.pfx")
    der = x509.load_pem_x509_certificate(site.root.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    (folder / "root.cer").write_bytes(der)
    with pytest.raises(CertificateFileError, match="needs its password"):
        CertificateBundle.from_folder(folder)

    bundle = CertificateBundle.from_folder(folder, passphrase=PFX_PASSWORD)

    assert bundle.root == folder / "root.cer"
    assert bundle.subject().startswith("CN=QlikClient")
    assert not errors(bundle.check())
    assert "signs the client certificate" in " ".join(f.message for f in bundle.check())


def test_passphrase_never_appears_in_repr(site: TestPki) -> None:
    bundle = CertificateBundle.from_pfx(site.client_pfx, password=PFX_PASSWORD)
    config = TlsConfig(bundle=bundle)
    assert PFX_PASSWORD not in repr(bundle)
    assert PFX_PASSWORD not in repr(config)
    assert PFX_PASSWORD not in str(bundle)


# --------------------------------------------------------------------------- encrypted keys


def test_encrypted_key_with_its_passphrase_does_mutual_tls(
    site: TestPki, mtls: TlsServer, tmp_path: Path
) -> None:
    folder = pem_folder(site, tmp_path / "enc")
    encrypted_key(site, folder / "client_key.pem", KEY_PASSPHRASE)
    bundle = CertificateBundle.from_folder(folder, passphrase=KEY_PASSPHRASE)
    assert talk(TlsConfig(bundle=bundle).client_context(), "localhost", mtls.port) == b"hello"
    assert not errors(bundle.check())


def test_encrypted_key_without_passphrase_asks_for_it(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "enc")
    encrypted_key(site, folder / "client_key.pem", KEY_PASSPHRASE)
    bundle = CertificateBundle.from_folder(folder)
    with pytest.raises(CertificateFileError, match="encrypted; give its passphrase"):
        TlsConfig(bundle=bundle).client_context()
    [error] = errors(bundle.check())
    assert "give its passphrase" in error.message


def test_encrypted_key_with_a_wrong_passphrase(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "enc")
    encrypted_key(site, folder / "client_key.pem", KEY_PASSPHRASE)
    bundle = CertificateBundle.from_folder(folder, passphrase="not it")
    with pytest.raises(CertificateFileError, match="wrong passphrase") as info:
        TlsConfig(bundle=bundle).client_context()
    assert "not it" not in str(info.value)
    with pytest.raises(CertificateFileError, match="wrong passphrase"):
        bundle.validate()


# --------------------------------------------------------------------------- validity


def _bundle_of(pki: TestPki) -> CertificateBundle:
    return CertificateBundle.from_folder(pki.directory)


def test_expired_client_certificate(tmp_path: Path) -> None:
    pki = make_test_pki(
        tmp_path,
        ["localhost"],
        pfx_password=PFX_PASSWORD,
        client_not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
        client_days=2,
    )
    bundle = _bundle_of(pki)
    [error] = errors(bundle.check())
    assert "expired" in error.message
    assert "client certificate" in error.message
    with pytest.raises(CertificateValidityError, match="expired"):
        bundle.validate()


def test_not_yet_valid_client_certificate(tmp_path: Path) -> None:
    pki = make_test_pki(
        tmp_path,
        ["localhost"],
        pfx_password=PFX_PASSWORD,
        client_not_before=dt.datetime.now(dt.UTC) + dt.timedelta(days=2),
        client_days=30,
    )
    bundle = _bundle_of(pki)
    [error] = errors(bundle.check())
    assert "not valid yet" in error.message
    assert error.hint is not None
    assert "clock" in error.hint
    with pytest.raises(CertificateValidityError, match="not valid yet"):
        bundle.validate()


def test_certificate_expiring_soon_is_a_warning(site: TestPki) -> None:
    bundle = _bundle_of(site)
    soon = bundle.expires() - dt.timedelta(days=3)
    findings = bundle.check(now=soon)
    assert not errors(findings)
    assert any("expires soon" in f.message for f in warnings_of(findings))
    later = bundle.expires() + dt.timedelta(days=1)
    assert any("expired" in f.message for f in errors(bundle.check(now=later)))


# --------------------------------------------------------------------------- mixed-up files


def test_key_of_another_export_is_a_mismatch(site: TestPki, other: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "mixed", client_key_pem=other.client_key)
    bundle = CertificateBundle.from_folder(folder)
    [error] = errors(bundle.check())
    assert "does not belong" in error.message
    with pytest.raises(CertificateMismatchError):
        bundle.validate()
    with pytest.raises(CertificateMismatchError):
        TlsConfig(bundle=bundle).client_context()


def test_root_that_does_not_sign_the_client(site: TestPki, other: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "mixed", root_pem=other.root)
    bundle = CertificateBundle.from_folder(folder)
    messages = [f.message for f in errors(bundle.check())]
    assert any("does not sign the client certificate" in m for m in messages)
    with pytest.raises(CertificateChainError):
        bundle.validate()


def test_swapped_client_and_server_certificates(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(
        site, tmp_path / "swapped", client_pem=site.server, client_key_pem=site.server_key
    )
    [error] = errors(CertificateBundle.from_folder(folder).check())
    assert "not a client certificate" in error.message
    assert error.hint is not None
    assert "swapped" in error.hint


def test_server_files_problems_do_not_fail_a_client_check(
    site: TestPki, other: TestPki, tmp_path: Path
) -> None:
    folder = pem_folder(site, tmp_path / "odd-server", server_pem=other.server)
    bundle = CertificateBundle.from_folder(folder)
    findings = bundle.check()
    assert not errors(findings)
    messages = [f.message for f in warnings_of(findings)]
    assert any("does not sign server certificate" in m for m in messages)
    assert any("server_key.pem does not belong" in m for m in messages)
    bundle.validate()


def test_client_pem_holding_its_key_needs_no_key_file(
    site: TestPki, mtls: TlsServer, tmp_path: Path
) -> None:
    folder = tmp_path / "combined"
    folder.mkdir()
    combined = folder / "client.pem"
    combined.write_bytes(site.client.read_bytes() + site.client_key.read_bytes())
    combined.chmod(0o600)
    shutil.copy(site.root, folder / "root.pem")
    bundle = CertificateBundle.from_folder(folder)
    assert bundle.client_key is None
    assert not errors(bundle.check())
    assert talk(TlsConfig(bundle=bundle).client_context(), "localhost", mtls.port) == b"hello"


# --------------------------------------------------------------------------- missing and bad files


def test_missing_files_are_named_with_those_present(site: TestPki, tmp_path: Path) -> None:
    folder = tmp_path / "partial"
    folder.mkdir()
    shutil.copy(site.client, folder / "client.pem")
    with pytest.raises(CertificateFileError) as info:
        CertificateBundle.from_folder(folder)
    message = info.value.message
    assert "missing client_key.pem, root.pem" in message
    assert "found client.pem" in message
    assert info.value.hint is not None
    assert "QMC" in info.value.hint
    [finding] = diagnose(folder)
    assert finding.level == "error"
    assert "client_key.pem" in finding.message


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(CertificateFileError, match="does not exist"):
        CertificateBundle.from_folder(tmp_path / "nowhere")
    with pytest.raises(CertificateFileError, match="none of the expected files"):
        CertificateBundle.from_folder(tmp_path)


def test_file_deleted_after_loading_is_reported_not_raised(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "vanishing")
    bundle = CertificateBundle.from_folder(folder)
    (folder / "client_key.pem").unlink()
    findings = bundle.check()
    assert any("does not exist" in f.message for f in errors(findings))
    with pytest.raises(CertificateFileError):
        bundle.validate()


def test_file_that_is_not_a_certificate(site: TestPki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"this is not a certificate\n")
    with pytest.raises(CertificateFileError, match="neither a PEM nor a DER"):
        TlsConfig(root=garbage).server_context()
    folder = pem_folder(site, tmp_path / "bad-root", root_pem=site.client_key)
    [error] = errors(CertificateBundle.from_folder(folder).check())
    assert "holds a private key, not a certificate" in error.message


def test_key_file_that_holds_a_certificate(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "bad-key", client_key_pem=site.client)
    with pytest.raises(CertificateFileError, match="holds a certificate, not a private key"):
        CertificateBundle.from_folder(folder).validate()


def test_missing_root_file_fails_at_configuration(tmp_path: Path) -> None:
    with pytest.raises(CertificateFileError, match="does not exist"):
        TlsConfig(root=tmp_path / "root.pem")


def test_pfx_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(CertificateFileError, match="does not exist"):
        CertificateBundle.from_pfx(tmp_path / "client.pfx", password=PFX_PASSWORD)


@pytest.mark.skipif(not POSIX, reason="file modes are POSIX; Windows uses ACLs")
def test_world_readable_key_is_a_warning(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "open")
    (folder / "client_key.pem").chmod(0o644)
    bundle = CertificateBundle.from_folder(folder)

    findings = bundle.check()

    assert not errors(findings)
    [warning] = [f for f in warnings_of(findings) if "read by other users" in f.message]
    assert "0644" in warning.message
    assert warning.hint is not None
    assert "chmod 600" in warning.hint
    with pytest.warns(KeyPermissionWarning, match="chmod 600"):
        TlsConfig(bundle=bundle).client_context()


@pytest.mark.skipif(not POSIX, reason="file modes are POSIX; Windows uses ACLs")
def test_private_key_mode_0600_gives_no_warning(site: TestPki) -> None:
    assert not [f for f in _bundle_of(site).check() if "other users" in f.message]


# --------------------------------------------------------------------------- configuration


def test_client_context_without_bundle_is_a_configuration_error(site: TestPki) -> None:
    with pytest.raises(ConfigurationError) as info:
        TlsConfig(root=site.root).client_context()
    assert info.value.hint is not None
    assert "client.pfx" in info.value.hint


def test_root_defaults_to_the_bundle_root(site: TestPki, other: TestPki) -> None:
    bundle = _bundle_of(site)
    assert TlsConfig(bundle=bundle).root == site.root
    assert TlsConfig(bundle=bundle, root=other.root).root == other.root


def test_contexts_are_built_once_even_across_threads(site: TestPki) -> None:
    config = TlsConfig(bundle=_bundle_of(site))
    seen: list[ssl.SSLContext] = []
    barrier = threading.Barrier(6)

    def build() -> None:
        barrier.wait()
        seen.append(config.client_context())

    threads = [threading.Thread(target=build) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 6
    assert len({id(c) for c in seen}) == 1
    assert config.server_context() is config.server_context()
    assert config.server_context() is not config.client_context()


def test_verification_off_warns_every_time_and_connects_anyway(
    site: TestPki, https: TlsServer
) -> None:
    config = TlsConfig(root=site.root, verify=False)
    with pytest.warns(InsecureTLSWarning) as record:
        first, second = config.server_context(), config.server_context()
    assert len(record) == 2
    assert first is second
    assert first.verify_mode == ssl.CERT_NONE
    assert first.check_hostname is False
    assert talk(first, "127.0.0.1", https.port) == b"hello"


# --------------------------------------------------------------------------- host names


def test_check_with_host_in_the_server_certificate(site: TestPki) -> None:
    findings = _bundle_of(site).check(host="localhost")
    assert any("names 'localhost'" in f.message for f in findings if f.level == "ok")
    [warning] = warnings_of(_bundle_of(site).check(host="127.0.0.1"))
    assert "does not name '127.0.0.1'" in warning.message
    assert warning.hint is not None
    assert "IP address" in warning.hint


def test_check_with_short_name_suggests_the_full_name(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, ["qlik.example.com"], pfx_password=PFX_PASSWORD)
    [warning] = warnings_of(_bundle_of(pki).check(host="qlik"))
    assert warning.hint is not None
    assert "full name qlik.example.com" in warning.hint


def test_check_without_server_certificate_says_so(site: TestPki) -> None:
    bundle = CertificateBundle.from_pfx(site.client_pfx, password=PFX_PASSWORD, root=site.root)
    [warning] = warnings_of(bundle.check(host="qlik.example.com"))
    assert "no server.pem" in warning.message


def test_host_matching_rules() -> None:
    assert host_matches("LocalHost", ["localhost"])
    assert host_matches("127.0.0.1", ["localhost", "127.0.0.1"])
    assert not host_matches("127.0.0.1", ["localhost"])
    assert host_matches("qlik.example.com", ["*.example.com"])
    assert not host_matches("a.qlik.example.com", ["*.example.com"])
    assert not host_matches("qlik", ["qlik.example.com"])
    assert host_matches("::1", ["0:0:0:0:0:0:0:1"])


def test_certificate_names_reads_the_san(site: TestPki) -> None:
    server = x509.load_pem_x509_certificate(site.server.read_bytes())
    assert certificate_names(server) == ("localhost",)


def test_good_bundle_validates_and_describes_itself(site: TestPki) -> None:
    bundle = _bundle_of(site)
    bundle.validate()
    assert "CN=QlikClient" in bundle.subject()
    assert bundle.expires() > dt.datetime.now(dt.UTC)
    findings = bundle.check()
    assert findings
    assert all(f.level == "ok" for f in findings)
    assert all(isinstance(f.to_dict()["message"], str) for f in findings)


def test_explain_an_unrelated_failure_is_a_handshake_error() -> None:
    error = explain_tls_failure(ConnectionRefusedError(111, "refused"), host="h", port=1)
    assert isinstance(error, HandshakeError)
    assert isinstance(error, TLSError)


def test_a_folder_where_a_file_is_expected(tmp_path: Path) -> None:
    (tmp_path / "root.pem").mkdir()
    with pytest.raises(CertificateFileError, match="is a folder, not a file"):
        TlsConfig(root=tmp_path / "root.pem")


@pytest.mark.skipif(
    not POSIX or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user"
)
def test_unreadable_key_file(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "locked")
    (folder / "client_key.pem").chmod(0o000)
    try:
        with pytest.raises(CertificateFileError, match="cannot read client key"):
            CertificateBundle.from_folder(folder).validate()
    finally:
        (folder / "client_key.pem").chmod(0o600)


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
