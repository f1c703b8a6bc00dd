"""One session for everything: 100 engine calls and 10 downloads, counted by the server.

Rows, each against the emulator in its own process:

* the naive script (baseline): a new client - a new login - for every engine call and
  every download, as scripts that reinvent authentication do;
* one ``QlikClient``: one engine connection for the calls, the same session for the
  exports and downloads.

The emulator counts the proxy sessions each row created (``/_emulator/counters``), and QPS
reports how many the user still holds afterwards. The naive row runs into Qlik's limit of
five sessions per user long before it is done; its refusals are counted, not hidden.

Run: ``python benchmarks/bench_one_session.py [--calls 100] [--downloads 10]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from qlikauth import HeaderAuth, QlikClient, QlikUser, QpsClient, SessionLimitError
from qlikauth.testing.emulator import EmulatorInfo, emulator_process
from qlikauth.testing.emulator_info import site_from_emulator

PREFIX = "hdr"


def _export(client: QlikClient, app: str, target: Path) -> int:
    doc = client.open_app(app)
    table = doc.create_hypercube(["Region"], ["Sum(Amount)"])
    return client.download(table.export_data("CSV_C"), target, progress=False).size


def one_client(
    info: EmulatorInfo, app: str, calls: int, downloads: int, out: Path
) -> dict[str, Any]:
    """Every call and download on one client."""
    site = site_from_emulator(info.raw, PREFIX)
    user = f"one{uuid.uuid4().hex[:8]}"
    before = info.counters()["sessions_created"]
    started = time.perf_counter()
    with QlikClient(site, HeaderAuth(user=user), logout_on_close=False) as client:
        with client.engine(app) as engine:
            doc = engine.open_doc(app)
            for _ in range(calls):
                doc.evaluate("Sum(Amount)")
        for n in range(downloads):
            _export(client, app, out / f"one-{n}.csv")
    seconds = time.perf_counter() - started
    return _row("one QlikClient", info, site, user, before, seconds, calls + downloads, 0)


def naive(
    info: EmulatorInfo, app: str, calls: int, downloads: int, out: Path, *, logout: bool
) -> dict[str, Any]:
    """A new client (a login) per call and per download.

    Without ``logout`` the sessions are left to time out, as most scripts do; with it each
    client logs out when it is done (slower, but no leak).
    """
    site = site_from_emulator(info.raw, PREFIX)
    user = f"naive{uuid.uuid4().hex[:8]}"
    before = info.counters()["sessions_created"]
    refused = done = 0
    started = time.perf_counter()
    for n in range(calls + downloads):
        client = QlikClient(site, HeaderAuth(user=user), logout_on_close=logout)
        try:
            if n < calls:
                client.open_app(app).evaluate("Sum(Amount)")
            else:
                _export(client, app, out / f"naive-{n}.csv")
            done += 1
        except SessionLimitError:
            refused += 1
        finally:
            client.close()
    seconds = time.perf_counter() - started
    name = "a client per operation, logging out" if logout else "a client per operation (naive)"
    return _row(name, info, site, user, before, seconds, done, refused)


def _row(
    name: str,
    info: EmulatorInfo,
    site: Any,
    user: str,
    before: int,
    seconds: float,
    done: int,
    refused: int,
) -> dict[str, Any]:
    with QpsClient(site) as qps:
        held = len(qps.user_sessions(QlikUser("QLIKEMU", user)))
    created = info.counters()["sessions_created"] - before
    return {
        "row": name,
        "done": done,
        "refused": refused,
        "sessions_created": created,
        "sessions_held": held,
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--downloads", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process(Path(tmp) / "emu") as info:
        app = info.app_id("Sales")
        out = Path(tmp)
        rows = [
            naive(info, app, args.calls, args.downloads, out, logout=False),
            naive(info, app, args.calls, args.downloads, out, logout=True),
            one_client(info, app, args.calls, args.downloads, out),
        ]
    print(f"{args.calls} engine calls and {args.downloads} downloads, header auth on {PREFIX}")
    print("| row | done | refused (session limit) | sessions created | sessions held | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['row']} | {r['done']} | {r['refused']} | {r['sessions_created']} "
            f"| {r['sessions_held']} | {r['seconds']:.2f} |"
        )
    leaky, polite, one = rows
    print(
        f"one client: {one['sessions_created']} session(s) for {one['done']} operations, "
        f"{one['seconds'] / polite['seconds']:.2f}x the time of a login and logout per "
        f"operation ({polite['sessions_created']} sessions); the leaky script completed "
        f"{leaky['done']} and was refused {leaky['refused']} times"
    )
    return 0 if (one["sessions_created"], one["refused"]) == (1, 0) else 1


if __name__ == "__main__":
    raise SystemExit(main())
