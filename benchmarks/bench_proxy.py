"""The local proxy's cost: engine calls and downloads through ``qlikauth proxy`` against the
same work done by ``QlikClient`` straight to Qlik, in the same run.

The emulator and the proxy each run in a process of their own (``qlikauth emulator``,
``qlikauth proxy --json``), so neither shares this process's GIL. Both rows use qlikauth's
own client code, so the ratio is the proxy's alone:

* **engine calls**: ``doc.call("EvaluateEx", ...)`` on an :class:`EngineConnection` opened
  straight to the emulator's proxy (wss, session cookie, CSRF token) against the same call on
  one opened on ``ws://127.0.0.1:PORT/app/...`` with only the access token; rows alternate in
  50 ms slices. Target: at most 1.5x the direct time per call.
* **downloads**: :func:`qlikauth.download.download` of one export, grown to ``--size``
  (as ``bench_download.py`` does), straight and through the proxy, in alternating rounds (each
  first in every other round). Target: throughput through the proxy at least 0.7x direct
  (median against median). The proxy process's CPU time per GiB is reported too.

Run: ``python benchmarks/bench_proxy.py [--seconds 3] [--size 256M] [--rounds 4]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from _slices import interleaved
from bench_download import grow, parse_size

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.credentials import Credentials
from qlikauth.download import download
from qlikauth.engine import EngineConnection
from qlikauth.http import HttpTransport
from qlikauth.site import Site, VirtualProxy
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo, emulator_process

ROWS = 600_000
USER = "alice"
EXPRESSION = "Sum(Amount)"


def profile(info: EmulatorInfo, folder: Path) -> dict[str, str]:
    """The environment of a ``qlikauth`` command with a header-auth profile on ``hdr``."""
    ports = info["ports"]
    config = folder / "config.toml"
    config.write_text(
        f'default_profile = "emu"\n[profiles.emu]\nserver = "localhost"\nprefix = "hdr"\n'
        f'cookie_name = "{info.cookie_name("hdr")}"\ncerts = "{info.certs_dir}"\n'
        f"proxy_port = {ports['proxy']}\nqps_port = {ports['qps']}\n"
        f'authenticator = "header"\n[profiles.emu.auth]\nuser = "{USER}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLIKAUTH_")}
    return {**env, "HOME": str(folder), "QLIKAUTH_CONFIG": str(config),
            "QLIKAUTH_SESSION_STORE": "file"}  # fmt: skip


@contextmanager
def proxy_process(env: dict[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``qlikauth proxy --json`` in a child process: its pid and what it printed."""
    with subprocess.Popen(
        [sys.executable, "-m", "qlikauth", "proxy", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # one line per request: not what is measured
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                raise RuntimeError(f"the proxy did not start (exit code {child.wait()})")
            yield child.pid, json.loads(line)
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of another process (Linux ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per engine row")
    parser.add_argument("--size", default="256M", help="download size (e.g. 1G)")
    parser.add_argument("--rounds", type=int, default=4, help="download rounds")
    args = parser.parse_args(argv)
    size = parse_size(args.size)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        state = work / "emulator"
        state.mkdir()
        config = work / "emulator.toml"
        config.write_text(f"[apps]\nlarge_app_rows = {ROWS}\n")
        with (
            emulator_process(state, "--config", str(config)) as info,
            QlikClient(emulator_site(info, "hdr"), HeaderAuth(user=USER)) as client,
            proxy_process(profile(info, work)) as (proxy_pid, proxy),
        ):
            port = urlsplit(proxy["url"]).port
            assert port is not None
            local = Site("127.0.0.1", VirtualProxy(""), scheme="http", proxy_port=port)
            token = Credentials(headers={proxy["token_header"]: proxy["token"]})
            app = info.app_id("Sales")

            # -- engine calls ----------------------------------------------------------
            straight = client.engine(app, identity="direct")
            through = EngineConnection.open(local, token, app, identity="proxied")
            try:
                direct_doc, proxied_doc = straight.open_doc(), through.open_doc()

                def direct_call() -> object:
                    return direct_doc.call("EvaluateEx", qExpression=EXPRESSION)

                def proxied_call() -> object:
                    return proxied_doc.call("EvaluateEx", qExpression=EXPRESSION)

                assert direct_call() == proxied_call()
                tallies = interleaved({"direct": direct_call, "proxy": proxied_call}, args.seconds)
            finally:
                through.close()
                straight.close()
            per_call = {name: tally.per_call for name, tally in tallies.items()}

            # -- downloads ------------------------------------------------------------
            doc = client.open_app(info.app_id("Large"))
            fields = ["OrderId", "Region", "Country", "Product", "Customer", "Year"]
            q_url = doc.create_hypercube(fields, ["Sum(Quantity)", "Sum(Amount)"]).export_data()
            exported = next(state.rglob(unquote(Path(urlsplit(q_url).path).name)))
            grow(exported, size)
            times: dict[str, list[float]] = {"direct": [], "proxy": []}
            proxy_cpu: list[float] = []
            with HttpTransport(local) as transport:

                def run(row: str) -> None:
                    target = work / f"{row}.csv"
                    cpu = cpu_seconds_of(proxy_pid)
                    started = time.perf_counter()
                    if row == "direct":
                        result = client.download(q_url, target, progress=False)
                    else:
                        result = download(transport, token, q_url, target, progress=False)
                        proxy_cpu.append(cpu_seconds_of(proxy_pid) - cpu)
                    times[row].append(time.perf_counter() - started)
                    assert result.size == size, (row, result.size, size)
                    target.unlink()

                for round_ in range(args.rounds):
                    order = ("direct", "proxy") if round_ % 2 == 0 else ("proxy", "direct")
                    for row in order:
                        run(row)

    call_ratio = per_call["proxy"] / per_call["direct"]
    print(f"engine calls (EvaluateEx on Sales), {args.seconds:.0f} s per row in 50 ms slices")
    print("| row | per call | calls/s | ratio |")
    print("|---|---:|---:|---:|")
    for name, label in (("direct", "`QlikClient` engine, straight (baseline)"),
                        ("proxy", "the same through `qlikauth proxy`")):  # fmt: skip
        print(f"| {label} | {per_call[name] * 1e6:,.0f} us | {1 / per_call[name]:,.0f} | "
              f"{per_call[name] / per_call['direct']:.2f} |")  # fmt: skip
    print(f"call time through the proxy = {call_ratio:.2f}x direct (target <= 1.5)")
    print()
    mb = size / 1e6
    print(f"downloads of {size:,} bytes ({size / (1 << 20):.0f} MiB), {args.rounds} rounds")
    print("| row | best s | MB/s (best) | median s | all runs (s) |")
    print("|---|---:|---:|---:|---|")
    for name, label in (("direct", "`QlikClient.download`, straight (baseline)"),
                        ("proxy", "`download()` through `qlikauth proxy`")):  # fmt: skip
        runs = times[name]
        listed = ", ".join(f"{t:.3f}" for t in runs)
        print(f"| {label} | {min(runs):.3f} | {mb / min(runs):,.0f} | "
              f"{statistics.median(runs):.3f} | {listed} |")  # fmt: skip
    median = statistics.median(times["direct"]) / statistics.median(times["proxy"])
    best = min(times["direct"]) / min(times["proxy"])
    per_gib = statistics.median(proxy_cpu) / (size / (1 << 30))
    print(f"throughput through the proxy = {median:.2f}x direct median, {best:.2f}x best "
          f"(target >= 0.7); the proxy process spent {per_gib:.2f} CPU s per GiB")  # fmt: skip
    return 0 if call_ratio <= 1.5 and median >= 0.7 else 1


if __name__ == "__main__":
    raise SystemExit(main())
