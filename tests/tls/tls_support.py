"""Helpers for the TLS tests: a loopback TLS server, client handshakes, export folders."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from qlikauth.pki import TestPki
from qlikauth.tls import CertificateBundle, Finding

PFX_PASSWORD = "correct horse battery"
KEY_PASSPHRASE = "key-passphrase-42"


class TlsServer:
    """A TLS server on 127.0.0.1 that answers each handshake with ``hello`` and closes."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.errors: list[BaseException] = []
        self.peers: list[dict[str, Any]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.peers.append(tls.getpeercert() or {})
                    tls.sendall(b"hello")
            except OSError as exc:  # ssl.SSLError included
                with self._changed:
                    self.errors.append(exc)
                    self._changed.notify_all()
            finally:
                conn.close()

    def wait_for_error(self) -> bool:
        """Wait until the server side has recorded a failed handshake (the client may see
        the alert before the server thread gets to record it)."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self.errors), timeout=10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def server_side_context(pki: TestPki, *, client_roots: Path | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server, pki.server_key)
    if client_roots is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_roots)
    return context


def talk(context: ssl.SSLContext, host: str, port: int) -> bytes:
    """Connect, read the greeting; a TLS 1.3 client-certificate refusal surfaces on read."""
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.recv(16)


def failure_of(context: ssl.SSLContext, host: str, port: int) -> OSError:
    try:
        talk(context, host, port)
    except OSError as exc:  # ssl.SSLError included
        return exc
    pytest.fail(f"the connection to {host}:{port} was expected to fail")


def pem_folder(pki: TestPki, target: Path, **overrides: Path) -> Path:
    """Copy a PKI's QMC-style PEM export to ``target``, replacing files by name."""
    target.mkdir(mode=0o700)
    for name in ("client.pem", "client_key.pem", "root.pem", "server.pem", "server_key.pem"):
        shutil.copy(overrides.get(name.replace(".", "_"), pki.directory / name), target / name)
    return target


def encrypted_key(pki: TestPki, target: Path, passphrase: str) -> Path:
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), None)
    target.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
    )
    target.chmod(0o600)
    return target


def bundle_of(pki: TestPki) -> CertificateBundle:
    return CertificateBundle.from_folder(pki.directory)


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def warnings_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "warning"]
