"""Load: client memory per idle engine session on one event loop stays under 100 KB.

A child process (the emulator shares this one) opens 50 engine sessions on the emulator's
direct engine port with :class:`AsyncEngineConnection`, and 50 bare ``websockets`` clients
with the same URL, headers and TLS, and reports what ``tracemalloc`` counts as allocated and
still held per idle session. Counted allocations, not time: the figure moves by well under a
kilobyte between runs. (The 1,000-session figures and the time to open them are in
``benchmarks/bench_engine_sessions.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys

from qlikauth.testing.emulator import EmulatorInfo

GOAL = 100 * 1024


def test_an_idle_asyncio_engine_session_holds_under_100_kb(qlik_emulator: EmulatorInfo) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "qlikauth.testing.idle_sessions", "--sessions", "50"],
        input=json.dumps(qlik_emulator.raw),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    held = json.loads(child.stdout)
    # asyncio's 256 KiB TLS read buffer and zlib's default windows held about 466 KB per
    # session for the bare client, and so for qlikauth before it did TLS and bounded
    # compression itself.
    assert 0 < held["qlikauth"] < GOAL, held
    assert held["qlikauth"] < held["bare"] / 4, held
