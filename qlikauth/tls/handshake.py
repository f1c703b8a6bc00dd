"""Why a TLS handshake failed, in words a Qlik administrator can act on.

:func:`explain_tls_failure` turns an ``ssl``/socket error into the specific qlikauth error:
a hostname mismatch names the names the server certificate does hold (the most common
support question), an unknown CA asks for the site's ``root.pem``, a refused client
certificate says so, even under TLS 1.3 where the refusal arrives after the handshake.
:func:`check_connection` runs one handshake and reports it as a :class:`~qlikauth.tls.Finding`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from cryptography import x509

from qlikauth.errors import (
    CertificateChainError,
    CertificateValidityError,
    ConfigurationError,
    HandshakeError,
    HostnameMismatchError,
    QlikAuthError,
    TlsError,
)
from qlikauth.tls.bundle import CertificateBundle
from qlikauth.tls.contexts import TlsConfig, load_identity
from qlikauth.tls.diagnosis import Finding
from qlikauth.tls.hostnames import certificate_names, hostname_advice, is_ip_address

__all__ = [
    "HOSTNAME_MISMATCH_CODES",
    "VALIDITY_CODES",
    "check_connection",
    "errors_in",
    "explain_tls_failure",
    "server_certificate_names",
]


def _peer_certificate(
    host: str, port: int, *, timeout: float, bundle: CertificateBundle | None
) -> x509.Certificate | None:
    """The server's certificate from an unverified handshake that sends no data."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if bundle is not None:
        with contextlib.suppress(TlsError, OSError):
            load_identity(context, bundle)
    server_name = None if is_ip_address(host) else host
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def server_certificate_names(
    host: str,
    port: int,
    *,
    timeout: float = 5.0,
    bundle: CertificateBundle | None = None,
) -> tuple[str, ...]:
    """The names the certificate served at ``host:port`` holds (unverified; sends no data).

    ``bundle`` presents a client certificate, for servers that end the handshake without
    one (TLS 1.2 with mutual TLS). Raises :class:`HandshakeError` if no certificate arrives.
    """
    try:
        cert = _peer_certificate(host, port, timeout=timeout, bundle=bundle)
    except (OSError, ValueError) as exc:
        raise HandshakeError(
            f"could not fetch the certificate of {host}:{port}: {exc}",
            hint="check the host and port, and that the service listens with TLS",
        ) from None
    if cert is None:
        raise HandshakeError(f"{host}:{port} presented no certificate")
    return certificate_names(cert)


def errors_in(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error it wraps (cause, context, urllib3's ``reason``, args)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested: list[Any] = [
            current.__cause__,
            current.__context__,
            # urllib3 keeps ``reason`` as an attribute; some libraries make it a deprecated
            # property that warns when read, so only the instance's own is taken.
            vars(current).get("reason") if hasattr(current, "__dict__") else None,
        ]
        nested += list(current.args)
        stack.extend(n for n in nested if isinstance(n, BaseException))


# OpenSSL X509_V_ERR_* codes.
#: Verification codes meaning "the certificate does not name this host" (name, IP address).
HOSTNAME_MISMATCH_CODES = frozenset({62, 64})
#: Verification codes meaning "the certificate is not yet valid" or "has expired".
VALIDITY_CODES = frozenset({9, 10})
_UNKNOWN_CA_CODES = frozenset({2, 18, 19, 20, 21, 27, 30})
_CLIENT_CERT_REASONS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_ACCESS_DENIED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    }
)


