"""JWT authentication for a QSEoW JWT virtual proxy (qlik-protocol.md §2.7).

:class:`JwtSigner` holds one RSA private key, loaded once (loading a PEM costs about a
hundred signatures) from a PEM file, PEM bytes, or the OS keyring, and signs with RS256,
RS384 or RS512 - the only algorithms Qlik accepts. :class:`JwtAuth` mints a short-lived
token and exchanges it for a proxy session (``GET /{prefix}/qrs/about`` with
``Authorization: Bearer``); afterwards only the session cookie and CSRF token travel.

:func:`make_jwt_keypair` writes the key and the certificate to paste into the virtual
proxy; :func:`verify_jwt` and :func:`inspect_jwt` look at existing tokens.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

import jwt as pyjwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from qlikauth import keystore
from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials
from qlikauth.errors import (
    ConfigurationError,
    CredentialsRejectedError,
    JwtError,
)
from qlikauth.http.values import Flow
from qlikauth.pki import make_signing_keypair
from qlikauth.sessions import credential_request, start_session
from qlikauth.site import Site

__all__ = [
    "ALGORITHMS",
    "DEFAULT_LIFETIME",
    "JwtAuth",
    "JwtInspection",
    "JwtSigner",
    "KeyringKey",
    "exchange_jwt_flow",
    "inspect_jwt",
    "make_jwt_keypair",
    "verify_jwt",
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


def _check_algorithm(algorithm: str) -> str:
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
        self.algorithm = _check_algorithm(algorithm)
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


@dataclass(frozen=True)
class JwtAuth(Authenticator):
    """Log in to a JWT virtual proxy with a freshly minted token.

    ``key`` (or a ready ``signer``) signs; ``user``/``directory`` go into the claims the
    virtual proxy is configured to read (``user_claim``, ``directory_claim``, default
    ``userId``/``userDirectory``), ``groups`` into ``groups_claim`` and ``attributes`` as
    further claims. Each token lives ``lifetime`` seconds and has a unique ``jti``.
    """

    name: ClassVar[str] = "jwt"

    user: str
    directory: str
    key: KeySource | None = field(default=None, repr=False)
    passphrase: str | bytes | None = field(default=None, repr=False)
    algorithm: str = "RS256"
    signer: JwtSigner | None = field(default=None, compare=False)
    groups: Sequence[str] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    lifetime: float = DEFAULT_LIFETIME
    user_claim: str = "userId"
    directory_claim: str = "userDirectory"
    groups_claim: str = "groups"

    def __post_init__(self) -> None:
        for label, value in (("user", self.user), ("directory", self.directory)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f"the JWT {label} is empty", hint="Pass user='alice', directory='CORP'."
                )
        names = [self.user_claim, self.directory_claim, self.groups_claim, *self.attributes]
        reserved = sorted(n for n in names if n in RESERVED_CLAIMS)
        if reserved:
            raise ConfigurationError(
                f"claim name(s) {', '.join(reserved)} are reserved JWT claims",
                hint="Qlik's 'JWT attribute for user ID/user directory' may be anything "
                "except the registered claims (exp, iat, nbf, ...).",
            )
        if self.lifetime <= 0:
            raise ConfigurationError("the JWT lifetime must be positive", hint="e.g. 300")
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        if self.signer is None:
            if self.key is None:
                raise ConfigurationError(
                    "JwtAuth needs a signing key",
                    hint="Pass key=<PEM file, PEM bytes or 'keyring:NAME'>, "
                    "or signer=JwtSigner(...).",
                )
            signer = JwtSigner(self.key, passphrase=self.passphrase, algorithm=self.algorithm)
            object.__setattr__(self, "signer", signer)
        else:
            _check_algorithm(self.signer.algorithm)

    def claims(self, *, now: float | None = None) -> dict[str, Any]:
        """The claims of the next token: identity, groups, attributes and time claims."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = dict(self.attributes)
        claims[self.user_claim] = self.user
        claims[self.directory_claim] = self.directory
        if self.groups:
            claims[self.groups_claim] = list(self.groups)
        claims.update(
            iat=issued, nbf=issued, exp=issued + int(self.lifetime), jti=secrets.token_hex(16)
        )
        return claims

    def token(self, *, now: float | None = None) -> str:
        """A fresh signed token."""
        assert self.signer is not None
        return self.signer.sign(self.claims(now=now))

    def login(self, site: Site) -> Flow[Credentials]:
        """Exchange a fresh token for a proxy session (cookie + CSRF token)."""
        return (
            yield from exchange_jwt_flow(
                site,
                self.token(),
                user_claim=self.user_claim,
                directory_claim=self.directory_claim,
            )
        )


