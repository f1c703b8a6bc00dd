"""The sync connector's TLS: a plain socket, and OpenSSL entered by one thread at a time.

OpenSSL forbids reading and writing one TLS connection from two threads at once, and the
sync connector reads in a thread of its own while callers (and the keepalive) write. These
tests hold it to the design that makes this safe: the socket is a plain TCP socket, TLS
runs on memory buffers, and every call into them happens under the channel's lock, while
several threads send large requests and the server streams large answers back.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from engine_support import direct_credentials

from qlikauth.engine import Doc, EngineConnection, sync
from qlikauth.engine._tls import TlsBuffers, TlsChannel
from qlikauth.site import Site

#: Requests and answers of several TLS records each (a record carries at most 16 KiB).
_PAYLOAD = "x" * 40_000
_THREADS = 6
_CALLS_PER_THREAD = 20


class OwnedLock:
    """A lock that knows which thread holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def __enter__(self) -> OwnedLock:
        self._lock.acquire()
        self._owner = threading.get_ident()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._owner = None
        self._lock.release()

    def held_here(self) -> bool:
        return self._owner == threading.get_ident()


class CheckedBuffers:
    """A channel's :class:`TlsBuffers`, noting every call and each one made without the lock."""

    def __init__(self, buffers: TlsBuffers, lock: OwnedLock) -> None:
        self._buffers = buffers
        self._lock = lock
        self.calls: Counter[str] = Counter()
        self.unlocked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._buffers, name)
        if not callable(value):
            return value

        def checked(*args: Any) -> Any:
            self.calls[name] += 1
            if not self._lock.held_here():
                self.unlocked.append(f"{name} on {threading.current_thread().name}")
            return value(*args)

        return checked


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[CheckedBuffers]:
    """Every TLS channel the sync connector makes, with its buffers' calls checked."""
    made: list[CheckedBuffers] = []

    def channel(
        context: ssl.SSLContext, host: str | None, send: Callable[[bytes], object], lock: object
    ) -> TlsChannel:
        assert isinstance(lock, type(threading.Lock()))  # a real lock, replaced to be watched
        owned = OwnedLock()
        tls = TlsChannel(context, host, send, owned)
        buffers = CheckedBuffers(tls._buffers, owned)
        tls._buffers = buffers  # type: ignore[assignment]
        made.append(buffers)
        return tls

    monkeypatch.setattr(sync, "TlsChannel", channel)
    return made


def echo(conn: EngineConnection, doc: Doc, worker: int) -> list[str]:
    """Pipeline large string expressions on ``doc``; the engine sends each string back."""
    calls = [
        conn.send(doc.handle, "EvaluateEx", {"qExpression": f"'{_PAYLOAD}' & '-{worker}-{i}'"})
        for i in range(_CALLS_PER_THREAD)
    ]
    texts: list[str] = []
    for call in calls:
        value = call.result(60)["qValue"]
        assert isinstance(value, dict)
        text = value["qText"]
        assert isinstance(text, str)
        texts.append(text)
    return texts


def test_the_socket_is_plain_and_tls_runs_on_memory_buffers(site: Site, sales_app: str) -> None:
    with EngineConnection.open(site, direct_credentials(), sales_app, timeout=10) as conn:
        assert type(conn._socket) is socket.socket
        assert isinstance(conn._tls, TlsChannel)
        assert conn._tls.handshake_done
        assert conn.engine_version


def test_threads_calling_while_the_server_streams_enter_openssl_one_at_a_time(
    site: Site, sales_app: str, checked: list[CheckedBuffers]
) -> None:
    with EngineConnection.open(site, direct_credentials(), sales_app, timeout=10) as conn:
        doc = conn.open_doc()
        with ThreadPoolExecutor(_THREADS) as pool:
            results = list(pool.map(lambda worker: echo(conn, doc, worker), range(_THREADS)))
        for worker, texts in enumerate(results):
            assert texts == [f"{_PAYLOAD}-{worker}-{i}" for i in range(_CALLS_PER_THREAD)]
        assert not conn.closed
    [buffers] = checked
    assert buffers.unlocked == []
    # The handshake, every request and the reader's decrypting all went through the lock.
    assert buffers.calls["start"] == 1
    assert buffers.calls["send"] >= _THREADS * _CALLS_PER_THREAD
    assert buffers.calls["receive"] >= 2