def explain_tls_failure(
    exc: BaseException,
    *,
    host: str,
    port: int,
    config: TlsConfig | None = None,
    timeout: float = 5.0,
) -> TlsError:
    """Turn a failed TLS handshake (``ssl`` error, or one wrapped by requests/urllib3/
    websockets) into the specific qlikauth error, with what to change.

    For a hostname mismatch it makes a second, unverified handshake that sends nothing
    else, to list the names the server certificate does hold.
    """
    where = f"{host}:{port}"
    bundle = config.bundle if config is not None else None
    for err in errors_in(exc):
        if isinstance(err, TlsError):
            return err
        if isinstance(err, ssl.SSLCertVerificationError):
            return _explain_verification(err, host, port, config, timeout)
    for err in errors_in(exc):
        if isinstance(err, ssl.SSLError) and err.reason in _CLIENT_CERT_REASONS:
            return _explain_rejected_client(err, where, bundle)
    for err in errors_in(exc):
        if isinstance(err, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
            hint = (
                "if this port requires a client certificate (QPS 4243, QRS 4242, engine 4747), "
                + (
                    "the server may not accept yours: check it is signed by this site's root "
                    "(qlikauth certs check)"
                    if bundle
                    else "pass the site's certificate export (client.pem and client_key.pem, "
                    "or client.pfx)"
                )
            )
            return HandshakeError(f"{where} closed the TLS connection: {err}", hint=hint)
    for err in errors_in(exc):
        text = str(err).lower()
        if "hostname mismatch" in text or "ip address mismatch" in text:
            # Only the text survived (some libraries re-raise with a message string).
            names: tuple[str, ...] = ()
            with contextlib.suppress(QlikAuthError):
                names = server_certificate_names(host, port, timeout=timeout, bundle=bundle)
            return _hostname_error(host, port, names)
    first = next((e for e in errors_in(exc) if isinstance(e, ssl.SSLError)), exc)
    return HandshakeError(
        f"TLS with {where} failed: {first}",
        hint="check that the port speaks TLS and that the host and port are right",
    )


def _explain_rejected_client(
    err: ssl.SSLError, where: str, bundle: CertificateBundle | None
) -> TlsError:
    reason = str(err.reason)
    if bundle is None:
        return HandshakeError(
            f"{where} refused the connection without a client certificate ({reason})",
            hint="this port needs mutual TLS: pass the site's certificate export (client.pem "
            "and client_key.pem, or client.pfx with its password)",
        )
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        return CertificateValidityError(
            f"{where} refused the client certificate as expired ({reason})",
            hint="export new certificates from the QMC; check this machine's clock",
        )
    return HandshakeError(
        f"{where} refused the client certificate {bundle.client_cert} ({reason})",
        hint="the client certificate is missing or not signed by this site's root: use the "
        "export of this site (qlikauth certs check shows which root signs it)",
    )


def _hostname_error(host: str, port: int, names: tuple[str, ...]) -> HostnameMismatchError:
    held = ", ".join(names) if names else "(the names could not be fetched)"
    return HostnameMismatchError(
        f"the certificate of {host}:{port} does not name {host!r}; it holds: {held}",
        host=host,
        server_names=names,
        hint=hostname_advice(host, names),
    )


def _explain_verification(
    err: ssl.SSLCertVerificationError,
    host: str,
    port: int,
    config: TlsConfig | None,
    timeout: float,
) -> TlsError:
    where = f"{host}:{port}"
    code = err.verify_code
    bundle = config.bundle if config is not None else None
    peer: x509.Certificate | None = None
    with contextlib.suppress(OSError, ValueError):
        peer = _peer_certificate(host, port, timeout=timeout, bundle=bundle)
    if code in HOSTNAME_MISMATCH_CODES:
        return _hostname_error(host, port, certificate_names(peer) if peer is not None else ())
    if code in VALIDITY_CODES:
        detail = ""
        if peer is not None:
            detail = (
                f" (valid {peer.not_valid_before_utc:%Y-%m-%d} to "
                f"{peer.not_valid_after_utc:%Y-%m-%d} UTC)"
            )
        return CertificateValidityError(
            f"the server certificate of {where} is {err.verify_message}{detail}",
            hint="renew the server's certificate, or check this machine's clock",
        )
    if code in _UNKNOWN_CA_CODES:
        issuer = f" issued by {peer.issuer.rfc4514_string()}" if peer is not None else ""
        root = config.root if config is not None else None
        hint = (
            f"the server's certificate{issuer} is not signed by {root}: use the root.pem "
            "exported from this site"
            if root is not None
            else "pass the site's root.pem (from the QMC certificate export) as the trusted "
            "root; the system's trust store does not know a Qlik site's own root"
        )
        return CertificateChainError(
            f"cannot verify the certificate of {where}: {err.verify_message}", hint=hint
        )
    return CertificateChainError(
        f"the certificate of {where} failed verification: {err.verify_message} "
        f"(OpenSSL code {code})",
        hint="run qlikauth certs check on the certificate folder",
    )


def check_connection(
    host: str, port: int, *, config: TlsConfig, timeout: float = 5.0
) -> list[Finding]:
    """Connect to ``host:port`` with ``config`` (the client certificate when there is one)
    and report whether the server is verified and accepts us; sends no application data.
    """
    where = f"{host}:{port}"
    try:
        context = config.client_context() if config.bundle else config.server_context()
    except (TlsError, ConfigurationError) as exc:
        return [Finding.from_error(exc)]
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host.strip("[]")) as tls,
        ):
            version = tls.version()
            # With TLS 1.3 the server judges our certificate after our side of the
            # handshake is done; a refusal arrives as an alert on the first read.
            tls.settimeout(min(timeout, 1.0))
            closed = False
            with contextlib.suppress(TimeoutError):
                closed = tls.recv(1) == b""
    except OSError as exc:  # ssl.SSLError is an OSError
        if not isinstance(exc, ssl.SSLError | ConnectionResetError | BrokenPipeError):
            return [
                Finding(
                    "error",
                    f"cannot connect to {where}: {exc}",
                    "check the host name, the port and the firewall",
                )
            ]
        failure = explain_tls_failure(exc, host=host, port=port, config=config, timeout=timeout)
        return [Finding.from_error(failure)]
    who = "with the client certificate" if config.bundle else "without a client certificate"
    if closed:
        # Some servers refuse a client certificate by closing without an alert.
        return [
            Finding(
                "error",
                f"{where} closed the connection right after the TLS handshake {who}",
                "the server did not accept this client: the certificate is missing or not "
                "signed by the site's root; export the certificates again from this site",
            )
        ]
    if not config.verify:
        return [
            Finding(
                "warning",
                f"TLS ({version}) with {where} succeeded {who}, but the server was NOT verified",
                "turn verification back on and pass the site's root.pem",
            )
        ]
    return [Finding("ok", f"TLS ({version}) with {where} succeeded {who}; the server is verified")]