def exchange_jwt_flow(
    site: Site,
    token: str,
    *,
    user_claim: str = "userId",
    directory_claim: str = "userDirectory",
) -> Flow[Credentials]:
    """Exchange a JWT minted elsewhere for a proxy session on ``site``'s JWT virtual proxy.

    The token travels once (``Authorization: Bearer`` on ``/qrs/about``); a refusal
    raises :class:`JwtError` with the proxy's reason and what the token itself shows
    (:func:`inspect_jwt`), never the token.
    """
    request = credential_request(site, {"Authorization": f"Bearer {token}"})
    try:
        return (yield from start_session(site, request, what="JWT login"))
    except CredentialsRejectedError as exc:
        if isinstance(exc, JwtError):
            raise
        seen = inspect_jwt(token, user_claim=user_claim, directory_claim=directory_claim)
        found = f" The token itself shows: {'; '.join(seen.problems)}." if seen.problems else ""
        raise JwtError(
            f"the JWT virtual proxy refused the token: {exc.message}",
            url=exc.url,
            status=exc.status,
            hint="Check that the virtual proxy holds the certificate of this signing key, "
            f"that its JWT attributes are '{user_claim}' and '{directory_claim}' "
            "(case-sensitive), that the user exists and is enabled, and that this machine's "
            f"clock is right.{found}",
        ) from exc


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


def _public_key(source: Path | str | bytes | x509.Certificate | RSAPublicKey) -> RSAPublicKey:
    if isinstance(source, RSAPublicKey):
        return source
    key: object
    if isinstance(source, x509.Certificate):
        key = source.public_key()
    else:
        data = source if isinstance(source, bytes) else None
        if data is None and isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
            data = source.encode()
        if data is None:
            path = Path(source).expanduser()  # type: ignore[arg-type]
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read {path}: {exc.strerror or exc}",
                    hint="Give the JWT certificate (PEM) the virtual proxy holds.",
                ) from None
        try:
            if b"CERTIFICATE-----" in data:
                key = x509.load_pem_x509_certificate(data).public_key()
            else:
                key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise ConfigurationError(
                "not a PEM certificate or public key",
                hint="Give the JWT certificate (PEM) the virtual proxy holds.",
            ) from exc
    if not isinstance(key, RSAPublicKey):
        raise JwtError("the verification key is not RSA", hint="Qlik JWTs are RSA-signed.")
    return key


