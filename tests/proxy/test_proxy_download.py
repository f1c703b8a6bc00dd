"""A 1 GB tempcontent download through the proxy streams: the memory of the process that
runs the proxy (and the emulator) does not grow with the file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from proxy_support import curl_or_skip, proxied

from qlikauth.proxy import TOKEN_HEADER
from qlikauth.testing.emulator import EmulatorInfo

SIZE = 1 << 30
STATUS = Path("/proc/self/status")


def status_bytes(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status``, in bytes."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in {STATUS}")


@pytest.mark.slow
def test_a_1_gb_download_streams_with_flat_memory(
    qlik_emulator_fresh: EmulatorInfo, tmp_path: Path
) -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc to reset and read this process's peak memory")
    curl = curl_or_skip()
    info = qlik_emulator_fresh
    with proxied(info) as (client, proxy):
        doc = client.open_app(info.app_id("Sales"))
        q_url = doc.create_hypercube(["Region"], ["Sum(Amount)"]).export_data("CSV_C")
        name = unquote(Path(urlsplit(q_url).path).name)
        exported = next(Path(info["state_dir"]).rglob(name))
        with exported.open("r+b") as f:
            f.truncate(SIZE)  # grown to 1 GiB as a sparse file: no disk space, no writing
        headers = tmp_path / "headers"
        fd = os.open(headers, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{TOKEN_HEADER}: {proxy.token}\n")
        Path("/proc/self/clear_refs").write_text("5")  # the peak mark starts again from here
        before = status_bytes("VmRSS")
        fetched = subprocess.run(
            [curl, "-sS", "--fail", "-H", f"@{headers}", "-o", os.devnull,
             "-w", "%{size_download}", proxy.url.rstrip("/") + q_url],
            capture_output=True, text=True, timeout=110,
        )  # fmt: skip
        peak = status_bytes("VmHWM")
    assert fetched.returncode == 0, fetched.stderr
    assert int(fetched.stdout) == SIZE
    # The emulator serving it and the proxy relaying it, both in this process, hold a few
    # chunks at a time: the peak grows by far less than a tenth of the file.
    assert peak - before < SIZE // 10, f"peak grew by {(peak - before) >> 20} MiB"
