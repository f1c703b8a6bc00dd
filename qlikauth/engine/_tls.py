"""TLS on memory buffers for the asyncio driver: ciphertext in, plaintext out, no socket.

asyncio's TLS transport keeps a 256 KiB read buffer for every connection, used or not: with
thousands of idle engine sessions on one event loop that buffer was most of what each one
held. :class:`TlsBuffers` runs the same TLS on a pair of :class:`ssl.MemoryBIO`, with the
caller's :class:`ssl.SSLContext` (so certificate verification, the host name check and the
client certificate are exactly the context's), reading one record at a time: an idle
connection holds OpenSSL's state and nothing more.
"""

from __future__ import annotations

import contextlib
import ssl

__all__ = ["TlsBuffers"]

#: The most plaintext one TLS record carries.
_RECORD_SIZE = 16384


class TlsBuffers:
    """One client TLS connection's state: feed it the socket's bytes, send what it returns."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_hostname
        )
        #: Plaintext waiting for the handshake (or a TLS 1.2 renegotiation) to finish.
        self._unsent: list[bytes] = []
        self.handshake_done = False
        self.ended = False

    def start(self) -> bytes:
        """The bytes that open the handshake (the ClientHello)."""
        self._handshake()
        return self._outgoing.read()

    def receive(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """Digest bytes read from the socket (``b""``: its end).

        Returns the bytes to send back and the plaintext that arrived, ending with ``b""``
        once the TLS stream ended (a close_notify, or the socket's end). A failed handshake
        or a TLS alert raises :class:`ssl.SSLError`.
        """
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        plaintext: list[bytes] = []
        if self.ended or not self._handshake():
            return self._outgoing.read(), plaintext
        while not self.ended:
            try:
                chunk = self._tls.read(_RECORD_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                chunk = b""  # the end of the stream, with or without a close_notify
            plaintext.append(chunk)
            self.ended = not chunk
        if not data and not self.ended:
            self.ended = True
            plaintext.append(b"")
        self._flush_unsent()
        return self._outgoing.read(), plaintext

    def send(self, data: bytes) -> bytes:
        """Encrypt ``data``; returns the bytes to send (none once the stream ended)."""
        if self.ended:
            return b""
        self._unsent.append(data)
        self._flush_unsent()
        return self._outgoing.read()

    def close(self) -> bytes:
        """A close_notify to send before closing the socket (the server's is not awaited)."""
        if self.handshake_done:
            # SSLWantReadError: the server's close_notify has not come; the socket closes anyway.
            with contextlib.suppress(ssl.SSLError):
                self._tls.unwrap()
        return self._outgoing.read()

    def _handshake(self) -> bool:
        if not self.handshake_done:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                return False
            self.handshake_done = True
        return True

    def _flush_unsent(self) -> None:
        while self._unsent and self.handshake_done and not self.ended:
            try:
                self._tls.write(self._unsent[0])
            except ssl.SSLWantReadError:
                return
            del self._unsent[0]
