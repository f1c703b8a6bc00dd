"""A hostile server on loopback: it misbehaves on purpose, for reliability tests.

:class:`HostileServer` speaks just enough HTTP/1.1 and websocket (RFC 6455), over TLS with a
test PKI (or plain http), to let a client log in as on a Qlik proxy (any prefix:
``qrs/about`` or ``hub/`` set a session cookie, ``qps/csrftoken`` hands out a token,
``qps/user`` names the user ``HOSTILE\\mallory``), and then misbehaves where the path's
last segment says:

==================================  ==========================================================
``slow?seconds=S``                  answers after S seconds
``silent``                          reads the request and never answers
``huge?bytes=N``                    announces N bytes and sends them
``endless``                         a chunked body that never ends (until the server closes)
``bomb?bytes=N``                    N zero bytes gzip-compressed, ``Content-Encoding: gzip``
                                    whatever the client asked for
``trickle?bytes=N&interval=S``      announces N bytes, sends one every S seconds
``cut?bytes=N&at=K``                announces N bytes, sends K, closes the connection
``redirect?to=URL``                 302 to URL
``status?code=C``                   answers status C
==================================  ==========================================================

A websocket upgrade to ``.../app/...`` gets the engine behaviour the server was made with
(``engine=``): ``silent`` (greets, then never answers), ``wrong-ids`` (answers every call
with another id), ``huge`` (answers the first call with one message of ``engine_bytes``),
``drop`` (cuts the connection at the first call after the greeting).

Every request is recorded (:attr:`HostileServer.requests`), so a test can prove what reached
the server, and above all what did not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import ssl
import tempfile
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from qlikauth.pki import make_test_pki
from qlikauth.site import Site, VirtualProxy
from qlikauth.testing._loopserver import LoopServer
from qlikauth.tls import TlsConfig

__all__ = ["ENGINE_MODES", "HostileServer", "SeenRequest", "drain", "read_http_head"]

#: What the websocket side can do.
ENGINE_MODES = ("silent", "wrong-ids", "huge", "drop")
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_REASONS = {101: "Switching Protocols", 200: "OK", 204: "No Content", 302: "Found"}
_CHUNK = 1 << 16


@dataclass(frozen=True)
class SeenRequest:
    """One request the server received: method, target (path and query), headers (names
    in lower case)."""

    method: str
    target: str
    headers: Mapping[str, str]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


async def read_http_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]] | None:
    """An HTTP message head: its first line and headers (lower-case names); ``None`` at EOF."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = raw.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def drain(writer: asyncio.StreamWriter) -> None:
    """``writer.drain()`` that always yields to the loop: with room in its buffer
    ``drain()`` returns at once, and a loop writing forever would never let the loop see
    that the peer has gone (then the next call raises)."""
    await asyncio.sleep(0)
    if writer.transport.is_closing():
        raise ConnectionResetError("the peer closed the connection")
    await writer.drain()


