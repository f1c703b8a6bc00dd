"""Sessions: 100 threads sharing one QlikClient make one login and one proxy session.

Each row does the same number of authenticated operations (``whoami`` through the personal
API plus ``GET qrs/about`` through the proxy) against the emulator, which runs in its own
process. Rows:

* one thread, one client (baseline for the time ratio);
* 100 threads sharing one client;
* the naive script: 100 threads, a client (a login) each - what the 5-sessions-per-user
  licence rule punishes.

Logins and sessions are counted by the emulator (``/_emulator/counters``, QPS user API).

Run: ``python benchmarks/bench_sessions.py [--threads 100] [--operations 2000]``
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.errors import SessionLimitError
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo, emulator_process

XRFKEY = "0123456789abcdef"


def sessions_of(info: EmulatorInfo, user_id: str) -> int:
    """Proxy sessions of QLIKEMU\\user_id on ``hdr``, per the QPS user API."""
    answer = requests.get(
        f"{info.qps_url}/qps/hdr/user/QLIKEMU/{user_id}?xrfkey={XRFKEY}",
        headers={"X-Qlik-Xrfkey": XRFKEY},
        cert=info.client_cert,
        verify=str(info.root),
        timeout=10,
    )
    answer.raise_for_status()
    return len(answer.json())


def operation(client: QlikClient) -> None:
    client.whoami()
    if client.get("qrs/about").status != 200:
        raise RuntimeError("qrs/about failed")


def shared(info: EmulatorInfo, threads: int, operations: int) -> dict[str, Any]:
    """``threads`` threads doing ``operations`` operations in all with one client."""
    user = f"bench{uuid.uuid4().hex[:8]}"
    before = info.counters()["sessions_created"]
    start = threading.Barrier(threads)
    per_thread = operations // threads
    with QlikClient(emulator_site(info, "hdr"), HeaderAuth(user=user)) as client:

        def work(_: int) -> None:
            start.wait()
            for _ in range(per_thread):
                operation(client)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(work, range(threads)))
        elapsed = time.perf_counter() - started
        held = sessions_of(info, user)
        logins = client.login_count
    return {
        "seconds": elapsed,
        "operations": per_thread * threads,
        "logins": logins,
        "sessions_created": info.counters()["sessions_created"] - before,
        "sessions_held": held,
        "refused": 0,
    }


def naive(info: EmulatorInfo, threads: int, operations: int) -> dict[str, Any]:
    """A new client (so a new login and session) per thread, as scripts often do."""
    user = f"bench{uuid.uuid4().hex[:8]}"
    before = info.counters()["sessions_created"]
    start = threading.Barrier(threads)
    per_thread = operations // threads
    refused = 0
    lock = threading.Lock()
    clients: list[QlikClient] = []

    def work(_: int) -> int:
        nonlocal refused
        client = QlikClient(emulator_site(info, "hdr"), HeaderAuth(user=user))
        with lock:
            clients.append(client)
        start.wait()
        done = 0
        for _ in range(per_thread):
            try:
                operation(client)
            except SessionLimitError:
                with lock:
                    refused += 1
                break
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = sum(pool.map(work, range(threads)))
    elapsed = time.perf_counter() - started
    held = sessions_of(info, user)
    logins = sum(c.login_count for c in clients)
    for client in clients:
        client.close()
    return {
        "seconds": elapsed,
        "operations": done,
        "logins": logins,
        "sessions_created": info.counters()["sessions_created"] - before,
        "sessions_held": held,
        "refused": refused,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--operations", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process(Path(tmp)) as info:
        one = shared(info, 1, args.operations)
        many = shared(info, args.threads, args.operations)
        script = naive(info, args.threads, args.operations)
    rows = [
        ("one thread, one client (baseline)", one),
        (f"{args.threads} threads, one shared client", many),
        (f"{args.threads} threads, a client each (naive)", script),
    ]
    print(
        "| row | operations | seconds | ops/s | logins | sessions created | sessions held "
        "| refused (session limit) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        rate = r["operations"] / r["seconds"] if r["seconds"] else 0.0
        print(
            f"| {name} | {r['operations']} | {r['seconds']:.2f} | {rate:,.0f} | {r['logins']} | "
            f"{r['sessions_created']} | {r['sessions_held']} | {r['refused']} |"
        )
    ratio = many["seconds"] / one["seconds"]
    print(
        f"{args.threads} threads sharing one client: {many['logins']} login(s), "
        f"{many['sessions_created']} session(s) created; time = {ratio:.2f}x one thread "
        "for the same operations"
    )
    return 0 if (many["logins"], many["sessions_created"]) == (1, 1) else 1


if __name__ == "__main__":
    raise SystemExit(main())
