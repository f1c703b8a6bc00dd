"""SSL contexts for one site: trust (the site's root) and identity (the client certificate).

:class:`TlsConfig` builds each ``ssl.SSLContext`` once. Verification is on unless
``verify=False`` is passed explicitly; every context handed out in that state emits
:class:`InsecureTlsWarning`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from qlikauth.errors import CertificateFileError, CertificateMismatchError, ConfigurationError
from qlikauth.tls.bundle import CertificateBundle
from qlikauth.tls.chain import describe, is_self_signed, same_key
from qlikauth.tls.files import (
    key_readable_by_others,
    load_certificates,
    read_identity,
    require_file,
)

__all__ = ["InsecureTlsWarning", "KeyPermissionWarning", "TlsConfig", "load_identity"]


class InsecureTlsWarning(UserWarning):
    """TLS verification is off: anyone on the path can read and change the traffic."""


class KeyPermissionWarning(UserWarning):
    """A private key file can be read by other users of this machine."""


def load_identity(context: ssl.SSLContext, bundle: CertificateBundle) -> None:
    """Load the bundle's certificate and key into ``context``, with qlikauth's errors."""
    key_file = bundle.client_key or bundle.client_cert
    if key_readable_by_others(key_file):
        warnings.warn(
            KeyPermissionWarning(
                f"private key {key_file} can be read by other users; chmod 600 it"
            ),
            stacklevel=4,
        )
    # Load with cryptography first: OpenSSL reports a wrong passphrase as "PEM lib".
    identity = read_identity(bundle.client_cert, bundle.client_key, bundle.passphrase)
    if bundle.is_pfx:
        # ssl loads a chain only from files. The key goes to disk only encrypted with a
        # one-time password that never leaves this process, in a 0700 folder, for a moment.
        one_time = secrets.token_urlsafe(32)
        key_pem = identity.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(one_time.encode()),
        )
        chain = [identity.cert, *(c for c in identity.chain if not is_self_signed(c))]
        cert_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        with _private_dir() as folder:
            _write_private(folder / "key.pem", key_pem)
            _write_private(folder / "cert.pem", cert_pem)
            _load_chain(context, folder / "cert.pem", folder / "key.pem", one_time, bundle)
        return
    if not same_key(identity.cert, identity.key):
        raise CertificateMismatchError(
            f"the private key {key_file.name} does not belong to the client certificate "
            f"{bundle.client_cert.name} ({describe(identity.cert)})",
            hint="copy client.pem and client_key.pem from the same export folder",
        )
    _load_chain(context, bundle.client_cert, bundle.client_key, bundle.passphrase, bundle)


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
    certs = load_certificates(root, "root certificate")
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
    :class:`InsecureTlsWarning` every time a context is handed out.
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
        if root_path is not None:
            require_file(root_path, "root certificate")
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
                InsecureTlsWarning(
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
