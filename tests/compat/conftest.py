"""Fixtures of the compatibility suite: one emulator per release mode, shared by the session.

The suite runs emulators of its own rather than the plug-in's ``qlik_emulator_release``: it
adds an anonymous virtual proxy, and its Windows users log in and hold sessions that the
shared emulators' other tests must not meet at the session limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from compat_support import Cli, CompatSite, curl_executable, emulator_overrides, node_executable

from qlikauth.testing.emulator import RELEASES, running_emulator


@pytest.fixture(scope="session", params=RELEASES, ids=RELEASES)
def compat_site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    qlik_emulator_template: Path,
) -> Iterator[CompatSite]:
    """The emulator in one release mode, with a profile for every authenticator."""
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    release: str = request.param
    folder = tmp_path_factory.mktemp(f"compat-{release}")
    overrides = emulator_overrides(release)
    with running_emulator(folder / "emulator", qlik_emulator_template, **overrides) as info:
        assert info.release == release
        site = CompatSite(release, info, folder / "config")
        site.add_profiles()
        yield site


@pytest.fixture
def cli(
    compat_site: CompatSite, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> Cli:
    """qlikauth's command line with the site's profiles in a temporary XDG config folder."""
    for name, value in compat_site.environment().items():
        monkeypatch.setenv(name, value)
    return Cli(capfd)


@pytest.fixture(scope="session")
def node() -> str:
    """``node`` with the locked enigma.js and ws (skips, saying why, without them)."""
    return node_executable()


@pytest.fixture(scope="session")
def curl() -> str:
    """``curl`` (skips, saying why, without it)."""
    return curl_executable()
