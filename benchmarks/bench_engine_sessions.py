"""1,000 concurrent engine sessions on one asyncio event loop: time and memory per session.

The emulator runs in its own process; this process holds every session on one loop, on the
direct engine port (mutual TLS, ``X-Qlik-User``), each its own engine session
(``/identity/{n}``). Two rows, one after the other in the same run:

* **bare** (the baseline): ``websockets.asyncio.client.connect`` with the same URL, headers
  and TLS context, reading the ``OnConnected`` greeting: the least a websocket costs; and
  the same without permessage-deflate, to show what compression holds per session;
* **qlikauth**: :meth:`AsyncEngineConnection.open` (greeting barrier, protocol state, TLS
  on memory buffers, bounded permessage-deflate windows).

For each: the seconds to open all sessions (at most ``--parallel`` handshakes at a time) and
the client memory each idle session holds (what ``tracemalloc`` counts as allocated and
still held, :mod:`qlikauth.testing.idle_sessions`; the resident set is left out, as rows
that free memory lend it to the next, and OpenSSL's own allocations are not traced),
then one ``EvaluateEx`` on every qlikauth session at once. Last, each row again in a fresh
process of its own, counting the growth of its resident set (OpenSSL's and zlib's memory
included). Target: under 100 KB of client
memory per idle qlikauth session.

Run: ``python benchmarks/bench_engine_sessions.py [--sessions 1000] [--parallel 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qlikauth.engine import AsyncEngineConnection
from qlikauth.site import Site
from qlikauth.testing.emulator import emulator_process
from qlikauth.testing.emulator_info import site_from_emulator
from qlikauth.testing.idle_sessions import (
    IdleSessions,
    Opener,
    bare_opener,
    open_idle,
    qlikauth_opener,
)

TARGET_BYTES = 100 * 1024


def _raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))


async def _measure(name: str, count: int, parallel: int, open_one: Opener) -> IdleSessions:
    await asyncio.sleep(0.5)  # let the previous row's sockets finish closing
    idle = await open_idle(count, open_one, parallel=parallel)
    print(
        f"{name:21} opened {count} sessions in {idle.seconds:.2f} s "
        f"({1000 * idle.seconds / count:.2f} ms each); idle, each holds "
        f"{idle.bytes_per_session / 1024:.1f} KB",
        flush=True,
    )
    return idle


async def run(site: Site, app: str, count: int, parallel: int) -> int:
    base = await _measure("bare", count, parallel, bare_opener(site, app, "bare-deflate"))
    await asyncio.gather(*(ws.close() for ws in base.sessions))
    plain = await _measure(
        "bare, no compression", count, parallel, bare_opener(site, app, "bare", compression=None)
    )
    await asyncio.gather(*(ws.close() for ws in plain.sessions))
    base.sessions = plain.sessions = []
    ours = await _measure("qlikauth", count, parallel, qlikauth_opener(site, app))
    connections: list[AsyncEngineConnection] = ours.sessions
    try:
        start = time.perf_counter()
        docs = await asyncio.gather(*(c.open_doc() for c in connections))
        values = await asyncio.gather(*(d.evaluate("Sum(Amount)") for d in docs))
        busy = time.perf_counter() - start
        assert len(set(map(str, values))) == 1, "every session computes the same value"
        print(
            f"then every session opened Sales and evaluated Sum(Amount) at once: {busy:.2f} s "
            f"({1000 * busy / count:.2f} ms per session)"
        )
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    ratio_memory = ours.bytes_per_session / base.bytes_per_session
    ratio_time = ours.seconds / base.seconds
    compression = (base.bytes_per_session - plain.bytes_per_session) / 1024
    print(
        f"qlikauth / bare: {ratio_time:.2f}x the time to open, {ratio_memory:.2f}x the Python "
        f"memory per idle session; permessage-deflate holds {compression:.0f} KB of bare's"
    )
    worst = ours.bytes_per_session
    print(
        f"target: under {TARGET_BYTES // 1024} KB client memory per idle session: "
        f"{'met' if worst < TARGET_BYTES else 'MISSED'} ({worst / 1024:.1f} KB)"
    )
    return 0 if worst < TARGET_BYTES else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000, help="sessions per row")
    parser.add_argument("--parallel", type=int, default=50, help="handshakes at a time")
    args = parser.parse_args(argv)
    _raise_file_limit(4 * args.sessions + 256)  # this process and the emulator it starts
    with tempfile.TemporaryDirectory() as folder, emulator_process(Path(folder)) as running:
        site = site_from_emulator(running.raw)
        app = next(a["id"] for a in running.raw["apps"] if a["name"] == "Sales")
        status = asyncio.run(run(site, app, args.sessions, args.parallel))
        print("resident set growth per idle session, each row in a fresh process:")
        for row in ("bare", "bare-plain", "qlikauth"):
            grown = _resident_per_session(running.raw, row, args.sessions)
            print(f"  {row:12} {grown / 1024:.1f} KB", flush=True)
        return status


def _resident_per_session(info: dict[str, object], row: str, count: int) -> float:
    """What one row's idle sessions add to a fresh process's resident set, per session.

    Unlike the traced figure this includes OpenSSL's and zlib's own allocations.
    """
    command = [sys.executable, "-m", "qlikauth.testing.idle_sessions", "--resident"]
    child = subprocess.run(
        [*command, "--rows", row, "--sessions", str(count)],
        input=json.dumps(info),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(child.stdout)[row])


if __name__ == "__main__":
    raise SystemExit(main())
