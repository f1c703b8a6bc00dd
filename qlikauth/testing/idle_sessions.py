"""Client memory held per idle engine session, counted by ``tracemalloc``.

Open many engine sessions on one event loop, let them settle, and divide what ``tracemalloc``
counts as allocated and still held by their number. The benchmark of 1,000 sessions and the
reliability test share it. Run as a module, it measures in a process of its own (the emulator
may share the caller's), against a running emulator whose info file is read from stdin::

    python -m qlikauth.testing.idle_sessions --sessions 50 < emulator.json

and prints, as JSON, the bytes per idle session of ``qlikauth`` (``AsyncEngineConnection``)
and of ``bare`` (``websockets.asyncio.client.connect`` with the same URL, headers and TLS;
``bare-plain``: without compression). ``--resident`` counts the resident set's growth
instead, one row per process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.engine import AsyncEngineConnection
from qlikauth.site import Site
from qlikauth.testing.emulator_info import site_from_emulator

__all__ = [
    "IdleSessions",
    "Opener",
    "bare_opener",
    "direct_credentials",
    "open_idle",
    "qlikauth_opener",
]

Opener = Callable[[int], Awaitable[Any]]


@dataclass
class IdleSessions:
    """Sessions opened and left idle, with what opening them took."""

    sessions: list[Any]
    seconds: float
    #: Client memory each idle session holds.
    bytes_per_session: float


async def open_idle(
    count: int,
    open_one: Opener,
    *,
    parallel: int = 50,
    settle: float = 1.0,
    resident: bool = False,
) -> IdleSessions:
    """Open ``count`` sessions (``parallel`` handshakes at a time), wait ``settle`` s, count.

    What is counted: the bytes ``tracemalloc`` sees allocated and still held, or with
    ``resident`` the growth of the process's resident set (which also holds what OpenSSL and
    zlib allocate; meaningful only in a fresh process that measures one row).
    """
    gc.collect()
    with _memory_counter(resident) as held_now:
        before = held_now()
        gate = asyncio.Semaphore(parallel)

        async def gated(n: int) -> Any:
            async with gate:
                return await open_one(n)

        start = time.perf_counter()
        sessions = list(await asyncio.gather(*(gated(n) for n in range(count))))
        seconds = time.perf_counter() - start
        await asyncio.sleep(settle)  # idle: greetings read, buffers settled
        gc.collect()
        held = held_now() - before
    return IdleSessions(sessions, seconds, held / max(1, count))


@contextmanager
def _memory_counter(resident: bool) -> Iterator[Callable[[], int]]:
    if resident:
        yield _resident_bytes
        return
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def direct_credentials(user_id: str = "alice") -> Credentials:
    """Certificate and ``X-Qlik-User`` for the emulator's direct engine port."""
    user = QlikUser("QLIKEMU", user_id)
    return Credentials(route=Route.DIRECT, user=user, headers={"X-Qlik-User": user.header_value()})


def qlikauth_opener(site: Site, app: str, stem: str = "qlikauth") -> Opener:
    """Open engine session ``{stem}-{n}`` with :class:`AsyncEngineConnection`."""
    credentials = direct_credentials()

    async def open_one(n: int) -> AsyncEngineConnection:
        return await AsyncEngineConnection.open(
            site, credentials, app, identity=f"{stem}-{n}", call_timeout=120
        )

    return open_one


def bare_opener(
    site: Site, app: str, stem: str = "bare", *, compression: str | None = "deflate"
) -> Opener:
    """Open a bare ``websockets`` client on the same URL, headers and TLS; read the greeting."""
    credentials = direct_credentials()
    context = credentials.ssl_context(site)

    async def open_one(n: int) -> ClientConnection:
        ws = await connect(
            credentials.websocket_url(site, app, identity=f"{stem}-{n}"),
            ssl=context,
            additional_headers=credentials.websocket_headers(),
            max_size=None,
            compression=compression,
        )
        json.loads(await ws.recv())  # OnConnected
        return ws

    return open_one


def _openers(site: Site, app: str) -> dict[str, Opener]:
    run = uuid.uuid4().hex[:8]  # engine sessions of their own, not attached to older ones
    return {
        "bare": bare_opener(site, app, f"bare-{run}"),
        "bare-plain": bare_opener(site, app, f"bare-plain-{run}", compression=None),
        "qlikauth": qlikauth_opener(site, app, f"qlikauth-{run}"),
    }


async def _measure(
    site: Site, app: str, count: int, rows: list[str], resident: bool
) -> dict[str, float]:
    openers = _openers(site, app)
    figures: dict[str, float] = {}
    for name in rows:
        idle = await open_idle(count, openers[name], resident=resident)
        figures[name] = idle.bytes_per_session
        await asyncio.gather(*(session.close() for session in idle.sessions))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="client memory per idle engine session")
    parser.add_argument("--sessions", type=int, default=50, help="sessions per row")
    parser.add_argument(
        "--rows", default="bare,qlikauth", help="comma-separated: bare, bare-plain, qlikauth"
    )
    parser.add_argument(
        "--resident", action="store_true", help="count resident set growth (one row per process)"
    )
    args = parser.parse_args(argv)
    rows = args.rows.split(",")
    if args.resident and len(rows) != 1:
        parser.error("--resident measures one row per process")
    info = json.load(sys.stdin)
    site = site_from_emulator(info)
    app = next(a["id"] for a in info["apps"] if a["name"] == "Sales")
    print(json.dumps(asyncio.run(_measure(site, app, args.sessions, rows, args.resident))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
