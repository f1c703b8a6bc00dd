"""Engine call overhead of qlikauth's connector against a bare websockets loop, and pipelining.

Both run against the same emulator (started as a separate process, so it does not share
this process's GIL), on its direct engine port with mutual TLS, evaluating the same
expression on the same app:

* **bare**: ``websockets.sync.client`` with ``send(json.dumps(...))`` then
  ``json.loads(recv())`` - the floor for one call at a time;
* **qlikauth**: ``doc.call("EvaluateEx", ...)`` on an :class:`EngineConnection` (its own
  reader thread on websockets' Sans-I/O protocol, a future per call, handle table). Target:
  at most 1.1x the bare time per call.

The same pair on asyncio, rows alternating too: ``websockets.asyncio.client`` against
``await doc.call(...)`` on an :class:`AsyncEngineConnection` (TLS on memory buffers, bounded
compression windows), each slice running batches of 10 calls on one event loop. Same
target. And on asyncio the time to open a session (TLS handshake, upgrade, greeting) and
close it, rows alternating, reported without a target.

Then throughput: the same number of calls made one after the other, against 8 threads
sharing the one connection (their calls are in flight together), and one thread sending
them all before waiting (pipelined). Ratios are measured in the same run.

Run: ``python benchmarks/bench_engine.py [--seconds 5] [--calls 4000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _slices import interleaved
from websockets.asyncio.client import connect as aio_connect
from websockets.sync.client import connect

from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.engine import AsyncEngineConnection, EngineConnection
from qlikauth.site import Site
from qlikauth.testing.emulator import emulator_process
from qlikauth.testing.emulator_info import site_from_emulator

EXPRESSION = "Sum(Amount)"
#: Calls per slice of work on asyncio, so that entering the event loop costs little.
BATCH = 10


def evaluate_request(request_id: int, handle: int) -> str:
    """The bare rows' JSON-RPC request."""
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "handle": handle,
            "method": "EvaluateEx",
            "params": {"qExpression": EXPRESSION},
        }
    )


def open_doc_request(app: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 0, "handle": -1, "method": "OpenDoc",
                       "params": [app]})  # fmt: skip


