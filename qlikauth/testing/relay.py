"""A faulty relay: an HTTPS relay in front of a real server that fails on purpose.

:class:`FaultyRelay` terminates TLS with the server's own certificate (a test PKI, such as
an emulator's), forwards each request to the real server, and applies the :class:`Fault`
its plan names for that request: pass it, delay the answer, refuse it with a 503 the server
never saw, cut the connection before forwarding, cut it after the server acted (the answer
is lost), or cut the answer's body after a number of bytes. Plans are plain functions of
the request's number and the request, so a seeded :func:`random_plan` replays the same
faults run after run. Websocket upgrades are relayed as a tunnel.

With ``mutual=True`` it stands in front of a mutual-TLS port (QPS): it asks the client for a
certificate signed by the same root and presents the PKI's client certificate upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from qlikauth.testing._loopserver import LoopServer
from qlikauth.testing.hostile import SeenRequest, drain, read_http_head

__all__ = ["Fault", "FaultyRelay", "Plan", "random_plan"]


@dataclass(frozen=True)
class Fault:
    """What the relay does to one request.

    ``kind``: ``pass``, ``delay`` (the answer waits ``seconds``), ``fail`` (a 503 the server
    never saw), ``cut-before`` (closed unsent), ``cut-after`` (the server acted; its answer
    is dropped and the connection closed), ``truncate`` (the answer's head and ``at`` bytes
    of its body, then closed).
    """

    kind: str = "pass"
    seconds: float = 0.0
    at: int = 0

    def __post_init__(self) -> None:
        kinds = ("pass", "delay", "fail", "cut-before", "cut-after", "truncate")
        if self.kind not in kinds:
            raise ValueError(f"kind must be one of {kinds}, not {self.kind!r}")

    @property
    def server_acts(self) -> bool:
        """Whether the real server gets the request."""
        return self.kind not in ("fail", "cut-before")


PASS = Fault()
#: A plan: the fault for request number ``n`` (from 0), given what the request is.
Plan = Callable[[int, SeenRequest], Fault]


def random_plan(
    seed: int,
    faults: Mapping[Fault, float],
    *,
    only: Callable[[SeenRequest], bool] | None = None,
) -> Plan:
    """A plan that picks each request's fault at random with these weights (the rest of
    the weight, to 1, is :data:`PASS`), from a generator seeded with ``seed``; requests
    ``only`` rejects always pass and draw nothing."""
    chooser = random.Random(seed)  # noqa: S311 - a replayable plan, not a secret
    choices = [*faults, PASS]
    weights = [*faults.values(), max(0.0, 1.0 - sum(faults.values()))]
    lock = threading.Lock()

    def plan(index: int, request: SeenRequest) -> Fault:
        if only is not None and not only(request):
            return PASS
        with lock:
            return chooser.choices(choices, weights)[0]

    return plan


class FaultyRelay(LoopServer):
    """An HTTPS relay on ``127.0.0.1`` in front of ``upstream_port``, failing as planned.

    ``certs`` is the PKI folder of the real server (``root.pem``, ``server.pem``,
    ``server_key.pem``, and for ``mutual`` ``client.pem``/``client_key.pem``).
    :attr:`log` lists every request with the fault applied to it.
    """

    def __init__(
        self,
        upstream_port: int,
        certs: Path | str,
        *,
        mutual: bool = False,
        plan: Plan | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.certs = Path(certs)
        self.mutual = mutual
        self.plan: Plan = plan or (lambda index, request: PASS)
        self._log: list[tuple[SeenRequest, Fault]] = []
        self._lock = threading.Lock()
        self._upstream_tls = ssl.create_default_context(cafile=str(self.certs / "root.pem"))
        if mutual:
            self._upstream_tls.load_cert_chain(
                self.certs / "client.pem", self.certs / "client_key.pem"
            )
        super().__init__()

    @property
    def log(self) -> list[tuple[SeenRequest, Fault]]:
        """Every request relayed so far and the fault applied, oldest first."""
        with self._lock:
            return list(self._log)

    def _server_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certs / "server.pem", self.certs / "server_key.pem")
        if self.mutual:
            context.load_verify_locations(self.certs / "root.pem")
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    # -- relaying ------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await self._relay_one(reader, writer):
            pass

    async def _relay_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await read_http_head(reader)
        if head is None:
            return False
        line, headers = head
        method, _, rest = line.partition(" ")
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        seen = SeenRequest(method, rest.rpartition(" ")[0], headers)
        with self._lock:
            index = len(self._log)
            fault = self.plan(index, seen)
            self._log.append((seen, fault))
        if fault.kind == "fail":
            text = b"Service unavailable (relay fault)."
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s"
                % (len(text), text)
            )
            await drain(writer)
            return True
        if fault.kind == "cut-before":
            return False
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port, ssl=self._upstream_tls, server_hostname="localhost"
        )
        try:
            raw_head = (line + "\r\n" + _headers_text(headers) + "\r\n").encode("latin-1")
            up_writer.write(raw_head + body)
            await drain(up_writer)
            return await self._answer(up_reader, writer, reader, up_writer, method, fault)
        finally:
            up_writer.transport.abort()

    async def _answer(
        self,
        up_reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        method: str,
        fault: Fault,
    ) -> bool:
        answer = await read_http_head(up_reader)
        if answer is None:
            return False
        status_line, headers = answer
        status = int(status_line.split(" ")[1])
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        head = (status_line + "\r\n" + _headers_text(headers) + "\r\n").encode("latin-1")
        if status == 101:
            writer.write(head)
            await drain(writer)
            await _tunnel(reader, writer, up_reader, up_writer)
            return False
        if fault.kind == "cut-after":
            await _drain_body(up_reader, method, status, headers, None)
            return False
        writer.write(head)
        limit = fault.at if fault.kind == "truncate" else None
        whole = await _drain_body(up_reader, method, status, headers, writer, limit)
        await drain(writer)
        return whole and headers.get("connection", "").lower() != "close"


def _headers_text(headers: Mapping[str, str]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())


async def _drain_body(
    reader: asyncio.StreamReader,
    method: str,
    status: int,
    headers: Mapping[str, str],
    writer: asyncio.StreamWriter | None,
    limit: int | None = None,
) -> bool:
    """Copy an answer's body to ``writer`` (or drop it); ``False`` if it was cut at
    ``limit`` bytes or ran to the end of the connection."""
    if method == "HEAD" or status in (204, 304) or status < 200:
        return True
    sent = 0

    def copy(data: bytes) -> bool:
        nonlocal sent
        if writer is None:
            return True
        if limit is not None and sent + len(data) > limit:
            writer.write(data[: limit - sent])
            sent = limit
            return False
        writer.write(data)
        sent += len(data)
        return True

    if "content-length" in headers:
        left = int(headers["content-length"])
        while left:
            data = await reader.read(min(left, 1 << 16))
            if not data:
                return False
            left -= len(data)
            if not copy(data):
                return False
            if writer is not None:
                await drain(writer)
        return True
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            data = size_line + await reader.readexactly(size + 2)
            if not copy(data):
                return False
            if size == 0:
                return True
    while data := await reader.read(1 << 16):
        if not copy(data):
            return False
    return False


async def _tunnel(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(1 << 16):
                sink.write(data)
                await drain(sink)
        sink.transport.abort()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
