"""qlikauth.tls.bundle: locating a QMC certificate export (PEM folder or PFX)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tls_support import PFX_PASSWORD, bundle_of, errors, pem_folder

from qlikauth.errors import CertificateFileError
from qlikauth.pki import TestPki
from qlikauth.tls import CertificateBundle, diagnose


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


def test_pfx_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(CertificateFileError, match="does not exist"):
        CertificateBundle.from_pfx(tmp_path / "client.pfx", password=PFX_PASSWORD)


def test_file_deleted_after_loading_is_reported_not_raised(site: TestPki, tmp_path: Path) -> None:
    folder = pem_folder(site, tmp_path / "vanishing")
    bundle = CertificateBundle.from_folder(folder)
    (folder / "client_key.pem").unlink()
    findings = bundle.check()
    assert any("does not exist" in f.message for f in errors(findings))
    with pytest.raises(CertificateFileError):
        bundle.validate()


def test_good_bundle_validates_and_describes_itself(site: TestPki) -> None:
    bundle = bundle_of(site)
    bundle.validate()
    assert "CN=QlikClient" in bundle.subject()
    assert bundle.expires() > dt.datetime.now(dt.UTC)
    findings = bundle.check()
    assert findings
    assert all(f.level == "ok" for f in findings)
    assert all(isinstance(f.to_dict()["message"], str) for f in findings)
