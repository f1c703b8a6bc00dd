"""qlikauth.tls.chain: issuers, chains to a root, key pairs and key usage, on the test PKIs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qlikauth.pki import TestPki
from qlikauth.tls.chain import (
    allows_usage,
    chains_to,
    describe,
    is_self_signed,
    issued_by,
    same_key,
)
from qlikauth.tls.files import load_private_key


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_issuers_and_chains(site: TestPki, other: TestPki) -> None:
    root, client, server = _cert(site.root), _cert(site.client), _cert(site.server)
    foreign_root = _cert(other.root)
    assert is_self_signed(root)
    assert not is_self_signed(client)
    assert issued_by(client, root)
    assert not issued_by(client, foreign_root)
    assert chains_to(server, [foreign_root, root], ())
    assert not chains_to(server, [foreign_root], [root])


def test_chain_through_an_intermediate_from_the_pool(site: TestPki) -> None:
    root = _cert(site.root)
    root_key = serialization.load_pem_private_key(site.root_key.read_bytes(), None)
    assert isinstance(root_key, rsa.RSAPrivateKey)
    intermediate_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    intermediate = _signed("intermediate", intermediate_key, root.subject, root_key, ca=True)
    leaf = _signed("leaf", leaf_key, intermediate.subject, intermediate_key, ca=False)

    assert issued_by(leaf, intermediate)
    assert not issued_by(leaf, root)
    assert chains_to(leaf, [root], [intermediate])
    assert not chains_to(leaf, [root], [])


def _signed(
    name: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def test_key_pairs_and_usage(site: TestPki, other: TestPki) -> None:
    client = _cert(site.client)
    assert same_key(client, load_private_key(site.client_key, None, "client key"))
    assert not same_key(client, load_private_key(other.client_key, None, "client key"))
    assert allows_usage(client, ExtendedKeyUsageOID.CLIENT_AUTH) is True
    assert allows_usage(_cert(site.server), ExtendedKeyUsageOID.CLIENT_AUTH) is False
    assert allows_usage(_cert(site.root), ExtendedKeyUsageOID.CLIENT_AUTH) is None
    assert describe(client) == "QlikClient"
