"""Signing Qlik JWTs: the key, loaded once, and the signer; key pairs for a virtual proxy.

:class:`JwtSigner` holds one RSA private key, loaded once (loading a PEM costs about a
hundred signatures) from a PEM file, PEM bytes, or the OS keyring, and signs with RS256,
RS384 or RS512 - the only algorithms Qlik accepts. :func:`make_jwt_keypair` writes the key
and the certificate to paste into the virtual proxy.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from qlikauth import keystore
from qlikauth.errors import ConfigurationError, JwtError
from qlikauth.pki import make_signing_keypair

__all__ = [
    "ALGORITHMS",
    "DEFAULT_LIFETIME",
    "RESERVED_CLAIMS",
    "JwtSigner",
    "KeySource",
    "KeyringKey",
    "check_algorithm",
    "make_jwt_keypair",
]

#: The signing algorithms a Qlik JWT virtual proxy accepts.
ALGORITHMS = ("RS256", "RS384", "RS512")
#: Default token lifetime: long enough to reach the proxy, short enough to be useless later.
DEFAULT_LIFETIME = 300.0
#: Registered claim names (RFC 7519) that Qlik does not allow as attribute names.
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})

_KEYRING_PREFIX = "keyring:"


@dataclass(frozen=True)
class KeyringKey:
    """A PEM private key stored in the OS keyring under ``name`` (``service`` optional)."""

    name: str
    service: str | None = None


KeySource: TypeAlias = Path | str | bytes | KeyringKey | RSAPrivateKey


def check_algorithm(algorithm: str) -> str:
    if algorithm in ALGORITHMS:
        return algorithm
    if algorithm.upper().startswith("HS"):
        raise JwtError(
            f"{algorithm} is a shared-secret algorithm; Qlik JWT virtual proxies accept only "
            f"{', '.join(ALGORITHMS)}",
            hint="Sign with an RSA private key and paste its certificate into the virtual "
            "proxy (qlikauth.auth.jwt.make_jwt_keypair writes both).",
        )
    raise JwtError(
        f"algorithm {algorithm!r} is not accepted by Qlik JWT virtual proxies",
        hint=f"Use one of {', '.join(ALGORITHMS)} with an RSA key.",
    )


def _keyring_pem(ref: KeyringKey) -> bytes:
    """The PEM stored in the keyring; the extension point for other secret stores."""
    kwargs = {"service": ref.service} if ref.service else {}
    secret = keystore.get_secret(ref.name, **kwargs)
    if not secret:
        raise ConfigurationError(
            f"the keyring holds no secret named {ref.name!r}",
            hint="Store the PEM private key in the keyring under that name first.",
        )
    return secret.encode()


def _is_pem_text(source: KeySource) -> bool:
    # Key text may carry a header before the PEM block ("Bag Attributes" from openssl);
    # anything holding a PEM marker is data, never a path to print.
    return isinstance(source, str) and "-----BEGIN" in source


def _describe(source: KeySource) -> str:
    if isinstance(source, KeyringKey):
        return f"keyring entry {source.name!r}"
    if isinstance(source, RSAPrivateKey):
        return "a key object"
    if isinstance(source, str) and source.startswith(_KEYRING_PREFIX):
        return f"keyring entry {source[len(_KEYRING_PREFIX) :]!r}"
    if isinstance(source, Path) or (isinstance(source, str) and not _is_pem_text(source)):
        return str(source)
    return "PEM data"


def _pem_of(source: KeySource) -> bytes:
    if isinstance(source, KeyringKey):
        return _keyring_pem(source)
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and _is_pem_text(source):
        return source.encode()
    path = Path(source).expanduser() if isinstance(source, str | Path) else None
    assert path is not None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the JWT signing key {path}: {exc.strerror or exc}",
            hint="Give the path of the PEM private key whose certificate the JWT virtual "
            "proxy holds.",
        ) from None


def _load_key(source: KeySource, passphrase: str | bytes | None) -> RSAPrivateKey:
    if isinstance(source, RSAPrivateKey):
        return source
    if isinstance(source, str) and source.startswith(_KEYRING_PREFIX):
        source = KeyringKey(source[len(_KEYRING_PREFIX) :])
    data = _pem_of(source)
    where = _describe(source)
    if b"PRIVATE KEY-----" not in data:
        raise ConfigurationError(
            f"{where} holds no PEM private key",
            hint="The JWT signer needs the private key (-----BEGIN PRIVATE KEY-----); the "
            "certificate goes into the virtual proxy.",
        )
    encrypted = b"ENCRYPTED" in data
    if encrypted and passphrase is None:
        raise ConfigurationError(
            f"the JWT signing key in {where} is encrypted; give its passphrase",
            hint="Pass passphrase=... (read it from the keyring or an environment variable).",
        )
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        key = serialization.load_pem_private_key(data, password=password if encrypted else None)
    except (ValueError, TypeError) as exc:
        reason = "wrong passphrase" if encrypted else "not a valid PEM private key"
        raise ConfigurationError(
            f"cannot load the JWT signing key from {where}: {reason}",
            hint="Check the file and passphrase; make_jwt_keypair writes a valid pair.",
        ) from exc
    if not isinstance(key, RSAPrivateKey):
        raise JwtError(
            f"the JWT signing key in {where} is {type(key).__name__}, not RSA",
            hint=f"Qlik JWT virtual proxies verify {', '.join(ALGORITHMS)} only: use an RSA key.",
        )
    return key


_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}


_JSON = json.JSONEncoder(separators=(",", ":"), default=str)
_PADDING = padding.PKCS1v15()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class JwtSigner:
    """Signs JWTs with one RSA key, loaded on first use and then kept (thread-safe).

    ``key`` is a PEM file path, PEM bytes or text, ``"keyring:NAME"`` or a
    :class:`KeyringKey`, or a loaded ``RSAPrivateKey``. ``passphrase`` unlocks an encrypted
    key and never appears in a repr.
    """

    def __init__(
        self,
        key: KeySource,
        *,
        passphrase: str | bytes | None = None,
        algorithm: str = "RS256",
        key_id: str | None = None,
    ) -> None:
        self.algorithm = check_algorithm(algorithm)
        self.key_id = key_id
        self._source = key
        self._passphrase = passphrase
        self._key: RSAPrivateKey | None = key if isinstance(key, RSAPrivateKey) else None
        self._lock = threading.Lock()
        header = {"alg": self.algorithm, "typ": "JWT"}
        if key_id:
            header["kid"] = key_id
        self._header_segment = _b64(json.dumps(header, separators=(",", ":")).encode())
        self._hash = _HASHES[self.algorithm]

    def __repr__(self) -> str:
        return f"JwtSigner(key={_describe(self._source)!r}, algorithm={self.algorithm!r})"

    @property
    def private_key(self) -> RSAPrivateKey:
        """The loaded key (loaded once, on first use)."""
        key = self._key
        if key is None:
            with self._lock:
                if self._key is None:
                    self._key = _load_key(self._source, self._passphrase)
                    self._passphrase = None
                key = self._key
        return key

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims`` (taken as given: no time claims added)."""
        # Built here rather than through PyJWT's encode: the header segment is computed
        # once, so minting costs little more than the RSA signature itself.
        payload = _b64(_JSON.encode(claims).encode())
        signing_input = self._header_segment + b"." + payload
        signature = self.private_key.sign(signing_input, _PADDING, self._hash())
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def public_key(self) -> RSAPublicKey:
        """The public key, to verify tokens this signer made."""
        return self.private_key.public_key()


def make_jwt_keypair(
    key_path: Path | str,
    cert_path: Path | str,
    *,
    passphrase: str | bytes | None = None,
    common_name: str = "qlikauth JWT signer",
    days: int = 825,
) -> tuple[Path, Path]:
    """Write an RSA private key (0600) and the self-signed certificate for the virtual proxy.

    Paste the certificate's PEM into the JWT virtual proxy's *JWT certificate*; sign with
    the key (``JwtSigner(key_path, passphrase=...)``).
    """
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    make_signing_keypair(key_path, cert_path, common_name=common_name, days=days, passphrase=secret)
    return Path(key_path), Path(cert_path)
