"""Tempcontent download: qlikauth's downloader against ``curl`` with the same cookie.

The emulator (in its own process) exports the large app; the exported file is then grown to
``--size`` bytes on disk (an ExportData CSV stops at 5,000,000 cells, as Qlik's does, so a
1 GB file cannot come from one export), and both clients fetch the same URL with the same
session cookie, in alternating rounds (each client first in every other round): throughput
ratio qlikauth / curl (target >= 0.8). Peak RSS growth of a child process that downloads
the file with qlikauth is measured with the kernel's peak mark, reset just before the
download (target < 64 MB for 1 GB).

Run: ``python benchmarks/bench_download.py [--size 256M] [--rounds 3]``; the 1 GB figure:
``--size 1G`` (needs about 2 GB of free disk).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from qlikauth.auth.existing import ExistingSessionAuth
from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo, emulator_process

ROWS = 600_000
USER = "alice"


def parse_size(text: str) -> int:
    """``256M``, ``1G``, ``1000000``: a byte count."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    if text[-1:] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def grow(path: Path, size: int) -> None:
    """Append copies of the file's data rows until it holds ``size`` bytes."""
    with path.open("rb") as f:
        f.readline()
        body = f.read(8 << 20)
    body = body[: body.rfind(b"\n") + 1]
    with path.open("ab") as f:
        left = size - path.stat().st_size
        while left > 0:
            piece = body[:left]
            f.write(piece)
            left -= len(piece)


