"""TLS material for one Qlik site: certificate bundles, their diagnosis, and SSL contexts.

A Qlik Sense certificate export (QMC, "Export certificates") comes in two shapes:

* **PEM**: ``client.pem``, ``client_key.pem``, ``root.pem`` (and ``server.pem``,
  ``server_key.pem`` for the machine named at export);
* **Windows**: ``client.pfx`` protected by the password chosen at export.

:class:`CertificateBundle` loads either and explains what is wrong with it
(:meth:`CertificateBundle.check`). :class:`TlsConfig` turns trust and identity into
``ssl.SSLContext`` objects, built once. :func:`explain_tls_failure` turns a failed handshake
into the specific qlikauth error (in :mod:`qlikauth.handshake`).

Verification is on unless ``verify=False`` is passed explicitly; every context handed out
in that state emits :class:`InsecureTLSWarning`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import ssl
import stat
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qlikauth.errors import (
    CertificateChainError,
    CertificateFileError,
    CertificateMismatchError,
    CertificateValidityError,
    ConfigurationError,
    TLSError,
)

__all__ = [
    "CertificateBundle",
    "Finding",
    "InsecureTLSWarning",
    "KeyPermissionWarning",
    "TlsConfig",
    "certificate_names",
    "diagnose",
    "host_matches",
    "hostname_advice",
    "is_ip_address",
    "load_identity",
]

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | dsa.DSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

#: A certificate that ends within this many days earns a warning.
EXPIRY_WARNING_DAYS = 30

PEM_FILES = ("client.pem", "client_key.pem", "root.pem")
PFX_FILE = "client.pfx"
_PFX_SUFFIXES = (".pfx", ".p12")
_EXPORT_HINT = (
    "export the certificates again in the QMC (Certificates > Export) with "
    "the secret key included and the PEM format, or use the "
    "Windows format and pass the client.pfx with its password"
)


class InsecureTLSWarning(UserWarning):
    """TLS verification is off: anyone on the path can read and change the traffic."""


class KeyPermissionWarning(UserWarning):
    """A private key file can be read by other users of this machine."""


@dataclass(frozen=True)
class Finding:
    """One line of a diagnosis: a level, what was found, and what to do about it."""

    level: Literal["ok", "warning", "error"]
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The finding as plain JSON-ready data."""
        return {"level": self.level, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        text = f"{self.level}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


# --------------------------------------------------------------------------- file loading


def _read(path: Path, what: str) -> bytes:
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


def _folder_hint(path: Path) -> str:
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist either"
    present = sorted(p.name for p in folder.iterdir() if p.is_file())
    shown = ", ".join(present[:12]) if present else "nothing"
    return f"{folder} holds: {shown}"


def _load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    data = _read(path, what)
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


def _load_private_key(path: Path, passphrase: str | None, what: str) -> PrivateKey:
    data = _read(path, what)
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
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | dsa.DSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise CertificateFileError(
            f"{what} {path} holds a key type TLS cannot use ({type(key).__name__})"
        )
    return key


@dataclass(frozen=True)
class _Pfx:
    key: PrivateKey
    cert: x509.Certificate
    extra: tuple[x509.Certificate, ...]


def _pfx_needs_password(path: Path) -> CertificateFileError:
    return CertificateFileError(
        f"the PFX file {path} needs its password",
        hint="pass password=... (on the command line: a profile's certs_password or "
        "QLIKAUTH_CERTS_PASSWORD); it is the password typed when exporting from the QMC",
    )


def _load_pfx(path: Path, password: str | None) -> _Pfx:
    data = _read(path, "PFX file")
    if password is None:
        raise _pfx_needs_password(path)
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
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | dsa.DSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise CertificateFileError(f"the PFX file {path} holds a key type TLS cannot use")
    return _Pfx(key, cert, tuple(extra))


def _public_bytes(obj: x509.Certificate | PrivateKey) -> bytes:
    public = obj.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_readable_by_others(path: Path) -> bool:
    if os.name != "posix":
        return False
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def _describe(cert: x509.Certificate) -> str:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.subject.rfc4514_string()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # ValueError (names), InvalidSignature, TypeError (key types)
        return False
    return True


def _chains_to(
    leaf: x509.Certificate, roots: Sequence[x509.Certificate], pool: Sequence[x509.Certificate]
) -> bool:
    """Whether ``leaf`` chains to one of ``roots``, through certificates of ``pool``."""
    current = leaf
    for _ in range(8):
        if any(_issued_by(current, root) for root in roots):
            return True
        parent = next((c for c in pool if c != current and _issued_by(current, c)), None)
        if parent is None:
            return False
        current = parent
    return False


def _has_usage(cert: x509.Certificate, usage: x509.ObjectIdentifier) -> bool | None:
    """Whether the extended key usage allows ``usage``; None when the extension is absent."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return usage in eku or x509.ObjectIdentifier("2.5.29.37.0") in eku  # anyExtendedKeyUsage


def certificate_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The host names and IP addresses ``cert`` is valid for (SAN, else the CN)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return tuple(str(a.value) for a in cn)
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(names)


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_matches(host: str, names: Sequence[str]) -> bool:
    """Whether ``host`` is one of ``names`` as TLS checks it (IP exact, one-label wildcards)."""
    host = host.strip("[]").rstrip(".").lower()
    if is_ip_address(host):
        ip = ipaddress.ip_address(host)
        return any(is_ip_address(n) and ipaddress.ip_address(n) == ip for n in names)
    for name in names:
        name = name.rstrip(".").lower()
        if name == host:
            return True
        if (
            name.startswith("*.")
            and "." in host
            and host.split(".", 1)[1] == name[2:]
            and not is_ip_address(name[2:])
        ):
            return True
    return False


def hostname_advice(host: str, names: Sequence[str]) -> str:
    """What to do when ``host`` is not among ``names``: the #1 support question."""
    shown = ", ".join(names) if names else "(no names)"
    bare = host.strip("[]").lower()
    advice: list[str] = []
    matches = [n for n in names if n.lower().split(".", 1)[0] == bare]
    if is_ip_address(bare):
        advice.append(
            "Qlik certificates name the server by host name, rarely by IP address: connect "
            f"with one of {shown}"
        )
    elif matches:
        advice.append(f"you used the short name; connect with the full name {matches[0]}")
    elif "." in bare and any(n.lower() == bare.split(".", 1)[0] for n in names):
        advice.append(f"you used the full name; the certificate holds {bare.split('.', 1)[0]}")
    else:
        advice.append(f"connect with one of the names the certificate holds ({shown})")
    advice.append(
        "or re-export the certificates for the name you use, or map that name to the "
        "server's address in the hosts file"
    )
    return "; ".join(advice)


# --------------------------------------------------------------------------- the bundle


@dataclass(frozen=True)
class _Issue:
    finding: Finding
    error: type[TLSError] | None = None


@dataclass(frozen=True)
class CertificateBundle:
    """A client identity (certificate + key, or a PFX) and the root that signed the site.

    ``client_key`` is None when the key is inside ``client_cert`` (a PFX, or a PEM holding
    both). ``passphrase`` unlocks an encrypted key or the PFX; it never appears in a repr.
    ``server_cert``/``server_key`` are the export's certificate for the named machine.
    """

    client_cert: Path
    client_key: Path | None
    root: Path | None
    passphrase: str | None = field(default=None, repr=False)
    server_cert: Path | None = None
    server_key: Path | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_folder(cls, folder: Path | str, *, passphrase: str | None = None) -> CertificateBundle:
        """Load a QMC export folder: PEM files, or a ``client.pfx`` (then ``passphrase``).

        Raises :class:`CertificateFileError` listing which expected files are there and
        which are not. Files are only located here; :meth:`check` and :meth:`validate` read
        them.
        """
        path = Path(folder).expanduser()
        if path.is_file() and path.suffix.lower() in _PFX_SUFFIXES:
            if passphrase is None:
                raise _pfx_needs_password(path)
            return cls.from_pfx(path, password=passphrase, root=_find_root(path.parent))
        if not path.is_dir():
            raise CertificateFileError(
                f"certificate folder {path} does not exist"
                if not path.exists()
                else f"{path} is not a certificate folder",
                hint="pass the folder the QMC export was copied to (it holds root.pem, "
                "client.pem, client_key.pem) or a client.pfx file",
            )
        names = {p.name for p in path.iterdir() if p.is_file()}
        server = path / "server.pem" if "server.pem" in names else None
        server_key = path / "server_key.pem" if "server_key.pem" in names else None
        has_pem = bool(names & {"client.pem", "client_key.pem"})
        if PFX_FILE in names and not has_pem:
            pfx = path / PFX_FILE
            if passphrase is None:
                raise _pfx_needs_password(pfx)
            return cls(
                client_cert=pfx,
                client_key=None,
                root=_find_root(path),
                passphrase=passphrase,
                server_cert=server,
                server_key=server_key,
            )
        missing = [n for n in PEM_FILES if n not in names]
        client_holds_key = (
            "client.pem" in names
            and "client_key.pem" in missing
            and b"PRIVATE KEY-----" in _read(path / "client.pem", "client certificate")
        )
        if client_holds_key:
            missing.remove("client_key.pem")
        if missing:
            found = [
                n for n in (*PEM_FILES, PFX_FILE, "server.pem", "server_key.pem") if n in names
            ]
            raise CertificateFileError(
                f"certificate folder {path} is incomplete: missing {', '.join(missing)}; "
                f"found {', '.join(found) if found else 'none of the expected files'}",
                hint=_EXPORT_HINT,
            )
        return cls(
            client_cert=path / "client.pem",
            client_key=None if client_holds_key else path / "client_key.pem",
            root=path / "root.pem",
            passphrase=passphrase,
            server_cert=server,
            server_key=server_key,
        )

    @classmethod
    def from_pfx(
        cls, path: Path | str, *, password: str, root: Path | str | None = None
    ) -> CertificateBundle:
        """A Windows-format export: ``client.pfx`` and the password chosen at export."""
        pfx = Path(path).expanduser()
        if not pfx.is_file():
            _read(pfx, "PFX file")  # raises the specific "missing"/"folder" error
        return cls(
            client_cert=pfx,
            client_key=None,
            root=Path(root).expanduser() if root is not None else None,
            passphrase=password,
        )

    # ------------------------------------------------------------------ accessors

    @property
    def is_pfx(self) -> bool:
        """Whether the identity is a PKCS#12 file (``.pfx``/``.p12``)."""
        return self.client_cert.suffix.lower() in _PFX_SUFFIXES

    def _identity(self) -> tuple[x509.Certificate, PrivateKey, tuple[x509.Certificate, ...]]:
        if self.is_pfx:
            pfx = _load_pfx(self.client_cert, self.passphrase)
            return pfx.cert, pfx.key, pfx.extra
        certs = _load_certificates(self.client_cert, "client certificate")
        key_path = self.client_key or self.client_cert
        key = _load_private_key(key_path, self.passphrase, "client key")
        return certs[0], key, tuple(certs[1:])

    def certificate(self) -> x509.Certificate:
        """The client certificate (loaded on each call; cache it if you need it often)."""
        if self.is_pfx:
            return _load_pfx(self.client_cert, self.passphrase).cert
        return _load_certificates(self.client_cert, "client certificate")[0]

    def subject(self) -> str:
        """The client certificate's subject, RFC 4514 (``CN=QlikClient,O=...``)."""
        return self.certificate().subject.rfc4514_string()

    def expires(self) -> dt.datetime:
        """When the client certificate stops being valid (UTC)."""
        return self.certificate().not_valid_after_utc

    def root_certificates(self) -> list[x509.Certificate]:
        """The trusted root(s) from ``root`` (PEM or DER); empty when there is none."""
        if self.root is None:
            return []
        return _load_certificates(self.root, "root certificate")

    def private_key_files(self) -> tuple[Path, ...]:
        """Every file of the bundle that holds a private key."""
        files = [self.client_key or self.client_cert]
        if self.server_key is not None:
            files.append(self.server_key)
        return tuple(files)

    # ------------------------------------------------------------------ diagnosis

    def check(self, *, host: str | None = None, now: dt.datetime | None = None) -> list[Finding]:
        """Diagnose the bundle: one :class:`Finding` per fact, problems never raised.

        With ``host``, also say whether the certificates in hand name that host.
        """
        return [issue.finding for issue in self._diagnose(host=host, now=now)]

    def validate(self) -> None:
        """Raise the specific :class:`TLSError` for the first problem found, if any."""
        for issue in self._diagnose(host=None, now=None):
            if issue.finding.level == "error":
                error = issue.error or TLSError
                raise error(issue.finding.message, hint=issue.finding.hint)

    def _diagnose(self, *, host: str | None, now: dt.datetime | None) -> list[_Issue]:
        when = now or dt.datetime.now(dt.UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        issues: list[_Issue] = []

        def ok(message: str) -> None:
            issues.append(_Issue(Finding("ok", message)))

        def warn(message: str, hint: str | None = None) -> None:
            issues.append(_Issue(Finding("warning", message, hint)))

        def error(message: str, hint: str | None, kind: type[TLSError]) -> None:
            issues.append(_Issue(Finding("error", message, hint), kind))

        def failed(exc: TLSError) -> None:
            error(exc.message, exc.hint, type(exc))

        for key_file in self.private_key_files():
            if _key_readable_by_others(key_file):
                mode = stat.S_IMODE(key_file.stat().st_mode)
                warn(
                    f"private key {key_file} can be read by other users (mode {mode:04o})",
                    hint=f"chmod 600 {key_file}  (and keep one folder per site, mode 700)",
                )

        identity: tuple[x509.Certificate, PrivateKey, tuple[x509.Certificate, ...]] | None
        try:
            identity = self._identity()
        except TLSError as exc:
            failed(exc)
            identity = None
        roots: list[x509.Certificate] = []
        try:
            roots = self.root_certificates()
        except TLSError as exc:
            failed(exc)
        if self.root is None:
            if identity and identity[2]:
                roots = [c for c in identity[2] if _issued_by(c, c)]
            warn(
                "no root certificate given: servers will be checked against the system's "
                "trust store, which does not trust a Qlik site's own root",
                hint="pass the site's root.pem (or root.cer) from the same export",
            )

        if identity is not None:
            cert, key, extra = identity
            name = _describe(cert)
            where = self.client_cert.name
            if _public_bytes(cert) != _public_bytes(key):
                key_name = (self.client_key or self.client_cert).name
                error(
                    f"the private key {key_name} does not belong to the client certificate "
                    f"{where} ({name})",
                    hint="the files come from different exports; copy client.pem and "
                    "client_key.pem from the same export folder",
                    kind=CertificateMismatchError,
                )
            else:
                ok(f"client certificate {where} ({name}) and its private key belong together")
            self._validity(cert, f"client certificate {where}", when, ok, warn, error)
            if _has_usage(cert, ExtendedKeyUsageOID.CLIENT_AUTH) is False:
                error(
                    f"{where} ({name}) is not a client certificate: its extended key usage "
                    "does not allow client authentication",
                    hint="the files may be swapped: the client certificate of a QMC export "
                    "is client.pem (CN=QlikClient), not server.pem",
                    kind=CertificateFileError,
                )
            if roots:
                if _chains_to(cert, roots, extra):
                    ok(f"the root ({_describe(roots[0])}) signs the client certificate")
                else:
                    error(
                        f"the root certificate ({_describe(roots[0])}) does not sign the client "
                        f"certificate {where} (issued by {cert.issuer.rfc4514_string()})",
                        hint="root.pem and the client certificate come from different sites or "
                        "exports; use the root.pem of the export the client certificate "
                        "came from",
                        kind=CertificateChainError,
                    )
        for root in roots[:1]:
            self._validity(root, "root certificate", when, ok, warn, error)
            constraints = root.extensions
            try:
                is_ca = constraints.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                warn(
                    f"the root certificate ({_describe(root)}) is not marked as a CA",
                    hint="root.pem may be the wrong file (a client or server certificate?)",
                )

        self._check_server(host, roots, when, ok, warn, error)
        return issues

    @staticmethod
    def _validity(
        cert: x509.Certificate,
        what: str,
        when: dt.datetime,
        ok: Callable[[str], None],
        warn: Callable[[str, str | None], None],
        error: Callable[[str, str | None, type[TLSError]], None],
    ) -> None:
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        renew = "export new certificates from the QMC (or renew them on the server)"
        if when < start:
            error(
                f"{what} is not valid yet: valid from {start:%Y-%m-%d %H:%M} UTC",
                "check this machine's clock and time zone, or wait until then",
                CertificateValidityError,
            )
        elif when > end:
            error(f"{what} expired on {end:%Y-%m-%d %H:%M} UTC", renew, CertificateValidityError)
        elif end - when < dt.timedelta(days=EXPIRY_WARNING_DAYS):
            warn(f"{what} expires soon, on {end:%Y-%m-%d %H:%M} UTC", renew)
        else:
            ok(f"{what} is valid until {end:%Y-%m-%d} UTC")

    def _check_server(
        self,
        host: str | None,
        roots: list[x509.Certificate],
        when: dt.datetime,
        ok: Callable[[str], None],
        warn: Callable[[str, str | None], None],
        error: Callable[[str, str | None, type[TLSError]], None],
    ) -> None:
        if self.server_cert is None:
            if host is not None:
                warn(
                    f"no server.pem here, so whether the server's certificate names {host!r} "
                    "can only be seen when connecting",
                    "the certificate the Qlik server presents must name the host exactly as "
                    "you connect to it; qlikauth lists the names it holds if they differ",
                )
            if host is not None and is_ip_address(host):
                warn(
                    f"{host} is an IP address; Qlik server certificates usually hold host "
                    "names only",
                    "connect with the server's host name as shown in its certificate",
                )
            return

        # server.pem/server_key.pem serve the machine named at export, not this client:
        # their problems are warnings, so that they never fail a client's check.
        def problem(message: str, hint: str | None, _kind: type[TLSError]) -> None:
            warn(f"{message} (affects only a server using server.pem)", hint)

        try:
            server = _load_certificates(self.server_cert, "server certificate")[0]
        except TLSError as exc:
            problem(exc.message, exc.hint, type(exc))
            return
        names = certificate_names(server)
        label = f"server certificate {self.server_cert.name}"
        ok(f"{label} names: {', '.join(names) or '(none)'}")
        self._validity(server, label, when, ok, warn, problem)
        if roots and not _chains_to(server, roots, ()):
            problem(
                f"the root certificate does not sign {label}",
                "server.pem and root.pem come from different exports",
                CertificateChainError,
            )
        if self.server_key is not None:
            try:
                server_key = _load_private_key(self.server_key, self.passphrase, "server key")
            except TLSError as exc:
                problem(exc.message, exc.hint, type(exc))
            else:
                if _public_bytes(server_key) != _public_bytes(server):
                    problem(
                        f"the private key {self.server_key.name} does not belong to {label}",
                        "copy server.pem and server_key.pem from the same export",
                        CertificateMismatchError,
                    )
        if host is None:
            return
        if host_matches(host, names):
            ok(f"{label} names {host!r}: a server using it can be reached as {host}")
        else:
            warn(
                f"{label} does not name {host!r} (it names {', '.join(names) or 'nothing'}); "
                "a server presenting it cannot be reached as "
                f"{host} with verification on",
                hostname_advice(host, names)
                + ". Note: a QMC export's server.pem is for the machine named at export; the "
                "Qlik server itself presents its own certificate, signed by the same root",
            )


def _find_root(folder: Path) -> Path | None:
    for name in ("root.pem", "root.cer", "root.crt"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def diagnose(
    path: Path | str,
    *,
    passphrase: str | None = None,
    host: str | None = None,
    now: dt.datetime | None = None,
) -> list[Finding]:
    """Diagnose a certificate folder or a PFX file, turning every problem into a Finding."""
    try:
        bundle = CertificateBundle.from_folder(path, passphrase=passphrase)
    except TLSError as exc:
        return [Finding("error", exc.message, exc.hint)]
    return bundle.check(host=host, now=now)


# --------------------------------------------------------------------------- contexts


@contextlib.contextmanager
def _private_dir() -> Iterator[Path]:
    """A temporary folder only this user can enter, removed on exit whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="qlikauth-tls-"))
    try:
        os.chmod(folder, 0o700)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise CertificateFileError("the client key is encrypted; give its passphrase")


def load_identity(context: ssl.SSLContext, bundle: CertificateBundle) -> None:
    """Load the bundle's certificate and key into ``context``, with qlikauth's errors."""
    key_file = bundle.client_key or bundle.client_cert
    if _key_readable_by_others(key_file):
        warnings.warn(
            KeyPermissionWarning(
                f"private key {key_file} can be read by other users; chmod 600 it"
            ),
            stacklevel=4,
        )
    if bundle.is_pfx:
        pfx = _load_pfx(bundle.client_cert, bundle.passphrase)
        # ssl loads a chain only from files. The key goes to disk only encrypted with a
        # one-time password that never leaves this process, in a 0700 folder, for a moment.
        one_time = secrets.token_urlsafe(32)
        key_pem = pfx.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(one_time.encode()),
        )
        chain = [pfx.cert, *(c for c in pfx.extra if not _issued_by(c, c))]
        cert_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        with _private_dir() as folder:
            _write_private(folder / "key.pem", key_pem)
            _write_private(folder / "cert.pem", cert_pem)
            _load_chain(context, folder / "cert.pem", folder / "key.pem", one_time, bundle)
        return
    key_path = bundle.client_key or bundle.client_cert
    # Load with cryptography first: OpenSSL reports a wrong passphrase as "PEM lib".
    cert = _load_certificates(bundle.client_cert, "client certificate")[0]
    key = _load_private_key(key_path, bundle.passphrase, "client key")
    if _public_bytes(cert) != _public_bytes(key):
        raise CertificateMismatchError(
            f"the private key {key_path.name} does not belong to the client certificate "
            f"{bundle.client_cert.name} ({_describe(cert)})",
            hint="copy client.pem and client_key.pem from the same export folder",
        )
    _load_chain(context, bundle.client_cert, bundle.client_key, bundle.passphrase, bundle)


def _load_chain(
    context: ssl.SSLContext,
    certfile: Path,
    keyfile: Path | None,
    password: str | None,
    bundle: CertificateBundle,
) -> None:
    try:
        context.load_cert_chain(
            certfile, keyfile, password=password if password is not None else _no_passphrase
        )
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise CertificateMismatchError(
                f"the private key does not belong to the client certificate {bundle.client_cert}",
                hint="use the certificate and key of the same export",
            ) from None
        raise CertificateFileError(
            f"cannot load the client certificate {bundle.client_cert}: {exc.reason or exc}",
            hint="check the files and the passphrase",
        ) from None


def _load_root(context: ssl.SSLContext, root: Path) -> None:
    certs = _load_certificates(root, "root certificate")
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)
    try:
        context.load_verify_locations(cadata=pem)
    except ssl.SSLError as exc:
        raise CertificateFileError(
            f"cannot use {root} as a trusted root: {exc.reason or exc}"
        ) from None


class TlsConfig:
    """Trust and identity for one site; builds each SSLContext once (thread-safe).

    ``root`` is the trust anchor for servers; it defaults to ``bundle.root``, and None means
    the system's trust store. ``verify=False`` turns verification off and warns with
    :class:`InsecureTLSWarning` every time a context is handed out.
    """

    def __init__(
        self,
        *,
        root: Path | str | None = None,
        bundle: CertificateBundle | None = None,
        verify: bool = True,
    ) -> None:
        if root is None and bundle is not None:
            root_path = bundle.root
        else:
            root_path = Path(root).expanduser() if root is not None else None
        if root_path is not None and not root_path.is_file():
            _read(root_path, "root certificate")  # raises the specific error
        self.root: Path | None = root_path
        self.bundle: CertificateBundle | None = bundle
        self.verify: bool = bool(verify)
        self._lock = threading.Lock()
        self._server: ssl.SSLContext | None = None
        self._client: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"TlsConfig(root={self.root!r}, bundle={self.bundle!r}, verify={self.verify!r})"

    def _base_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.verify:
            context.check_hostname = True
            context.verify_mode = ssl.CERT_REQUIRED
            if self.root is not None:
                _load_root(context, self.root)
            else:
                context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _hand_out(self, context: ssl.SSLContext) -> ssl.SSLContext:
        if not self.verify:
            warnings.warn(
                InsecureTLSWarning(
                    "TLS certificate verification is OFF: the server is not authenticated "
                    "and credentials can be intercepted; pass the site's root.pem instead"
                ),
                stacklevel=3,
            )
        return context

    def server_context(self) -> ssl.SSLContext:
        """Verify servers, present no client certificate (proxy on 443, auth module)."""
        with self._lock:
            if self._server is None:
                self._server = self._base_context()
            context = self._server
        return self._hand_out(context)

    def client_context(self) -> ssl.SSLContext:
        """Verify servers and present the client certificate (QPS 4243, QRS 4242, 4747)."""
        if self.bundle is None:
            raise ConfigurationError(
                "this call needs a client certificate (mutual TLS) and none was given",
                hint="pass the folder of the site's certificate export (root.pem, client.pem, "
                "client_key.pem) or its client.pfx with the password (CLI: --certs)",
            )
        with self._lock:
            if self._client is None:
                context = self._base_context()
                load_identity(context, self.bundle)
                self._client = context
            context = self._client
        return self._hand_out(context)
