"""What is wrong with a certificate bundle, one :class:`Finding` per fact.

The findings are what ``qlikauth certs check`` prints: missing or unreadable files, a key
that does not belong to its certificate, expiry, a root that did not sign the client
certificate, a server certificate for another host, a key others can read. Each error
finding remembers the :class:`~qlikauth.errors.TlsError` it stands for, so that
:func:`first_error` can raise the specific one.
"""

from __future__ import annotations

import datetime as dt
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from qlikauth.errors import (
    CertificateChainError,
    CertificateFileError,
    CertificateMismatchError,
    CertificateValidityError,
    QlikAuthError,
    TlsError,
)
from qlikauth.tls.chain import allows_usage, chains_to, describe, is_self_signed, same_key
from qlikauth.tls.files import (
    Identity,
    key_readable_by_others,
    load_certificates,
    load_private_key,
    read_identity,
)
from qlikauth.tls.hostnames import certificate_names, host_matches, hostname_advice, is_ip_address

__all__ = ["EXPIRY_WARNING_DAYS", "BundleFiles", "Finding", "examine", "first_error"]

#: A certificate that ends within this many days earns a warning.
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class Finding:
    """One line of a diagnosis: a level, what was found, and what to do about it."""

    level: Literal["ok", "warning", "error"]
    message: str
    hint: str | None = None

    @classmethod
    def from_error(cls, exc: QlikAuthError) -> Finding:
        """The error finding that reports ``exc`` (its message and hint)."""
        return cls("error", exc.message, exc.hint)

    def to_dict(self) -> dict[str, str | None]:
        """The finding as plain JSON-ready data."""
        return {"level": self.level, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        text = f"{self.level}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class BundleFiles(Protocol):
    """The files a diagnosis reads (a :class:`~qlikauth.tls.CertificateBundle` is one)."""

    @property
    def client_cert(self) -> Path: ...

    @property
    def client_key(self) -> Path | None: ...

    @property
    def root(self) -> Path | None: ...

    @property
    def passphrase(self) -> str | None: ...

    @property
    def server_cert(self) -> Path | None: ...

    @property
    def server_key(self) -> Path | None: ...

    def private_key_files(self) -> tuple[Path, ...]: ...


def examine(
    files: BundleFiles, *, host: str | None = None, now: dt.datetime | None = None
) -> list[Finding]:
    """Diagnose ``files``: one finding per fact, problems never raised.

    With ``host``, also say whether the certificates in hand name that host.
    """
    return [issue.finding for issue in _examine(files, host=host, now=now)]


def first_error(files: BundleFiles) -> TlsError | None:
    """The specific error for the first problem of ``files``; None when there is none."""
    for issue in _examine(files, host=None, now=None):
        if issue.finding.level == "error":
            kind = issue.kind or TlsError
            return kind(issue.finding.message, hint=issue.finding.hint)
    return None


@dataclass(frozen=True)
class _Issue:
    finding: Finding
    kind: type[TlsError] | None = None


class _Report:
    """Collects the findings of one diagnosis, each error with the error type it stands for."""

    def __init__(self, issues: list[_Issue]) -> None:
        self.issues = issues

    def ok(self, message: str) -> None:
        self.issues.append(_Issue(Finding("ok", message)))

    def warn(self, message: str, hint: str | None = None) -> None:
        self.issues.append(_Issue(Finding("warning", message, hint)))

    def error(self, message: str, hint: str | None, kind: type[TlsError]) -> None:
        self.issues.append(_Issue(Finding("error", message, hint), kind))

    def failed(self, exc: TlsError) -> None:
        self.error(exc.message, exc.hint, type(exc))


class _ServerReport(_Report):
    # server.pem/server_key.pem serve the machine named at export, not this client:
    # their problems are warnings, so that they never fail a client's check.
    def error(self, message: str, hint: str | None, kind: type[TlsError]) -> None:
        self.warn(f"{message} (affects only a server using server.pem)", hint)


def _examine(files: BundleFiles, *, host: str | None, now: dt.datetime | None) -> list[_Issue]:
    when = now or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    report = _Report([])

    for key_file in files.private_key_files():
        if key_readable_by_others(key_file):
            mode = stat.S_IMODE(key_file.stat().st_mode)
            report.warn(
                f"private key {key_file} can be read by other users (mode {mode:04o})",
                hint=f"chmod 600 {key_file}  (and keep one folder per site, mode 700)",
            )

    identity: Identity | None = None
    try:
        identity = read_identity(files.client_cert, files.client_key, files.passphrase)
    except TlsError as exc:
        report.failed(exc)
    roots: list[x509.Certificate] = []
    try:
        if files.root is not None:
            roots = load_certificates(files.root, "root certificate")
    except TlsError as exc:
        report.failed(exc)
    if files.root is None:
        if identity is not None:
            roots = [c for c in identity.chain if is_self_signed(c)]
        report.warn(
            "no root certificate given: servers will be checked against the system's "
            "trust store, which does not trust a Qlik site's own root",
            hint="pass the site's root.pem (or root.cer) from the same export",
        )

    if identity is not None:
        _check_client(files, identity, roots, when, report)
    for root in roots[:1]:
        _check_root(root, when, report)
    _check_server(files, host, roots, when, _ServerReport(report.issues))
    return report.issues


def _check_client(
    files: BundleFiles,
    identity: Identity,
    roots: list[x509.Certificate],
    when: dt.datetime,
    report: _Report,
) -> None:
    cert = identity.cert
    name = describe(cert)
    where = files.client_cert.name
    if same_key(cert, identity.key):
        report.ok(f"client certificate {where} ({name}) and its private key belong together")
    else:
        key_name = (files.client_key or files.client_cert).name
        report.error(
            f"the private key {key_name} does not belong to the client certificate "
            f"{where} ({name})",
            "the files come from different exports; copy client.pem and "
            "client_key.pem from the same export folder",
            CertificateMismatchError,
        )
    _check_validity(cert, f"client certificate {where}", when, report)
    if allows_usage(cert, ExtendedKeyUsageOID.CLIENT_AUTH) is False:
        report.error(
            f"{where} ({name}) is not a client certificate: its extended key usage "
            "does not allow client authentication",
            "the files may be swapped: the client certificate of a QMC export "
            "is client.pem (CN=QlikClient), not server.pem",
            CertificateFileError,
        )
    if not roots:
        return
    if chains_to(cert, roots, identity.chain):
        report.ok(f"the root ({describe(roots[0])}) signs the client certificate")
    else:
        report.error(
            f"the root certificate ({describe(roots[0])}) does not sign the client "
            f"certificate {where} (issued by {cert.issuer.rfc4514_string()})",
            "root.pem and the client certificate come from different sites or "
            "exports; use the root.pem of the export the client certificate came from",
            CertificateChainError,
        )


def _check_root(root: x509.Certificate, when: dt.datetime, report: _Report) -> None:
    _check_validity(root, "root certificate", when, report)
    try:
        is_ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        report.warn(
            f"the root certificate ({describe(root)}) is not marked as a CA",
            hint="root.pem may be the wrong file (a client or server certificate?)",
        )


def _check_validity(cert: x509.Certificate, what: str, when: dt.datetime, report: _Report) -> None:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    renew = "export new certificates from the QMC (or renew them on the server)"
    if when < start:
        report.error(
            f"{what} is not valid yet: valid from {start:%Y-%m-%d %H:%M} UTC",
            "check this machine's clock and time zone, or wait until then",
            CertificateValidityError,
        )
    elif when > end:
        report.error(f"{what} expired on {end:%Y-%m-%d %H:%M} UTC", renew, CertificateValidityError)
    elif end - when < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        report.warn(f"{what} expires soon, on {end:%Y-%m-%d %H:%M} UTC", renew)
    else:
        report.ok(f"{what} is valid until {end:%Y-%m-%d} UTC")


def _check_server(
    files: BundleFiles,
    host: str | None,
    roots: list[x509.Certificate],
    when: dt.datetime,
    report: _ServerReport,
) -> None:
    if files.server_cert is None:
        if host is not None:
            report.warn(
                f"no server.pem here, so whether the server's certificate names {host!r} "
                "can only be seen when connecting",
                "the certificate the Qlik server presents must name the host exactly as "
                "you connect to it; qlikauth lists the names it holds if they differ",
            )
        if host is not None and is_ip_address(host):
            report.warn(
                f"{host} is an IP address; Qlik server certificates usually hold host names only",
                "connect with the server's host name as shown in its certificate",
            )
        return

    try:
        server = load_certificates(files.server_cert, "server certificate")[0]
    except TlsError as exc:
        report.failed(exc)
        return
    names = certificate_names(server)
    label = f"server certificate {files.server_cert.name}"
    report.ok(f"{label} names: {', '.join(names) or '(none)'}")
    _check_validity(server, label, when, report)
    if roots and not chains_to(server, roots, ()):
        report.error(
            f"the root certificate does not sign {label}",
            "server.pem and root.pem come from different exports",
            CertificateChainError,
        )
    if files.server_key is not None:
        try:
            server_key = load_private_key(files.server_key, files.passphrase, "server key")
        except TlsError as exc:
            report.failed(exc)
        else:
            if not same_key(server, server_key):
                report.error(
                    f"the private key {files.server_key.name} does not belong to {label}",
                    "copy server.pem and server_key.pem from the same export",
                    CertificateMismatchError,
                )
    if host is None:
        return
    if host_matches(host, names):
        report.ok(f"{label} names {host!r}: a server using it can be reached as {host}")
    else:
        report.warn(
            f"{label} does not name {host!r} (it names {', '.join(names) or 'nothing'}); "
            f"a server presenting it cannot be reached as {host} with verification on",
            hostname_advice(host, names)
            + ". Note: a QMC export's server.pem is for the machine named at export; the "
            "Qlik server itself presents its own certificate, signed by the same root",
        )
