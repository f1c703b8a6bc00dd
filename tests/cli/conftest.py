"""Every command-line test reads and writes a configuration of its own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A configuration file of the test's own, and sessions cached in files: whether this
    machine (or another test module) has a keyring backend must not matter."""
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
