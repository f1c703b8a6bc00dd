"""A site's certificate bundle: where the files of a QMC certificate export are.

A Qlik Sense certificate export (QMC, "Export certificates") comes in two shapes:

* **PEM**: ``client.pem``, ``client_key.pem``, ``root.pem`` (and ``server.pem``,
  ``server_key.pem`` for the machine named at export);
* **Windows**: ``client.pfx`` protected by the password chosen at export.

:class:`CertificateBundle` locates either; reading the files is
:mod:`~qlikauth.tls.files`' job, judging them :mod:`~qlikauth.tls.diagnosis`'.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from qlikauth.errors import CertificateFileError, TlsError
from qlikauth.tls.diagnosis import Finding, examine, first_error
from qlikauth.tls.files import (
    is_pfx,
    load_certificates,
    load_pfx,
    pfx_needs_password,
    read_file,
    require_file,
)

__all__ = ["PEM_FILES", "PFX_FILE", "CertificateBundle", "diagnose"]

#: The files of a QMC export in the PEM format that a client needs.
PEM_FILES = ("client.pem", "client_key.pem", "root.pem")
#: The file of a QMC export in the Windows format.
PFX_FILE = "client.pfx"
_ROOT_FILES = ("root.pem", "root.cer", "root.crt")
_EXPORT_HINT = (
    "export the certificates again in the QMC (Certificates > Export) with "
    "the secret key included and the PEM format, or use the "
    "Windows format and pass the client.pfx with its password"
)


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

    @classmethod
    def from_folder(cls, folder: Path | str, *, passphrase: str | None = None) -> CertificateBundle:
        """Load a QMC export folder: PEM files, or a ``client.pfx`` (then ``passphrase``).

        Raises :class:`CertificateFileError` listing which expected files are there and
        which are not. Files are only located here; :meth:`check` and :meth:`validate` read
        them.
        """
        path = Path(folder).expanduser()
        if path.is_file() and is_pfx(path):
            if passphrase is None:
                raise pfx_needs_password(path)
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
        if PFX_FILE in names and not names & {"client.pem", "client_key.pem"}:
            if passphrase is None:
                raise pfx_needs_password(path / PFX_FILE)
            client_cert, client_key = path / PFX_FILE, None
        else:
            client_cert, client_key = path / "client.pem", _pem_key_file(path, names)
        return cls(
            client_cert=client_cert,
            client_key=client_key,
            root=_find_root(path),
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
        require_file(pfx, "PFX file")
        return cls(
            client_cert=pfx,
            client_key=None,
            root=Path(root).expanduser() if root is not None else None,
            passphrase=password,
        )

    @property
    def is_pfx(self) -> bool:
        """Whether the identity is a PKCS#12 file (``.pfx``/``.p12``)."""
        return is_pfx(self.client_cert)

    def certificate(self) -> x509.Certificate:
        """The client certificate (loaded on each call; cache it if you need it often)."""
        if self.is_pfx:
            return load_pfx(self.client_cert, self.passphrase).cert
        return load_certificates(self.client_cert, "client certificate")[0]

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
        return load_certificates(self.root, "root certificate")

    def private_key_files(self) -> tuple[Path, ...]:
        """Every file of the bundle that holds a private key."""
        files = [self.client_key or self.client_cert]
        if self.server_key is not None:
            files.append(self.server_key)
        return tuple(files)

    def check(self, *, host: str | None = None, now: dt.datetime | None = None) -> list[Finding]:
        """Diagnose the bundle: one :class:`Finding` per fact, problems never raised.

        With ``host``, also say whether the certificates in hand name that host.
        """
        return examine(self, host=host, now=now)

    def validate(self) -> None:
        """Raise the specific :class:`TlsError` for the first problem found, if any."""
        error = first_error(self)
        if error is not None:
            raise error


def _find_root(folder: Path) -> Path | None:
    return next((folder / n for n in _ROOT_FILES if (folder / n).is_file()), None)


def _pem_key_file(folder: Path, names: set[str]) -> Path | None:
    """The key file of a PEM export (None: ``client.pem`` holds the key); raises listing
    what is missing and what is there."""
    missing = [n for n in PEM_FILES if n not in names]
    client_holds_key = (
        "client.pem" in names
        and "client_key.pem" in missing
        and b"PRIVATE KEY-----" in read_file(folder / "client.pem", "client certificate")
    )
    if client_holds_key:
        missing.remove("client_key.pem")
    if missing:
        found = [n for n in (*PEM_FILES, PFX_FILE, "server.pem", "server_key.pem") if n in names]
        raise CertificateFileError(
            f"certificate folder {folder} is incomplete: missing {', '.join(missing)}; "
            f"found {', '.join(found) if found else 'none of the expected files'}",
            hint=_EXPORT_HINT,
        )
    return None if client_holds_key else folder / "client_key.pem"


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
    except TlsError as exc:
        return [Finding.from_error(exc)]
    return bundle.check(host=host, now=now)
