"""Every command-line test reads and writes a configuration of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import write_profile

from qlikauth.testing.emulator import EmulatorInfo, running_emulator


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A configuration file of the test's own, and sessions cached in files: whether this
    machine (or another test module) has a keyring backend must not matter."""
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")


@pytest.fixture(scope="module")
def emu(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    qlik_emulator_template: Path,
) -> Iterator[EmulatorInfo]:
    """An emulator of the test module's own (its tests count sessions on it), configured by
    the module's ``EMULATOR_OVERRIDES``."""
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    overrides = getattr(request.module, "EMULATOR_OVERRIDES", {})
    folder = tmp_path_factory.mktemp("emu-cli")
    with running_emulator(folder, qlik_emulator_template, **overrides) as info:
        yield info


@pytest.fixture
def profile(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
) -> Iterator[Path]:
    """The configuration in use: a profile for a user of this test alone (named after it).
    Faults the test set on the module's emulator end with it."""
    user = "u" + request.node.name.removeprefix("test_").replace("_", "")[:40]
    path = write_profile(tmp_path / "config.toml", emu, user)
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    yield path
    emu.set_faults(latency_ms=0)
