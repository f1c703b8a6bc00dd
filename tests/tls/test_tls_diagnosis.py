"""qlikauth.tls.diagnosis: what is wrong with a bundle, as findings and as errors."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from tls_support import PFX_PASSWORD, bundle_of, errors, pem_folder, warnings_of

from qlikauth.errors import (
    CertificateChainError,
    CertificateMismatchError,
    CertificateValidityError,
)
from qlikauth.pki import TestPki, make_test_pki
from qlikauth.tls import CertificateBundle, TlsConfig

POSIX = os.name == "posix"


def test_expired_client_certificate(tmp_path: Path) -> None:
    pki = make_test_pki(
        tmp_path,
        ["localhost"],
        pfx_password=PFX_PASSWORD,
        client_not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
        client_days=2,
    )
    bundle = bundle_of(pki)
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
    bundle = bundle_of(pki)
    [error] = errors(bundle.check())
    assert "not valid yet" in error.message
    assert error.hint is not None
    assert "clock" in error.hint
    with pytest.raises(CertificateValidityError, match="not valid yet"):
        bundle.validate()


def test_certificate_expiring_soon_is_a_warning(site: TestPki) -> None:
    bundle = bundle_of(site)
    soon = bundle.expires() - dt.timedelta(days=3)
    findings = bundle.check(now=soon)
    assert not errors(findings)
    assert any("expires soon" in f.message for f in warnings_of(findings))
    later = bundle.expires() + dt.timedelta(days=1)
    assert any("expired" in f.message for f in errors(bundle.check(now=later)))


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


@pytest.mark.skipif(not POSIX, reason="file modes are POSIX; Windows uses ACLs")
def test_private_key_mode_0600_gives_no_warning(site: TestPki) -> None:
    assert not [f for f in bundle_of(site).check() if "other users" in f.message]


def test_check_with_host_in_the_server_certificate(site: TestPki) -> None:
    findings = bundle_of(site).check(host="localhost")
    assert any("names 'localhost'" in f.message for f in findings if f.level == "ok")
    [warning] = warnings_of(bundle_of(site).check(host="127.0.0.1"))
    assert "does not name '127.0.0.1'" in warning.message
    assert warning.hint is not None
    assert "IP address" in warning.hint


def test_check_with_short_name_suggests_the_full_name(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, ["qlik.example.com"], pfx_password=PFX_PASSWORD)
    [warning] = warnings_of(bundle_of(pki).check(host="qlik"))
    assert warning.hint is not None
    assert "full name qlik.example.com" in warning.hint


def test_check_without_server_certificate_says_so(site: TestPki) -> None:
    bundle = CertificateBundle.from_pfx(site.client_pfx, password=PFX_PASSWORD, root=site.root)
    [warning] = warnings_of(bundle.check(host="qlik.example.com"))
    assert "no server.pem" in warning.message
