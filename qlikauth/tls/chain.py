"""How certificates and keys relate: who issued whom, whether a chain reaches a root,
whether a key belongs to a certificate, what a certificate may be used for."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from qlikauth.tls.files import PrivateKey

__all__ = ["allows_usage", "chains_to", "describe", "is_self_signed", "issued_by", "same_key"]

_ANY_EXTENDED_KEY_USAGE = x509.ObjectIdentifier("2.5.29.37.0")
_MAX_CHAIN = 8


def describe(cert: x509.Certificate) -> str:
    """A short name for messages: the common name, else the whole subject."""
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.subject.rfc4514_string()


def _public_bytes(obj: x509.Certificate | PrivateKey) -> bytes:
    return obj.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_key(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether ``key`` is the private key of ``cert``."""
    return _public_bytes(cert) == _public_bytes(key)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert`` (names and signature)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # ValueError (names), InvalidSignature, TypeError (key types)
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    """Whether ``cert`` signed itself (a root)."""
    return issued_by(cert, cert)


def chains_to(
    leaf: x509.Certificate, roots: Sequence[x509.Certificate], pool: Sequence[x509.Certificate]
) -> bool:
    """Whether ``leaf`` chains to one of ``roots``, through certificates of ``pool``."""
    current = leaf
    for _ in range(_MAX_CHAIN):
        if any(issued_by(current, root) for root in roots):
            return True
        parent = next((c for c in pool if c != current and issued_by(current, c)), None)
        if parent is None:
            return False
        current = parent
    return False


def allows_usage(cert: x509.Certificate, usage: x509.ObjectIdentifier) -> bool | None:
    """Whether the extended key usage allows ``usage``; None when the extension is absent."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return usage in eku or _ANY_EXTENDED_KEY_USAGE in eku
