"""qlikauth.tls.contexts: TlsConfig's SSL contexts in real handshakes on loopback."""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

import pytest
from tls_support import (
    KEY_PASSPHRASE,
    PFX_PASSWORD,
    TlsServer,
    bundle_of,
    encrypted_key,
    errors,
    pem_folder,
    talk,
    warnings_of,
)

from qlikauth.errors import CertificateFileError, ConfigurationError
from qlikauth.pki import TestPki
from qlikauth.tls import CertificateBundle, InsecureTlsWarning, KeyPermissionWarning, TlsConfig

POSIX = os.name == "posix"


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


def test_encrypted_key_with_its_passphrase_does_mutual_tls(
    site: TestPki, mtls: TlsServer, tmp_path: Path
) -> None:
    folder = pem_folder(site, tmp_path / "enc")
    encrypted_key(site, folder / "client_key.pem", KEY_PASSPHRASE)
    bundle = CertificateBundle.from_folder(folder, passphrase=KEY_PASSPHRASE)
    assert talk(TlsConfig(bundle=bundle).client_context(), "localhost", mtls.port) == b"hello"
    assert not errors(bundle.check())


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


def test_passphrase_never_appears_in_repr(site: TestPki) -> None:
    bundle = CertificateBundle.from_pfx(site.client_pfx, password=PFX_PASSWORD)
    config = TlsConfig(bundle=bundle)
    assert PFX_PASSWORD not in repr(bundle)
    assert PFX_PASSWORD not in repr(config)
    assert PFX_PASSWORD not in str(bundle)


def test_client_context_without_bundle_is_a_configuration_error(site: TestPki) -> None:
    with pytest.raises(ConfigurationError) as info:
        TlsConfig(root=site.root).client_context()
    assert info.value.hint is not None
    assert "client.pfx" in info.value.hint


def test_root_defaults_to_the_bundle_root(site: TestPki, other: TestPki) -> None:
    bundle = bundle_of(site)
    assert TlsConfig(bundle=bundle).root == site.root
    assert TlsConfig(bundle=bundle, root=other.root).root == other.root


def test_contexts_are_built_once_even_across_threads(site: TestPki) -> None:
    config = TlsConfig(bundle=bundle_of(site))
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
    with pytest.warns(InsecureTlsWarning) as record:
        first, second = config.server_context(), config.server_context()
    assert len(record) == 2
    assert first is second
    assert first.verify_mode == ssl.CERT_NONE
    assert first.check_hostname is False
    assert talk(first, "127.0.0.1", https.port) == b"hello"


def test_missing_root_file_fails_at_configuration(tmp_path: Path) -> None:
    with pytest.raises(CertificateFileError, match="does not exist"):
        TlsConfig(root=tmp_path / "root.pem")


def test_a_folder_where_a_file_is_expected(tmp_path: Path) -> None:
    (tmp_path / "root.pem").mkdir()
    with pytest.raises(CertificateFileError, match="is a folder, not a file"):
        TlsConfig(root=tmp_path / "root.pem")


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
