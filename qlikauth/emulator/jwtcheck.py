"""JWT validation as a QSEoW JWT virtual proxy does it (qlik-protocol.md §2.7).

Claims become session attributes only through the virtual proxy's "JWT attribute mapping"
(QRS ``VirtualProxyConfigJwtAttributeMapItem``: jwtAttribute, senseAttribute, isMandatory):
an unmapped claim is ignored, and a missing mandatory one refuses the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from qlikauth.emulator.common import control_character
from qlikauth.emulator.config import JwtAttributeMapping, JwtClaims

__all__ = ["ALGORITHMS", "JwtRejected", "JwtUser", "JwtValidator"]

ALGORITHMS = ("RS256", "RS384", "RS512")


class JwtRejected(Exception):
    """The token was refused; the message names the check that failed (no token in it)."""


@dataclass(frozen=True)
class JwtUser:
    """Who a valid token names."""

    directory: str
    user_id: str
    #: Session attributes, in mapping order: ``[{"Group": "Sales"}, {"Email": "a@b"}]``.
    attributes: list[dict[str, str]]


class JwtValidator:
    """Checks tokens against the virtual proxy's certificate (loaded once)."""

    def __init__(
        self,
        cert_path: Path,
        claims: JwtClaims,
        mapping: tuple[JwtAttributeMapping, ...],
        leeway: float,
    ) -> None:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = cert.public_key()
        if not isinstance(key, RSAPublicKey):
            raise ValueError("the JWT certificate must hold an RSA public key")
        self._key = key
        self._claims = claims
        self._mapping = mapping
        self._leeway = leeway

    def validate(self, token: str) -> JwtUser:
        """The user the token names, or JwtRejected saying which check failed."""
        if token.count(".") == 4:
            raise JwtRejected("encrypted JWTs (JWE) are not supported")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise JwtRejected("malformed token: not a signed JWT") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise JwtRejected(
                f"algorithm {alg!r} is not allowed: only {', '.join(ALGORITHMS)} are accepted"
            )
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=list(ALGORITHMS),
                leeway=self._leeway,
                options={"require": [], "verify_aud": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError as exc:
            raise JwtRejected(
                "signature does not verify against the virtual proxy's JWT certificate"
            ) from exc
        except jwt.ExpiredSignatureError as exc:
            raise JwtRejected("token expired (exp is in the past)") from exc
        except jwt.ImmatureSignatureError as exc:
            raise JwtRejected("token not yet valid (nbf is in the future)") from exc
        except jwt.InvalidTokenError as exc:
            raise JwtRejected(f"invalid token: {type(exc).__name__}") from exc
        user = payload.get(self._claims.user)
        directory = payload.get(self._claims.directory)
        if not isinstance(user, str) or not user.strip():
            raise JwtRejected(f"claim {self._claims.user!r} (user id) is missing or empty")
        if not isinstance(directory, str) or not directory.strip():
            raise JwtRejected(
                f"claim {self._claims.directory!r} (user directory) is missing or empty"
            )
        for claim, value in ((self._claims.user, user), (self._claims.directory, directory)):
            if found := control_character(value):
                raise JwtRejected(f"claim {claim!r} holds the control character {found}")
        return JwtUser(directory.strip(), user.strip(), self._attributes(payload))

    def _attributes(self, payload: dict[str, Any]) -> list[dict[str, str]]:
        attributes: list[dict[str, str]] = []
        for row in self._mapping:
            if row.claim not in payload:
                if row.mandatory:
                    raise JwtRejected(
                        f"mandatory claim {row.claim!r} (attribute {row.attribute!r}) is missing"
                    )
                continue
            value = payload[row.claim]
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in values):
                raise JwtRejected(
                    f"claim {row.claim!r} (attribute {row.attribute!r}) must be a string or a "
                    "list of strings"
                )
            if found := next(filter(None, map(control_character, values)), None):
                raise JwtRejected(f"claim {row.claim!r} holds the control character {found}")
            attributes += [{row.attribute: v} for v in values]
        return attributes
