"""The emulator's own server-side TLS: PKI set-up and SSL contexts."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from qlikauth._files import atomic_write
from qlikauth.pki import TestPki, make_signing_keypair, make_test_pki

__all__ = ["ensure_jwt_keypair", "ensure_pki", "server_context"]

_PASSWORD_FILE = "pfx_password"  # noqa: S105 - a file name, not a password


def _server_names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(n) for n in san.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return names


def ensure_pki(state_dir: Path, hosts: Sequence[str]) -> TestPki:
    """The PKI in ``state_dir/certs``, created (with a random PFX password) unless present.

    An existing PKI whose server certificate names other hosts than ``hosts`` is made anew.
    """
    certs = state_dir / "certs"
    password_file = state_dir / _PASSWORD_FILE
    if password_file.is_file():
        pki = TestPki(certs, password_file.read_text(encoding="utf-8").strip())
        wanted = [pki.root, pki.root_key, pki.server, pki.server_key, pki.client, pki.client_key]
        if all(p.is_file() for p in wanted) and set(hosts) == _server_names(pki.server):
            return pki
    password = secrets.token_urlsafe(18)
    pki = make_test_pki(certs, list(dict.fromkeys(hosts)), pfx_password=password)
    atomic_write(password_file, password.encode("utf-8"))
    return pki


def ensure_jwt_keypair(state_dir: Path) -> tuple[Path, Path]:
    """The JWT virtual proxy's signing key and certificate, created unless present."""
    key, cert = state_dir / "jwt_key.pem", state_dir / "jwt_cert.pem"
    if not (key.is_file() and cert.is_file()):
        make_signing_keypair(key, cert)
    return key, cert


def server_context(pki: TestPki, *, require_client_cert: bool) -> ssl.SSLContext:
    """A server context with the emulator's certificate; mutual TLS when asked.

    With ``require_client_cert`` a peer without a certificate signed by the emulator's root
    does not complete the handshake (``CERT_REQUIRED``), as on Qlik's trusted-zone ports.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.server, pki.server_key)
    if require_client_cert:
        context.load_verify_locations(cafile=pki.root)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
