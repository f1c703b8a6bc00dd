"""What a refused LDAP bind or a failed TLS handshake with a domain controller means.

Active Directory explains a refused simple bind (result 49) with a ``data NNN`` code in
the diagnostic text; each becomes a specific qlikauth error, and a wrong name or password
stays a bare "invalid credentials" (the code goes to the log).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping
from typing import Any

from qlikauth.errors import (
    CertificateChainError,
    CertificateValidityError,
    ConfigurationError,
    HandshakeError,
    HostnameMismatchError,
    InvalidCredentialsError,
    QlikAuthError,
    TlsError,
)
from qlikauth.tls.handshake import HOSTNAME_MISMATCH_CODES, VALIDITY_CODES
from qlikauth.validators.base import INVALID_CREDENTIALS, account_restricted

__all__ = ["AD_BIND_CODES", "bind_failure", "refused_bind", "tls_failure"]

log = logging.getLogger("qlikauth.validators.ldap")

#: Active Directory's ``data NNN`` bind diagnostics: restriction reason (``None`` when the
#: name or password is wrong) and what it means, for the log.
AD_BIND_CODES: dict[str, tuple[str | None, str]] = {
    "525": (None, "no such user"),
    "52e": (None, "wrong password"),
    "530": ("logon_hours", "not permitted to log on at this time"),
    "531": ("workstation", "not permitted to log on from this workstation"),
    "532": ("password_expired", "password expired"),
    "533": ("disabled", "account disabled"),
    "701": ("expired", "account expired"),
    "773": ("must_change_password", "user must change password"),
    "775": ("locked", "account locked out"),
}

_DATA_CODE = re.compile(r"\bdata ([0-9a-fA-F]{3,8})\b")
_INVALID_CREDENTIALS_RESULT = 49
_STRONGER_AUTH_REQUIRED_RESULT = 8
_CONFIDENTIALITY_REQUIRED_RESULT = 13


def bind_failure(message: str, username: str) -> QlikAuthError:
    """Translate the diagnostic text of a refused bind (result 49) into a qlikauth error.

    Wrong name and wrong password both become a bare "invalid credentials"; the AD code
    goes to the log. Restricted accounts name their reason.
    """
    match = _DATA_CODE.search(message)
    code = match.group(1).lower() if match else None
    reason, meaning = AD_BIND_CODES.get(code or "", (None, "no AD diagnostic code"))
    if reason is None:
        log.info("LDAP bind for %r refused: %s (AD data %s)", username, meaning, code or "-")
        return InvalidCredentialsError(INVALID_CREDENTIALS)
    log.info("LDAP bind for %r refused: %s (AD data %s)", username, meaning, code)
    return account_restricted(reason, username)


def refused_bind(result: Mapping[str, Any], username: str, where: str) -> QlikAuthError:
    """The error for a bind the server answered with ``result`` (ldap3's result dict)."""
    code = result.get("result")
    message = str(result.get("message") or "")
    if code == _INVALID_CREDENTIALS_RESULT:
        return bind_failure(message, username)
    if code in (_STRONGER_AUTH_REQUIRED_RESULT, _CONFIDENTIALITY_REQUIRED_RESULT):
        return ConfigurationError(
            f"{where} requires a stronger bind: {message}",
            hint="use ldaps:// or StartTLS",
        )
    log.info("LDAP bind for %r refused by %s: %s %s", username, where, code, message)
    return InvalidCredentialsError(INVALID_CREDENTIALS)


def tls_failure(exc: BaseException, where: str, server_name: str, ca: str) -> TlsError:
    """The error for a TLS handshake with ``where`` that failed with ``exc``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in HOSTNAME_MISMATCH_CODES:
            return HostnameMismatchError(
                f"the certificate of {where} does not name {server_name!r}",
                host=server_name,
                hint="use the domain controller's name from its certificate in the URL, "
                "or set tls_server_name to it",
            )
        if code in VALIDITY_CODES:
            return CertificateValidityError(
                f"the certificate of {where} is {exc.verify_message}",
                hint="renew the domain controller's certificate, or check this clock",
            )
        return CertificateChainError(
            f"the certificate of {where} is not trusted by {ca}: {exc.verify_message}",
            hint="set ca_file to the root CA that issued the domain controller's certificate (PEM)",
        )
    return HandshakeError(f"the TLS handshake with {where} failed: {exc}")
