"""Qlik JWTs: signing keys and the signer, checks and diagnosis (no login: see
:mod:`qlikauth.auth.jwt` for the authenticator)."""

from __future__ import annotations

from qlikauth.jwt.signing import (
    ALGORITHMS,
    DEFAULT_LIFETIME,
    RESERVED_CLAIMS,
    JwtSigner,
    KeyringKey,
    KeySource,
    make_jwt_keypair,
)
from qlikauth.jwt.verification import NO_EXP_PROBLEM, JwtInspection, inspect_jwt, verify_jwt

__all__ = [
    "ALGORITHMS",
    "DEFAULT_LIFETIME",
    "NO_EXP_PROBLEM",
    "RESERVED_CLAIMS",
    "JwtInspection",
    "JwtSigner",
    "KeySource",
    "KeyringKey",
    "inspect_jwt",
    "make_jwt_keypair",
    "verify_jwt",
]
