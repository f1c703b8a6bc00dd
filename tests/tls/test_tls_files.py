"""qlikauth.tls.files: reading certificates, keys and PFX files, and how each fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tls_support import KEY_PASSPHRASE, encrypted_key, errors, pem_folder

from qlikauth.errors import CertificateFileError
from qlikauth.pki import TestPki
from qlikauth.tls import CertificateBundle, TlsConfig

POSIX = os.name == "posix"


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
