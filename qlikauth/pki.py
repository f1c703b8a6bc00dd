"""A test PKI laid out like a QMC "PEM" certificate export, plus ``client.pfx``.

Used by ``qlikauth certs make-test``, the emulator and the tests. Never use these
certificates in production: the root's private key sits beside them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qlikauth._files import atomic_write

__all__ = ["TestPki", "make_signing_keypair", "make_test_pki"]

_KEY_SIZE = 2048


@dataclass(frozen=True)
class TestPki:
    """Paths of a test PKI folder (same names as a QMC PEM export)."""

    __test__ = False  # not a pytest test class

    directory: Path
    pfx_password: str = field(repr=False)

    @property
    def root(self) -> Path:
        return self.directory / "root.pem"

    @property
    def root_key(self) -> Path:
        return self.directory / "root_key.pem"

    @property
    def server(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server_key.pem"

    @property
    def client(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client_key.pem"

    @property
    def client_pfx(self) -> Path:
        return self.directory / "client.pfx"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qlikauth test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_SIZE)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _validity(days: int, not_before: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return start, start + dt.timedelta(days=days)


def make_test_pki(
    directory: Path | str,
    hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    *,
    pfx_password: str,
    days: int = 825,
    client_not_before: dt.datetime | None = None,
    client_days: int | None = None,
) -> TestPki:
    """Create root, server (for ``hosts``) and client certificates in ``directory``.

    Writes ``root.pem``, ``root_key.pem``, ``server.pem``, ``server_key.pem``,
    ``client.pem``, ``client_key.pem`` and ``client.pfx`` (protected by ``pfx_password``).
    Private keys are written with mode 0600. ``client_not_before``/``client_days`` let
    tests make an expired or not-yet-valid client certificate.
    """
    if not hosts:
        raise ValueError("make_test_pki needs at least one host name")
    out = Path(directory)
    start, end = _validity(days, None)

    root_key = _new_key()
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("qlikauth test root CA"))
        .issuer_name(_name("qlikauth test root CA"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )

    def leaf(
        common_name: str,
        usage: x509.ObjectIdentifier,
        san: Sequence[str] | None,
        validity: tuple[dt.datetime, dt.datetime],
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        key = _new_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(root_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity[0])
            .not_valid_after(validity[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
        )
        if san:
            builder = builder.add_extension(_san(san), critical=False)
        return key, builder.sign(root_key, hashes.SHA256())

    server_key, server_cert = leaf(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, hosts, (start, end))
    client_validity = _validity(client_days or days, client_not_before)
    client_key, client_cert = leaf(
        "QlikClient", ExtendedKeyUsageOID.CLIENT_AUTH, None, client_validity
    )

    pki = TestPki(out, pfx_password)
    atomic_write(pki.root, _pem_cert(root_cert), mode=0o644)
    atomic_write(pki.root_key, _pem_key(root_key))
    atomic_write(pki.server, _pem_cert(server_cert), mode=0o644)
    atomic_write(pki.server_key, _pem_key(server_key))
    atomic_write(pki.client, _pem_cert(client_cert), mode=0o644)
    atomic_write(pki.client_key, _pem_key(client_key))
    pfx = pkcs12.serialize_key_and_certificates(
        b"QlikClient",
        client_key,
        client_cert,
        [root_cert],
        serialization.BestAvailableEncryption(pfx_password.encode()),
    )
    atomic_write(pki.client_pfx, pfx)
    return pki


def make_signing_keypair(
    key_path: Path | str,
    cert_path: Path | str,
    *,
    common_name: str = "qlikauth JWT signer",
    key_size: int = _KEY_SIZE,
    days: int = 825,
    passphrase: bytes | None = None,
) -> None:
    """Write an RSA private key and a self-signed certificate for its public key.

    This is the pair a JWT virtual proxy needs: the proxy holds the certificate, the
    token issuer holds the key (written 0600, encrypted when ``passphrase`` is given).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    start, end = _validity(days, None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    atomic_write(
        Path(key_path),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ),
    )
    atomic_write(Path(cert_path), _pem_cert(cert), mode=0o644)
