"""The test PKI: a QMC-style PEM export plus client.pfx, usable for real mutual TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from qlikauth.pki import TestPki, make_signing_keypair, make_test_pki

PASSWORD = "pki-test-password"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(
        tmp_path_factory.mktemp("pki"),
        ["qlik.example.com", "qlik", "127.0.0.1"],
        pfx_password=PASSWORD,
    )


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_layout_is_a_qmc_pem_export_plus_pfx(pki: TestPki) -> None:
    names = sorted(p.name for p in pki.directory.iterdir())
    assert names == sorted(
        [
            "client.pem",
            "client.pfx",
            "client_key.pem",
            "root.pem",
            "root_key.pem",
            "server.pem",
            "server_key.pem",
        ]
    )
    assert pki.client == pki.directory / "client.pem"
    assert pki.client_pfx == pki.directory / "client.pfx"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX; Windows uses ACLs")
def test_private_keys_are_written_0600(pki: TestPki) -> None:
    for path in (pki.root_key, pki.server_key, pki.client_key, pki.client_pfx):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    for path in (pki.root, pki.server, pki.client):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_root_is_a_ca_and_signs_server_and_client(pki: TestPki) -> None:
    root = cert(pki.root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for leaf in (cert(pki.server), cert(pki.client)):
        leaf.verify_directly_issued_by(root)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_server_certificate_names_every_host_with_the_right_type(pki: TestPki) -> None:
    server = cert(pki.server)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["qlik.example.com", "qlik"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_client_certificate_is_qlikclient_for_client_auth(pki: TestPki) -> None:
    client = cert(pki.client)
    assert client.subject.rfc4514_string().startswith("CN=QlikClient")
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_keys_belong_to_their_certificates(pki: TestPki) -> None:
    for key_path, cert_path in (
        (pki.root_key, pki.root),
        (pki.server_key, pki.server),
        (pki.client_key, pki.client),
    ):
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert key.public_key() == cert(cert_path).public_key(), key_path.name


def test_pfx_opens_with_its_password_only(pki: TestPki) -> None:
    key, client, extra = pkcs12.load_key_and_certificates(
        pki.client_pfx.read_bytes(), PASSWORD.encode()
    )
    assert client == cert(pki.client)
    assert key is not None
    assert key.public_key() == client.public_key()
    assert extra == [cert(pki.root)]
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_key_and_certificates(pki.client_pfx.read_bytes(), b"wrong")


def test_password_is_not_in_repr(pki: TestPki) -> None:
    assert PASSWORD not in repr(pki)


def test_client_validity_can_be_moved(tmp_path: Path) -> None:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    pki = make_test_pki(
        tmp_path, ["localhost"], pfx_password=PASSWORD, client_not_before=start, client_days=3
    )
    client = cert(pki.client)
    assert client.not_valid_before_utc == start
    assert client.not_valid_after_utc == start + dt.timedelta(days=3)
    assert cert(pki.server).not_valid_after_utc > dt.datetime.now(dt.UTC)


def test_needs_a_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one host"):
        make_test_pki(tmp_path, [], pfx_password=PASSWORD)


def test_signing_keypair_signs_and_verifies(tmp_path: Path) -> None:
    key_path, cert_path = tmp_path / "jwt_key.pem", tmp_path / "jwt.pem"
    make_signing_keypair(key_path, cert_path, passphrase=b"sign-pass")
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    key = serialization.load_pem_private_key(key_path.read_bytes(), b"sign-pass")
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(b"payload", padding.PKCS1v15(), SHA256())
    public = cert(cert_path).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, b"payload", padding.PKCS1v15(), SHA256())
