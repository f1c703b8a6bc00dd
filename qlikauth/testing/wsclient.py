"""websockets' threaded client, closed in an order that cannot steal another socket's bytes.

Tests judge the emulator and the local proxy with websockets' synchronous client, a real
third-party client. Its connection reads in a background thread; when the calling thread
closes the connection (a refused handshake, a close handshake that timed out) it closes
the socket while that thread may be between ``select`` and ``read``. The descriptor is
then free, the next socket opened in the process (often one the in-process emulator just
accepted) gets the same number, and the reader takes that socket's bytes: a request the
server never sees, a handshake answer the client never gets. Here the calling thread wakes
the reader, waits for it to stop, and only then closes the socket.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as _connect

__all__ = ["OrderlyClientConnection", "connect"]


class OrderlyClientConnection(ClientConnection):
    """A ``ClientConnection`` whose socket is closed only once its reader has stopped."""

    def close_socket(self) -> None:
        reader = getattr(self, "recv_events_thread", None)
        if reader is not None and reader is not threading.current_thread() and reader.is_alive():
            with contextlib.suppress(OSError):  # already notified: the reader is leaving
                self.shutdown_notifier.send(b"x")  # wakes the reader out of select()
            self.recv_messages.close()  # or out of a full message queue
            reader.join()
        super().close_socket()


def connect(uri: str, **kwargs: Any) -> ClientConnection:
    """``websockets.sync.client.connect`` with :class:`OrderlyClientConnection`."""
    kwargs.setdefault("create_connection", OrderlyClientConnection)
    connection: ClientConnection = _connect(uri, **kwargs)
    return connection
