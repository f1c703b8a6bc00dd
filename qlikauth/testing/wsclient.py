"""websockets' threaded client, made safe to judge servers with.

Tests judge the emulator and the local proxy with websockets' synchronous client, a real
third-party client. Its connection reads a TLS socket in a background thread while the
caller's thread writes to it and may close it, and Python 3.11's ``ssl`` module takes no
lock for either:

* OpenSSL forbids using one TLS connection from two threads at once (``SSL_read`` in the
  reader while ``SSL_write`` runs in the caller). Under TLS 1.3 a request written while the
  reader digests the server's session tickets may never reach the server.
* A socket closed while the reader is inside a read frees its descriptor for the next
  socket opened in the process (often one the in-process emulator just accepted), and the
  reader's TLS state then reads that socket's bytes.

:class:`SerialTlsSocket` lets one thread at a time into OpenSSL and into ``close``: the
reader waits for bytes outside the lock and reads under it, without blocking.
"""

from __future__ import annotations

import select
import ssl
import threading
from typing import Any

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as _connect

__all__ = ["SerialTlsSocket", "connect"]


class SerialTlsSocket(ssl.SSLSocket):
    """A TLS socket that lets one thread at a time into OpenSSL."""

    _serial: threading.RLock

    def __new__(cls, *args: Any, **kwargs: Any) -> SerialTlsSocket:
        tls = super().__new__(cls, *args, **kwargs)
        tls._serial = threading.RLock()
        return tls

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        while True:
            with self._serial:
                timeout = self.gettimeout()
                self.settimeout(0)  # never block in OpenSSL while holding the lock
                try:
                    return super().recv(buflen, flags)
                except ssl.SSLWantReadError:
                    pass
                finally:
                    self.settimeout(timeout)
            try:
                readable, _, _ = select.select([self], [], [], timeout)
            except ValueError as exc:  # closed meanwhile: no descriptor left to wait on
                raise OSError("the socket was closed") from exc
            if not readable:
                raise TimeoutError("timed out")

    def send(self, data: Any, flags: int = 0) -> int:
        with self._serial:
            return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        with self._serial:
            super().sendall(data, flags)

    def shutdown(self, how: int) -> None:
        with self._serial:
            super().shutdown(how)

    def close(self) -> None:
        with self._serial:
            super().close()


def connect(uri: str, **kwargs: Any) -> ClientConnection:
    """``websockets.sync.client.connect`` over :class:`SerialTlsSocket`.

    The ``ssl`` context given is switched to :class:`SerialTlsSocket` through its documented
    ``sslsocket_class`` attribute (contexts made for one connection, as tests make them, are
    the expected use).
    """
    context = kwargs.get("ssl")
    if isinstance(context, ssl.SSLContext):
        context.sslsocket_class = SerialTlsSocket
    connection: ClientConnection = _connect(uri, **kwargs)
    return connection
