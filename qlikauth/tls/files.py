"""Reading certificate files: PEM or DER certificates, PEM private keys (encrypted or not),
and PKCS#12 (``client.pfx``) with its password.

Every failure is a :class:`~qlikauth.errors.CertificateFileError` that names the file, says
what it holds instead and what to do; a passphrase or password never appears in it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from qlikauth.errors import CertificateFileError

__all__ = [
    "PFX_SUFFIXES",
    "Identity",
    "PrivateKey",
    "is_pfx",
    "key_readable_by_others",
    "load_certificates",
    "load_pfx",
    "load_private_key",
    "pfx_needs_password",
    "read_file",
    "read_identity",
    "require_file",
]

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | dsa.DSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
_TLS_KEY_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)

#: File name endings of a PKCS#12 identity.
PFX_SUFFIXES = (".pfx", ".p12")


@dataclass(frozen=True)
class Identity:
    """A client identity read from its files: the certificate, its key, and the other
    certificates that came with it (a PFX's chain, or the rest of a PEM file)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]


def is_pfx(path: Path) -> bool:
    """Whether ``path`` names a PKCS#12 file (``.pfx``/``.p12``)."""
    return path.suffix.lower() in PFX_SUFFIXES


def read_file(path: Path, what: str) -> bytes:
    """The bytes of ``path``; ``what`` names the file in the error (``"root certificate"``)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertificateFileError(
            f"{what} {path} does not exist", hint=_folder_hint(path)
        ) from None
    except IsADirectoryError:
        raise CertificateFileError(
            f"{what} {path} is a folder, not a file",
            hint="pass the file itself, or use the folder form (CertificateBundle.from_folder)",
        ) from None
    except OSError as exc:
        raise CertificateFileError(
            f"cannot read {what} {path}: {exc.strerror or exc}",
            hint="check the file's owner and permissions",
        ) from None


def require_file(path: Path, what: str) -> None:
    """Raise the specific :func:`read_file` error unless ``path`` is a file."""
    if not path.is_file():
        read_file(path, what)


def _folder_hint(path: Path) -> str:
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist either"
    present = sorted(p.name for p in folder.iterdir() if p.is_file())
    shown = ", ".join(present[:12]) if present else "nothing"
    return f"{folder} holds: {shown}"


def load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file, or the one of a DER file."""
    data = read_file(path, what)
    if b"-----BEGIN" in data:
        if b"CERTIFICATE-----" not in data:
            kind = "a private key" if b"PRIVATE KEY-----" in data else "no certificate"
            raise CertificateFileError(
                f"{what} {path} holds {kind}, not a certificate",
                hint="a certificate file starts with -----BEGIN CERTIFICATE-----; "
                "check that the files were not swapped",
            )
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise CertificateFileError(
                f"{what} {path} is not a valid PEM certificate ({exc})",
                hint="the file may be truncated or edited; export it again",
            ) from None
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise CertificateFileError(
            f"{what} {path} is neither a PEM nor a DER certificate",
            hint="a PEM certificate starts with -----BEGIN CERTIFICATE-----",
        ) from None


def _key_is_encrypted(data: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def load_private_key(path: Path, passphrase: str | None, what: str) -> PrivateKey:
    """The private key of a PEM file; ``passphrase`` unlocks an encrypted one."""
    data = read_file(path, what)
    if b"PRIVATE KEY-----" not in data:
        kind = "a certificate" if b"CERTIFICATE-----" in data else "no PEM private key"
        raise CertificateFileError(
            f"{what} {path} holds {kind}, not a private key",
            hint="the key file starts with -----BEGIN (RSA |ENCRYPTED )PRIVATE KEY-----; "
            "export with the secret key included",
        )
    encrypted = _key_is_encrypted(data)
    if encrypted and passphrase is None:
        raise CertificateFileError(
            f"{what} {path} is encrypted; give its passphrase",
            hint="pass passphrase=... (on the command line: a profile's certs_password or "
            "QLIKAUTH_CERTS_PASSWORD); never put it on a command line",
        )
    password = passphrase.encode() if encrypted and passphrase is not None else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise CertificateFileError(
                f"wrong passphrase for {what} {path}",
                hint="use the passphrase the key was exported with",
            ) from None
        raise CertificateFileError(
            f"{what} {path} is not a valid private key ({exc})",
            hint="the file may be truncated or edited; export it again",
        ) from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm and friends
        raise CertificateFileError(
            f"{what} {path} cannot be loaded: {exc}",
            hint="export the key again as RSA PEM",
        ) from None
    if not isinstance(key, _TLS_KEY_TYPES):
        raise CertificateFileError(
            f"{what} {path} holds a key type TLS cannot use ({type(key).__name__})"
        )
    return key


def pfx_needs_password(path: Path) -> CertificateFileError:
    """The error for a PFX given without its password."""
    return CertificateFileError(
        f"the PFX file {path} needs its password",
        hint="pass password=... (on the command line: a profile's certs_password or "
        "QLIKAUTH_CERTS_PASSWORD); it is the password typed when exporting from the QMC",
    )


def load_pfx(path: Path, password: str | None) -> Identity:
    """The identity inside a PKCS#12 file, opened with the password chosen at export."""
    data = read_file(path, "PFX file")
    if password is None:
        raise pfx_needs_password(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode())
    except ValueError:
        raise CertificateFileError(
            f"cannot open the PFX file {path}: wrong password, or not a PKCS#12 file",
            hint="use the password typed when the certificates were exported from the QMC",
        ) from None
    if cert is None or key is None:
        missing = "certificate" if cert is None else "private key"
        raise CertificateFileError(
            f"the PFX file {path} holds no {missing}",
            hint="export again from the QMC with the secret key included",
        )
    if not isinstance(key, _TLS_KEY_TYPES):
        raise CertificateFileError(f"the PFX file {path} holds a key type TLS cannot use")
    return Identity(cert, key, tuple(extra))


def read_identity(client_cert: Path, client_key: Path | None, passphrase: str | None) -> Identity:
    """The client identity of a PFX, or of a PEM certificate and its key file (``client_key``
    None: the key is in ``client_cert``)."""
    if is_pfx(client_cert):
        return load_pfx(client_cert, passphrase)
    certs = load_certificates(client_cert, "client certificate")
    key = load_private_key(client_key or client_cert, passphrase, "client key")
    return Identity(certs[0], key, tuple(certs[1:]))


def key_readable_by_others(path: Path) -> bool:
    """Whether users other than the owner may read ``path`` (POSIX modes only)."""
    if os.name != "posix":
        return False
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