def verify_jwt(
    token: str,
    certificate: Path | str | bytes | x509.Certificate | RSAPublicKey,
    *,
    user_claim: str = "userId",
    directory_claim: str = "userDirectory",
    leeway: float = 0.0,
) -> dict[str, Any]:
    """Check ``token`` as a Qlik JWT virtual proxy would; return its claims.

    ``certificate`` is the virtual proxy's JWT certificate (or its public key). Raises
    :class:`JwtError` naming the failed check: algorithm, signature, expiry, claim names.
    """
    findings = inspect_jwt(token, user_claim=user_claim, directory_claim=directory_claim)
    algorithm_problem = next((p for p in findings.problems if p.startswith("algorithm")), None)
    if findings.header is None or algorithm_problem is not None:
        raise JwtError(
            f"the token cannot be verified: {algorithm_problem or findings.problems[0]}",
            hint=f"Qlik accepts signed tokens with {', '.join(ALGORITHMS)} only.",
        )
    try:
        claims: dict[str, Any] = pyjwt.decode(
            token,
            _public_key(certificate),
            algorithms=list(ALGORITHMS),
            leeway=leeway,
            options={"require": [], "verify_aud": False},
        )
    except pyjwt.InvalidSignatureError as exc:
        raise JwtError(
            "the token's signature does not verify against this certificate",
            hint="The token was signed with another key than the one whose certificate the "
            "virtual proxy holds.",
        ) from exc
    except pyjwt.ExpiredSignatureError as exc:
        raise JwtError(
            "the token has expired (exp is in the past)",
            hint="Mint a fresh token; check this machine's clock.",
        ) from exc
    except pyjwt.ImmatureSignatureError as exc:
        raise JwtError(
            "the token is not valid yet (nbf or iat is in the future)",
            hint="Check the clocks of the issuer and of this machine.",
        ) from exc
    except pyjwt.InvalidTokenError as exc:
        raise JwtError(
            f"the token is invalid: {type(exc).__name__}",
            hint="It may be truncated or not a JWT.",
        ) from exc
    missing = [n for n in (user_claim, directory_claim) if not claims.get(n)]
    if missing:
        raise JwtError(
            f"the token lacks the claim(s) {', '.join(missing)}; it carries "
            f"{', '.join(sorted(claims)) or 'none'}",
            hint="The virtual proxy's JWT attributes for user ID and user directory must "
            "name claims in the token (case-sensitive).",
        )
    return claims


@dataclass(frozen=True)
class JwtInspection:
    """What a token carries and what a Qlik JWT virtual proxy would object to.

    The signature is not checked (:func:`verify_jwt` does that). ``problems`` is empty when
    nothing is wrong that can be seen without the key.
    """

    header: Mapping[str, Any] | None
    claims: Mapping[str, Any] | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems


def inspect_jwt(
    token: str,
    *,
    user_claim: str = "userId",
    directory_claim: str = "userDirectory",
    now: float | None = None,
    expected_claims: Iterable[str] = (),
) -> JwtInspection:
    """Decode ``token`` without verifying it and list what a Qlik JWT virtual proxy rejects.

    Flags encrypted tokens, algorithms other than RS256/384/512, a past ``exp``, a future
    ``nbf``, a missing ``exp`` (accepted by Qlik but never expiring), and missing user,
    directory or ``expected_claims`` claims.
    """
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if token.count(".") == 4:
        return JwtInspection(None, None, ("encrypted JWTs (JWE) are not supported by Qlik",))
    try:
        header = pyjwt.get_unverified_header(token)
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.InvalidTokenError:
        return JwtInspection(None, None, ("not a signed JWT (header.payload.signature)",))
    problems: list[str] = []
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        problems.append(
            f"algorithm {algorithm!r} is not accepted: Qlik needs {', '.join(ALGORITHMS)}"
        )
    moment = time.time() if now is None else now
    exp = claims.get("exp")
    if exp is None:
        problems.append("no exp claim: the token never expires (Qlik accepts it; risky)")
    elif isinstance(exp, int | float) and exp <= moment:
        problems.append(f"expired {int(moment - exp)} s ago (exp is in the past)")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > moment:
        problems.append(f"not valid for another {int(nbf - moment)} s (nbf is in the future)")
    for claim in (user_claim, directory_claim, *expected_claims):
        if not claims.get(claim):
            problems.append(
                f"claim {claim!r} is missing or empty (the token has: "
                f"{', '.join(sorted(claims)) or 'nothing'})"
            )
    return JwtInspection(MappingProxyType(header), MappingProxyType(claims), tuple(problems))
