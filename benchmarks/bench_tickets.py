"""Ticket issuance: the QPS client against a new ``requests`` connection per ticket.

Baseline: the naive script, ``requests.post(...)`` per ticket with the client certificate,
so every ticket pays a new TCP connection and a mutual-TLS handshake. qlikauth's
:class:`~qlikauth.qps.QpsClient` keeps one connection alive for all of them (target: at
least 4x faster). Both run in the same process against the same emulator, which runs in its
own process, in alternating rounds.

Run: ``python benchmarks/bench_tickets.py [--tickets 200] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from qlikauth.http import new_xrfkey
from qlikauth.qps import QpsClient
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo, emulator_process


def naive_ticket(info: EmulatorInfo) -> str:
    """What a typical script does: a new connection and handshake for every ticket."""
    key = new_xrfkey()
    response = requests.post(
        f"{info.qps_url}/qps/ticket/ticket?xrfkey={key}",
        json={"UserDirectory": "QLIKEMU", "UserId": "bench", "Attributes": []},
        headers={"X-Qlik-Xrfkey": key},
        cert=info.client_cert,
        verify=str(info.root),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["Ticket"])


def timed(work: Callable[[], object], count: int) -> list[float]:
    """Seconds per call, for ``count`` calls."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        work()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200, help="tickets per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder, emulator_process(Path(folder)) as info:
        site = emulator_site(info, "ticket")
        samples: dict[str, list[float]] = {
            "new requests connection per ticket": [],
            "QpsClient": [],
        }
        with QpsClient(site) as qps:
            qps.issue_ticket("QLIKEMU\\bench")  # connect once, outside the clock
            naive_ticket(info)
            rows: dict[str, Callable[[], Any]] = {
                "new requests connection per ticket": lambda: naive_ticket(info),
                "QpsClient": lambda: qps.issue_ticket("QLIKEMU\\bench"),
            }
            for _ in range(args.rounds):
                for name, work in rows.items():
                    samples[name] += timed(work, args.tickets)

    print(f"{'ticket issuance':<36} {'tickets/s':>10} {'median ms':>10} {'p95 ms':>8}")
    rates = {}
    for name, values in samples.items():
        rates[name] = len(values) / sum(values)
        p95 = statistics.quantiles(values, n=20)[-1]
        print(
            f"{name:<36} {rates[name]:>10,.0f} {statistics.median(values) * 1000:>10.2f} "
            f"{p95 * 1000:>8.2f}"
        )
    ratio = rates["QpsClient"] / rates["new requests connection per ticket"]
    print(
        f"\nQpsClient issues tickets {ratio:.1f}x as fast as a new connection per ticket "
        "(target >= 4x)"
    )
    return 0 if ratio >= 4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
