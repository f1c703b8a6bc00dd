"""Fixtures of the broker tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from broker_support import Stage, emulator_naming_the_broker, listening_socket

from qlikauth.testing.emulator import EmulatorInfo


@pytest.fixture
def stage(
    tmp_path: Path, qlik_emulator_factory: Callable[..., EmulatorInfo]
) -> Iterator[Stage]:
    """A fresh emulator naming a broker that is not started yet (``stage.broker()``)."""
    sock = listening_socket()
    try:
        info = emulator_naming_the_broker(qlik_emulator_factory, sock.getsockname()[1])
        yield Stage(info, sock, tmp_path)
    finally:
        sock.close()