def curl_download(url: str, cookie_header: str, root: Path, target: Path, work: Path) -> float:
    """Seconds for curl to fetch ``url`` with the cookie (read from a 0600 file, not argv)."""
    headers = work / "curl-headers.txt"
    fd = os.open(headers, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"Cookie: {cookie_header}\n")
    started = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "--cacert",
            str(root),
            "-H",
            f"@{headers}",
            "-o",
            str(target),
            url,
        ],
        check=True,
    )
    elapsed = time.perf_counter() - started
    headers.unlink()
    return elapsed


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of this process (or of its finished children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def child_rss(args: argparse.Namespace) -> None:
    """In a child process: download once with qlikauth, print the peak RSS growth (bytes)."""
    info = EmulatorInfo(json.loads(Path(args.info).read_text()))
    secret = json.loads(Path(args.session_file).read_text())
    site = emulator_site(info, "hdr")
    auth = ExistingSessionAuth(session_id=secret["session_id"], csrf_token=secret["csrf"])
    with QlikClient(site, auth) as client:
        client.credentials()
        reset_peak_rss()  # so the peak read below is the download's, not start-up's
        before = current_rss()
        with DirtyPeak() as dirty:
            result = client.download(args.url, Path(args.target), progress=False)
        peak = peak_rss()
    print(json.dumps({"size": result.size, "before": before, "peak": peak, "dirty": dirty.peak}))


class DirtyPeak:
    """The machine's largest ``Dirty:`` figure (``/proc/meminfo``, bytes) while in the block.

    Dirty pages are file data in memory not yet on disk: without writeback as it arrives,
    a download piles up as dirty pages until its closing fsync. Sampled every 10 ms; -1 where
    ``/proc/meminfo`` is missing.
    """

    def __init__(self) -> None:
        self.peak = -1
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> DirtyPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            try:
                with open("/proc/meminfo") as f:
                    for line in f:
                        if line.startswith("Dirty:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                return
            if self._done.wait(0.01):
                return


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux); elsewhere the lifetime peak is used."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss() -> int:
    """Peak resident set size in bytes since :func:`reset_peak_rss` (Linux ``VmHWM``)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    """Resident set size now, in bytes (Linux ``/proc``; else the peak so far)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256M", help="file size to download (e.g. 1G)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child-rss", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    parser.add_argument("--session-file", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        child_rss(args)
        return 0
    if shutil.which("curl") is None:
        sys.exit("curl is needed for the baseline (apt-get install -y curl)")
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        state = work / "emulator"
        state.mkdir()
        config = work / "emulator.toml"
        config.write_text(f"[apps]\nlarge_app_rows = {ROWS}\n")
        with emulator_process(state, "--config", str(config)) as info:
            site = emulator_site(info, "hdr")
            with QlikClient(site, HeaderAuth(user=USER)) as client:
                doc = client.open_app(info.app_id("Large"))
                fields = ["OrderId", "Region", "Country", "Product", "Customer", "Year"]
                cube = doc.create_hypercube(fields, ["Sum(Quantity)", "Sum(Amount)"])
                q_url = cube.export_data("CSV_C")
                name = Path(urlsplit(q_url).path).name
                exported = next(state.rglob(name))
                grow(exported, size)
                credentials = client.credentials()
                url = site.resolve(q_url)
                cookie = credentials.cookie_header() or ""
                ours: list[float] = []
                theirs: list[float] = []
                ours_cpu: list[float] = []
                theirs_cpu: list[float] = []

                def run_ours() -> None:
                    target = work / "ours.csv"
                    cpu = cpu_seconds(resource.RUSAGE_SELF)
                    started = time.perf_counter()
                    result = client.download(q_url, target, progress=False)
                    ours.append(time.perf_counter() - started)
                    ours_cpu.append(cpu_seconds(resource.RUSAGE_SELF) - cpu)
                    assert result.size == size, (result.size, size)
                    target.unlink()

                def run_curl() -> None:
                    other = work / "curl.csv"
                    cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
                    theirs.append(curl_download(url, cookie, info.root, other, work))
                    theirs_cpu.append(cpu_seconds(resource.RUSAGE_CHILDREN) - cpu)
                    assert other.stat().st_size == size
                    other.unlink()

                for round_ in range(args.rounds):
                    # Each client goes first in every other round: whoever follows a
                    # download finds the disk and the page cache in another state.
                    for run in (run_ours, run_curl) if round_ % 2 == 0 else (run_curl, run_ours):
                        run()

                session_file = work / "session.json"
                fd = os.open(session_file, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(
                        {"session_id": credentials.session_id, "csrf": credentials.csrf_token}, f
                    )
                info_file = work / "info.json"
                info_file.write_text(json.dumps(info.raw))
                os.sync()  # so the dirty pages counted in the child are the download's
                child = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child-rss",
                        "--info",
                        str(info_file),
                        "--session-file",
                        str(session_file),
                        "--url",
                        q_url,
                        "--target",
                        str(work / "rss.csv"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rss = json.loads(child.stdout)
    mb = size / 1e6
    best_ours, best_curl = min(ours), min(theirs)
    print(f"file: {size:,} bytes ({size / (1 << 20):.0f} MiB), {args.rounds} alternating rounds")
    print("| client | best s | MB/s (best) | all runs (s) | CPU s (min) |")
    print("|---|---:|---:|---|---:|")
    print(
        f"| curl, same cookie (baseline) | {best_curl:.3f} | {mb / best_curl:,.0f} | "
        f"{', '.join(f'{t:.3f}' for t in theirs)} | {min(theirs_cpu):.2f} |"
    )
    print(
        f"| `QlikClient.download` (with SHA-256, fsync) | {best_ours:.3f} | "
        f"{mb / best_ours:,.0f} | {', '.join(f'{t:.3f}' for t in ours)} | {min(ours_cpu):.2f} |"
    )
    median = statistics.median(theirs) / statistics.median(ours)
    print(
        f"throughput qlikauth / curl = {best_curl / best_ours:.2f} best of {args.rounds}, "
        f"{median:.2f} median (target >= 0.8)"
    )
    growth = rss["peak"] - rss["before"]
    print(
        f"child downloading {rss['size']:,} bytes: RSS before {rss['before'] / (1 << 20):.1f} "
        f"MiB, peak {rss['peak'] / (1 << 20):.1f} MiB, peak growth {growth / (1 << 20):.1f} MiB "
        "(target < 64 MB for 1 GB); the machine's dirty page cache peaked at "
        f"{rss['dirty'] / (1 << 20):.0f} MiB"
    )
    return 0 if median >= 0.8 and growth < 64_000_000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
