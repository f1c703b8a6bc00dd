"""Checking Qlik JWTs as a JWT virtual proxy would, and explaining what a token shows.

:func:`verify_jwt` checks the signature and the claims Qlik reads; :func:`inspect_jwt` says
what is wrong with a token without the key (expiry, claims, algorithm), for diagnosis.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt as pyjwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from qlikauth.errors import ConfigurationError, JwtError
from qlikauth.jwt.signing import ALGORITHMS

__all__ = ["NO_EXP_PROBLEM", "JwtInspection", "inspect_jwt", "verify_jwt"]

#: What :func:`inspect_jwt` reports, and :func:`verify_jwt` refuses, for a token without
#: ``exp``.
NO_EXP_PROBLEM = "no exp claim: the token never expires (Qlik accepts it; risky)"


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
    require_exp: bool = True,
) -> dict[str, Any]:
    """Check ``token`` as a Qlik JWT virtual proxy would; return its claims.

    ``certificate`` is the virtual proxy's JWT certificate (or its public key). Raises
    :class:`JwtError` naming the failed check: algorithm, signature, expiry, claim names.
    A token without ``exp`` is refused unless ``require_exp`` is false: Qlik accepts it,
    but it never expires, and :func:`inspect_jwt` reports it as a problem too.
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
    if require_exp and "exp" not in claims:
        raise JwtError(
            f"the token is not accepted: {NO_EXP_PROBLEM}",
            hint="Mint tokens with an exp claim (qlikauth jwt mint does): a token that never "
            "expires stays usable for as long as it leaks. Pass require_exp=False to "
            "accept it anyway.",
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
    if not token.isascii():  # a compact JWT is base64url and dots
        return JwtInspection(None, None, ("not a signed JWT (header.payload.signature)",))
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
        problems.append(NO_EXP_PROBLEM)
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