def asyncio_rows(
    site: Site, credentials: Credentials, app: str, seconds: float
) -> dict[str, float]:
    """Seconds per call, and per open (handshakes, greeting, close), of bare
    ``websockets.asyncio`` and of ``AsyncEngineConnection``."""
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    bare = run(
        aio_connect(
            credentials.websocket_url(site, app, identity="bare-asyncio"),
            ssl=credentials.ssl_context(site),
            additional_headers=credentials.websocket_headers(),
        )
    )
    conn: AsyncEngineConnection | None = None
    try:
        run(bare.recv())  # OnConnected
        run(bare.send(open_doc_request(app)))
        handle = json.loads(run(bare.recv()))["result"]["qReturn"]["qHandle"]
        conn = run(AsyncEngineConnection.open(site, credentials, app, identity="qlikauth-aio"))
        doc = run(conn.open_doc())
        next_id = 0

        async def bare_calls() -> object:
            nonlocal next_id
            for _ in range(BATCH):
                next_id += 1
                await bare.send(evaluate_request(next_id, handle))
                answer = json.loads(await bare.recv())["result"]
            return answer

        async def qlikauth_calls() -> object:
            for _ in range(BATCH):
                answer = await doc.call("EvaluateEx", qExpression=EXPRESSION)
            return answer

        assert run(bare_calls()) == run(qlikauth_calls())
        rows = {"bare": lambda: run(bare_calls()), "qlikauth": lambda: run(qlikauth_calls())}
        tallies = interleaved(rows, seconds)
        figures = {name: tally.per_call / BATCH for name, tally in tallies.items()}

        context = credentials.ssl_context(site)

        async def bare_open() -> None:
            ws = await aio_connect(
                credentials.websocket_url(site, app),
                ssl=context,
                additional_headers=credentials.websocket_headers(),
            )
            await ws.recv()  # OnConnected
            await ws.close()

        async def qlikauth_open() -> None:
            await (await AsyncEngineConnection.open(site, credentials, app)).close()

        rows = {
            "bare open": lambda: run(bare_open()),
            "qlikauth open": lambda: run(qlikauth_open()),
        }
        tallies = interleaved(rows, seconds)
        return figures | {name: tally.per_call for name, tally in tallies.items()}
    finally:
        run(bare.close())
        if conn is not None:
            run(conn.close())
        loop.close()


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per overhead row")
    parser.add_argument("--calls", type=int, default=4000, help="calls per throughput row")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder, emulator_process(Path(folder)) as running:
        info = running.raw
        site = site_from_emulator(info)
        user = QlikUser("QLIKEMU", "alice")
        credentials = Credentials(
            route=Route.DIRECT, user=user, headers={"X-Qlik-User": user.header_value()}
        )
        app = next(a["id"] for a in info["apps"] if a["name"] == "Sales")

        bare = connect(
            # Separate engine sessions: one app per session, and each side opens it.
            credentials.websocket_url(site, app, identity="bare"),
            ssl=credentials.ssl_context(site),
            additional_headers=credentials.websocket_headers(),
            legacy=True,
        )
        json.loads(bare.recv())  # OnConnected
        bare.send(open_doc_request(app))
        doc_handle = json.loads(bare.recv())["result"]["qReturn"]["qHandle"]
        next_id = 1

        def bare_call() -> object:
            nonlocal next_id
            next_id += 1
            bare.send(evaluate_request(next_id, doc_handle))
            return json.loads(bare.recv())["result"]

        try:
            conn = EngineConnection.open(site, credentials, app, identity="qlikauth")
        except BaseException:
            bare.close()  # its thread would keep the process alive
            raise
        try:
            doc = conn.open_doc()

            def qlikauth_call() -> object:
                return doc.call("EvaluateEx", qExpression=EXPRESSION)

            try:
                assert bare_call() == qlikauth_call()
                tallies = interleaved({"bare": bare_call, "qlikauth": qlikauth_call}, args.seconds)
                per_call = {name: tally.per_call for name, tally in tallies.items()}
            finally:
                bare.close()

            n = args.calls

            def sequential() -> None:
                for _ in range(n):
                    qlikauth_call()

            def threads() -> None:
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda _: [qlikauth_call() for _ in range(n // 8)], range(8)))

            def pipelined() -> None:
                calls = [
                    conn.send(doc.handle, "EvaluateEx", {"qExpression": EXPRESSION})
                    for _ in range(n)
                ]
                for call in calls:
                    call.result()

            through: dict[str, list[float]] = {"sequential": [], "8 threads": [], "pipelined": []}
            for _ in range(3):
                through["sequential"].append(timed(sequential))
                through["8 threads"].append(timed(threads))
                through["pipelined"].append(timed(pipelined))
        finally:
            conn.close()
        per_call_aio = asyncio_rows(site, credentials, app, args.seconds)

    best = {name: min(times) for name, times in through.items()}
    overhead = per_call["qlikauth"] / per_call["bare"]
    print(f"engine calls on the emulator's direct port (pid {os.getpid()}, {n} calls per row)")
    print()
    print(f"{'row':<34} {'per call':>10} {'calls/s':>9} {'ratio':>7}")
    print(f"{'bare websockets send/recv':<34} {per_call['bare'] * 1e6:>8.0f}us "
          f"{1 / per_call['bare']:>9.0f} {1.0:>7.2f}")  # fmt: skip
    print(f"{'qlikauth doc.call (target <= 1.1)':<34} {per_call['qlikauth'] * 1e6:>8.0f}us "
          f"{1 / per_call['qlikauth']:>9.0f} {overhead:>7.2f}")  # fmt: skip
    overhead_aio = per_call_aio["qlikauth"] / per_call_aio["bare"]
    print(f"{'bare websockets asyncio':<34} {per_call_aio['bare'] * 1e6:>8.0f}us "
          f"{1 / per_call_aio['bare']:>9.0f} {1.0:>7.2f}")  # fmt: skip
    print(f"{'qlikauth asyncio (target <= 1.1)':<34} {per_call_aio['qlikauth'] * 1e6:>8.0f}us "
          f"{1 / per_call_aio['qlikauth']:>9.0f} {overhead_aio:>7.2f}")  # fmt: skip
    for name in ("bare open", "qlikauth open"):
        print(f"{name + ' (asyncio, TLS, greeting, close)':<44} "
              f"{per_call_aio[name] * 1e3:>6.2f}ms "
              f"{per_call_aio[name] / per_call_aio['bare open']:>7.2f}")  # fmt: skip
    print()
    base = best["sequential"]
    for name, seconds in best.items():
        rate = n / seconds
        print(f"{'qlikauth ' + name:<34} {seconds / n * 1e6:>8.0f}us {rate:>9.0f} "
              f"{base / seconds:>7.2f}")  # fmt: skip
    return 0 if max(overhead, overhead_aio) <= 1.1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
