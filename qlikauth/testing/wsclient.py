"""websockets' threaded client, made safe to judge servers with.

Tests judge the emulator and the local proxy with websockets' synchronous client, a real
third-party client. Its connection reads in a background thread while the caller's thread
writes, and two things in that design lose bytes now and then:

* OpenSSL forbids using one TLS connection from two threads at once (``SSL_read`` in the
  reader while ``SSL_write`` runs in the caller), and Python's ``ssl`` module takes no lock
  for it before 3.13. Under TLS 1.3 a request written while the reader digests the server's
  session tickets may never reach the server. :class:`SerialTlsSocket` lets one thread at a
  time into OpenSSL: the reader waits for bytes outside the lock and reads under it.
* When the caller closes the connection (a refused handshake, a close handshake that timed
  out), the socket is closed while the reader may be between ``select`` and ``read``: the
  next socket opened in the process gets the freed descriptor, and the reader takes its
  bytes. :class:`OrderlyClientConnection` wakes the reader, waits for it to stop, and only
  then closes the socket.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from typing import Any

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as _connect

__all__ = ["OrderlyClientConnection", "SerialTlsSocket", "connect"]


class SerialTlsSocket(ssl.SSLSocket):
    """A TLS socket that lets one thread at a time into OpenSSL."""

    _serial: threading.RLock

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> SerialTlsSocket:
        tls: SerialTlsSocket = super()._create(*args, **kwargs)  # type: ignore[misc]
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


class OrderlyClientConnection(ClientConnection):
    """A ``ClientConnection`` whose socket is closed only once its reader has stopped."""

    def close_socket(self) -> None:
        reader = getattr(self, "recv_events_thread", None)
        if reader is not None and reader is not threading.current_thread() and reader.is_alive():
            with contextlib.suppress(OSError):  # already notified: the reader is leaving
                self.shutdown_notifier.send(b"x")  # wakes the reader out of its select()
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)  # or out of a wait for a TLS record
            self.recv_messages.close()  # or out of a full message queue
            reader.join()
        super().close_socket()


def connect(uri: str, **kwargs: Any) -> ClientConnection:
    """``websockets.sync.client.connect``, with both fixes.

    An ``ssl`` context given is switched to :class:`SerialTlsSocket` (contexts made for one
    connection, as tests make them, are the expected use).
    """
    context = kwargs.get("ssl")
    if isinstance(context, ssl.SSLContext):
        context.sslsocket_class = SerialTlsSocket
    kwargs.setdefault("create_connection", OrderlyClientConnection)
    connection: ClientConnection = _connect(uri, **kwargs)
    return connection