def _head(status: int, headers: Mapping[str, str | int]) -> bytes:
    reason = _REASONS.get(status, "Hostile")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _frame(payload: bytes, opcode: int = 1) -> bytes:
    size = len(payload)
    if size < 126:
        length = bytes([size])
    elif size < 1 << 16:
        length = bytes([126]) + size.to_bytes(2, "big")
    else:
        length = bytes([127]) + size.to_bytes(8, "big")
    return bytes([0x80 | opcode]) + length + payload


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    if size > 1 << 24:
        raise ConnectionError("frame too large for a test server")
    mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(size)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class HostileServer(LoopServer):
    """An HTTPS and websocket server on ``127.0.0.1`` that misbehaves on purpose.

    ``certs`` is a folder laid out like a QMC PEM export (``root.pem``, ``server.pem``,
    ``server_key.pem``), for example an emulator's, so that the client trusts it as it would
    a real attacker's valid certificate; without it a test PKI is made. ``host_name`` is the
    name clients dial (the server certificate must hold it). ``tls=False`` serves plain
    http. ``user`` is the (directory, id) the personal API names.
    """

    def __init__(
        self,
        *,
        certs: Path | str | None = None,
        engine: str = "silent",
        engine_bytes: int = 1 << 20,
        host_name: str = "localhost",
        tls: bool = True,
        user: tuple[str, str] = ("HOSTILE", "mallory"),
    ) -> None:
        if engine not in ENGINE_MODES:
            raise ValueError(f"engine must be one of {ENGINE_MODES}, not {engine!r}")
        self.engine = engine
        self.engine_bytes = engine_bytes
        self.host_name = host_name
        self.tls = tls
        self.user = user
        self._own_pki: tempfile.TemporaryDirectory[str] | None = None
        if certs is None:
            self._own_pki = tempfile.TemporaryDirectory(prefix="qlikauth-hostile-")
            password = secrets.token_hex(8)
            make_test_pki(self._own_pki.name, (host_name, "127.0.0.1"), pfx_password=password)
            certs = self._own_pki.name
        self.certs = Path(certs)
        self._seen: list[SeenRequest] = []
        self._seen_lock = threading.Lock()
        self._bombs: dict[int, bytes] = {}
        super().__init__()

    # -- life ----------------------------------------------------------------------------

    def _server_tls(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certs / "server.pem", self.certs / "server_key.pem")
        return context

    def close(self) -> None:
        """Cut every connection and stop listening."""
        super().close()
        if self._own_pki is not None:
            self._own_pki.cleanup()

    # -- what tests use ------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The root certificate that signed the server's."""
        return self.certs / "root.pem"

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host_name}:{self.port}"

    def url(self, path: str) -> str:
        """``https://host:port/path``."""
        return f"{self.origin}/{path.lstrip('/')}"

    def site(self, prefix: str = "hdr") -> Site:
        """A :class:`Site` whose proxy is this server, trusting its root."""
        return Site(
            self.host_name,
            VirtualProxy(prefix, f"X-Qlik-Session-{prefix}" if prefix else None),
            proxy_port=self.port,
            scheme="https" if self.tls else "http",
            tls=TlsConfig(root=self.root),
        )

    @property
    def requests(self) -> list[SeenRequest]:
        """Every request received so far, oldest first."""
        with self._seen_lock:
            return list(self._seen)

    # -- HTTP ----------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await self._one_request(reader, writer):
            pass

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await read_http_head(reader)
        if head is None:
            return False
        line, headers = head
        method, _, rest = line.partition(" ")
        target = rest.rpartition(" ")[0]
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(min(length, 1 << 20))
        with self._seen_lock:
            self._seen.append(SeenRequest(method, target, headers))
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in parts.path.split("/") if s]
        if headers.get("upgrade", "").lower() == "websocket" and "app" in segments:
            await self._websocket(reader, writer, headers)
            return False
        return await self._answer(writer, method, segments, query)

    async def _answer(
        self, writer: asyncio.StreamWriter, method: str, segments: list[str], query: dict[str, str]
    ) -> bool:
        last = segments[-1] if segments else ""
        tail = "/".join(segments[-2:])
        prefix = segments[0] if len(segments) > 1 else ""
        number = int(query.get("bytes", "1048576"))
        if tail == "qrs/about" or last == "hub":
            name = f"X-Qlik-Session-{prefix}" + ("" if self.tls else "-HTTP")
            cookie = f"{name}={secrets.token_hex(16)}; Path=/; HttpOnly"
            await self._json(writer, {"buildVersion": "hostile"}, {"Set-Cookie": cookie})
        elif tail == "qps/csrftoken":
            await self._send(writer, 204, {"qlik-csrf-token": secrets.token_hex(8)})
        elif tail == "qps/user":
            directory, user_id = self.user
            await self._json(writer, {"userDirectory": directory, "userId": user_id})
        elif last == "slow":
            await asyncio.sleep(float(query.get("seconds", "1")))
            await self._json(writer, {"slow": True})
        elif last == "silent":
            await asyncio.Event().wait()
        elif last == "huge":
            await self._body(writer, number, b"x" * _CHUNK)
        elif last == "endless":
            writer.write(_head(200, {"Transfer-Encoding": "chunked", "Content-Type": "text/csv"}))
            chunk = b"%x\r\n%s\r\n" % (_CHUNK, b"y" * _CHUNK)
            while True:
                writer.write(chunk)
                await drain(writer)
        elif last == "bomb":
            body = self._bomb(number)
            await self._send(
                writer, 200, {"Content-Encoding": "gzip", "Content-Type": "application/json"}, body
            )
        elif last == "trickle":
            writer.write(_head(200, {"Content-Length": number, "Content-Type": "text/csv"}))
            for _ in range(number):
                writer.write(b"t")
                await drain(writer)
                await asyncio.sleep(float(query.get("interval", "0.2")))
        elif last == "cut":
            writer.write(_head(200, {"Content-Length": number, "Content-Type": "text/csv"}))
            writer.write(b"c" * int(query.get("at", str(number // 2))))
            await drain(writer)
            return False
        elif last == "redirect":
            await self._send(writer, 302, {"Location": query.get("to", "/")})
        elif last == "status":
            await self._send(writer, int(query.get("code", "503")), {}, b"hostile status")
        else:
            await self._send(writer, 404, {}, b"not here")
        return True

    def _bomb(self, size: int) -> bytes:
        if size not in self._bombs:
            packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip container
            zeros = bytes(_CHUNK)
            parts = [packer.compress(zeros) for _ in range(size // _CHUNK)]
            self._bombs[size] = b"".join(parts) + packer.flush()
        return self._bombs[size]

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        headers: Mapping[str, str | int],
        body: bytes = b"",
    ) -> None:
        writer.write(_head(status, {**headers, "Content-Length": len(body)}) + body)
        await drain(writer)

    async def _json(
        self, writer: asyncio.StreamWriter, data: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(data).encode()
        await self._send(writer, 200, {"Content-Type": "application/json", **(headers or {})}, body)

    async def _body(self, writer: asyncio.StreamWriter, size: int, block: bytes) -> None:
        writer.write(_head(200, {"Content-Length": size, "Content-Type": "text/csv"}))
        sent = 0
        while sent < size:
            piece = block[: size - sent]
            writer.write(piece)
            sent += len(piece)
            await drain(writer)

    # -- websocket -----------------------------------------------------------------------

    async def _websocket(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: Mapping[str, str]
    ) -> None:
        digest = hashlib.sha1((headers.get("sec-websocket-key", "") + _WS_GUID).encode())  # noqa: S324
        accept = base64.b64encode(digest.digest()).decode()
        upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept}
        writer.write(_head(101, upgrade))
        connected = {"jsonrpc": "2.0", "method": "OnConnected"}
        writer.write(
            _frame(
                json.dumps({**connected, "params": {"qSessionState": "SESSION_CREATED"}}).encode()
            )
        )
        await drain(writer)
        greeted = False
        while True:
            opcode, data = await _read_frame(reader)
            if opcode == 8:
                with contextlib.suppress(ConnectionError):
                    writer.write(_frame(data[:2], opcode=8))
                    await drain(writer)
                return
            if opcode == 9:
                writer.write(_frame(data, opcode=10))
                continue
            if opcode != 1:
                continue
            call = json.loads(data)
            if not greeted:
                greeted = True
                version = {"qVersion": {"qComponentVersion": "hostile"}}
                answer = {"jsonrpc": "2.0", "id": call.get("id"), "result": version}
                writer.write(_frame(json.dumps(answer).encode()))
            elif self.engine == "drop":
                writer.transport.abort()
                return
            elif self.engine == "wrong-ids":
                answer = {"jsonrpc": "2.0", "id": int(call.get("id", 0)) + 10_000, "result": {}}
                writer.write(_frame(json.dumps(answer).encode()))
            elif self.engine == "huge":
                await self._huge_message(writer, call.get("id"))
            await drain(writer)

    async def _huge_message(self, writer: asyncio.StreamWriter, call_id: Any) -> None:
        start = b'{"jsonrpc": "2.0", "id": %s, "result": {"pad": "' % json.dumps(call_id).encode()
        end = b'"}}'
        pad = max(0, self.engine_bytes - len(start) - len(end))
        size = len(start) + pad + len(end)
        writer.write(bytes([0x81, 127]) + size.to_bytes(8, "big") + start)  # FIN, text
        while pad > 0:
            piece = min(pad, _CHUNK)
            writer.write(b"p" * piece)
            pad -= piece
            await drain(writer)
        writer.write(end)
