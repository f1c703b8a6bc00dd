"""Fixtures of the broker tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from broker_support import Stage, emulator_naming_the_broker, listening_socket

from qlikauth.testing.emulator import EmulatorInfo


@pytest.fixture
def stage(tmp_path: Path, qlik_emulator_factory: Callable[..., EmulatorInfo]) -> Iterator[Stage]:
    """A fresh emulator naming a broker that is not started yet (``stage.broker()``)."""
    sock = listening_socket()
    try:
        info = emulator_naming_the_broker(qlik_emulator_factory, sock.getsockname()[1])
        yield Stage(info, sock, tmp_path)
    finally:
        sock.close()


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, in a folder of its own, for one test."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server not found: apt-get install redis-server (Debian)")
    folder = tmp_path_factory.mktemp("redis")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
    process = subprocess.Popen(
        [server, *options, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start (exit code {process.poll()})")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
