"""Pytest fixtures and a small handle on a running Qlik Sense emulator.

Fixtures (enable with ``pytest_plugins = ["qlikauth.testing.plugin"]``):

* ``qlik_emulator`` - one emulator for the whole test session (default configuration,
  release ``2024-11``);
* ``qlik_emulator_2024_05`` - one emulator for the session that behaves as the May 2024
  release (no ``/qps/csrftoken``, no websocket CSRF check); ``qlik_emulator_2024_11`` is
  the November 2024 one (the same emulator as ``qlik_emulator``);
* ``qlik_emulator_release`` - one session emulator per release mode, ``2024-05`` then
  ``2024-11``: a test that uses it runs once for each (its ids are the releases);
* ``qlik_emulator_http`` - one emulator for the session that also serves the proxy and the
  login module over plain http (``allow_http``; URLs in ``proxy_http_url``, ``auth_http_url``);
* ``qlik_emulator_fresh`` - a new emulator per test, for tests that change its state;
* ``qlik_emulator_factory`` - call it with configuration overrides (for example
  ``session_timeout=1.0``, ``ticket_ttl=0.5``, ``release="2024-05"``) to get a new one;
  ``clock=`` gives it a :class:`~qlikauth.testing.clock.ManualClock` to pass timeouts
  without sleeping.

Each yields an :class:`EmulatorInfo`. The emulator needs the ``server`` extra; it is imported
only inside the fixtures, so importing this module works without it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

__all__ = [
    "RELEASES",
    "EmulatorInfo",
    "emulator_process",
    "qlik_emulator",
    "qlik_emulator_2024_05",
    "qlik_emulator_2024_11",
    "qlik_emulator_factory",
    "qlik_emulator_fresh",
    "qlik_emulator_http",
    "qlik_emulator_release",
    "qlik_emulator_template",
    "running_emulator",
]

_TEMPLATE_FILES = ("pfx_password", "jwt_key.pem", "jwt_cert.pem")

#: The release modes, oldest first (the same as ``qlikauth.emulator.release.RELEASES``, kept
#: here so that importing the plug-in needs no ``server`` extra).
RELEASES = ("2024-05", "2024-11")


@dataclasses.dataclass(frozen=True)
class EmulatorInfo:
    """What a running emulator published in its info file, with typed accessors."""

    raw: dict[str, Any] = dataclasses.field(repr=False)
    emulator: Any = dataclasses.field(default=None, repr=False, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    @property
    def host(self) -> str:
        return str(self.raw["host"])

    @property
    def release(self) -> str:
        """The Qlik Sense release the emulator behaves as (``2024-05`` or ``2024-11``)."""
        return str(self.raw["release"])

    @property
    def proxy_url(self) -> str:
        return str(self.raw["proxy_url"])

    @property
    def qps_url(self) -> str:
        return str(self.raw["qps_url"])

    @property
    def qrs_url(self) -> str:
        return str(self.raw["qrs_url"])

    @property
    def engine_url(self) -> str:
        return str(self.raw["engine_url"])

    @property
    def auth_url(self) -> str:
        return str(self.raw["auth_url"])

    @property
    def certs_dir(self) -> Path:
        return Path(self.raw["certs_dir"])

    @property
    def root(self) -> Path:
        """The root certificate to verify every listener with."""
        return self.certs_dir / "root.pem"

    @property
    def client_cert(self) -> tuple[str, str]:
        """``(client.pem, client_key.pem)``, as ``requests`` takes ``cert=``."""
        return (str(self.certs_dir / "client.pem"), str(self.certs_dir / "client_key.pem"))

    @property
    def client_pfx(self) -> Path:
        return self.certs_dir / "client.pfx"

    @property
    def pfx_password(self) -> str:
        return str(self.raw["pfx_password"])

    @property
    def admin_url(self) -> str:
        return str(self.raw["admin_url"])

    @property
    def admin_token(self) -> str:
        return str(self.raw["admin_token"])

    @property
    def apps(self) -> list[dict[str, str]]:
        return list(self.raw["apps"])

    def app_id(self, name: str) -> str:
        """The id of the app with this name."""
        for app in self.raw["apps"]:
            if app["name"] == name:
                return str(app["id"])
        raise KeyError(name)

    def virtual_proxy(self, prefix: str) -> dict[str, Any]:
        """The info of one virtual proxy."""
        for vp in self.raw["virtual_proxies"]:
            if vp["prefix"] == prefix:
                return dict(vp)
        raise KeyError(prefix)

    def cookie_name(self, prefix: str) -> str:
        return str(self.virtual_proxy(prefix)["cookie_name"])

    @property
    def windows_domain(self) -> str:
        return str(self.raw["windows"]["domain"])

    def windows_password(self, name: str) -> str:
        """The password of a Windows user of the emulator."""
        for user in self.raw["windows"]["users"]:
            if user["name"] == name:
                return str(user["password"])
        raise KeyError(name)

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(
            method,
            self.admin_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            verify=str(self.root),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def qps(self, method: str, path: str, body: Any = None) -> requests.Response:
        """A call to the QPS API (``/qps/{path}``) with the client certificate and an
        Xrfkey, as an administrator's script makes it."""
        xrfkey = secrets.token_hex(8)
        return requests.request(
            method,
            f"{self.qps_url.rstrip('/')}/qps/{path}?xrfkey={xrfkey}",
            headers={"X-Qlik-Xrfkey": xrfkey},
            json=body,
            cert=self.client_cert,
            verify=str(self.root),
            timeout=10,
        )

    def proxy_session_count(self, prefix: str, directory: str, user_id: str) -> int:
        """How many proxy sessions QPS lists for the user on virtual proxy ``prefix``."""
        head = f"{prefix}/" if prefix else ""
        user = f"{quote(directory, safe='')}/{quote(user_id, safe='')}"
        answer = self.qps("GET", f"{head}user/{user}")
        answer.raise_for_status()
        found = answer.json()
        if not isinstance(found, list):
            raise TypeError(f"QPS listed no sessions but {found!r}")
        return len(found)

    def counters(self) -> dict[str, Any]:
        """``GET /_emulator/counters``."""
        return dict(self._admin("GET", "counters"))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """``POST /_emulator/faults`` (latency_ms, error_rate, drop_websockets,
        truncate_downloads)."""
        return dict(self._admin("POST", "faults", faults))

    def reset(self) -> dict[str, Any]:
        """``POST /_emulator/reset``: no sessions, tickets, faults or counts."""
        return dict(self._admin("POST", "reset"))


@contextmanager
def running_emulator(
    state_dir: Path, template: Path | None = None, **overrides: Any
) -> Iterator[EmulatorInfo]:
    """Run an emulator with the default configuration plus ``overrides``.

    ``session_timeout`` sets every virtual proxy's inactivity timeout; ``clock`` is the
    clock its stores tell time by (monotonic by default); other keys are fields of
    ``EmulatorConfig``. ``template`` is a state folder whose PKI and JWT key pair are
    copied (to skip key generation).
    """
    from qlikauth._clock import monotonic
    from qlikauth.emulator.config import default_config
    from qlikauth.emulator.server import Emulator

    clock = overrides.pop("clock", monotonic)
    timeout = overrides.pop("session_timeout", None)
    config = default_config(**overrides)
    if timeout is not None:
        config = config.with_session_timeout(float(timeout))
    if template is not None and template.is_dir():
        shutil.copytree(template / "certs", state_dir / "certs", dirs_exist_ok=True)
        for name in _TEMPLATE_FILES:
            if (template / name).is_file():
                shutil.copy2(template / name, state_dir / name)
    with Emulator(config, state_dir, clock=clock) as emulator:
        yield EmulatorInfo(dict(emulator.info), emulator)


@contextmanager
def emulator_process(
    state_dir: Path, *args: str, start_timeout: float = 60.0
) -> Iterator[EmulatorInfo]:
    """Run ``qlikauth emulator`` in a child process; yield its info once it serves.

    Benchmarks use it so that the server does not share the measuring process's
    interpreter. ``args`` are further command-line options (``--config FILE``, ...).
    """
    info_file = state_dir / "info.json"
    command = [sys.executable, "-m", "qlikauth", "emulator", "--state-dir", str(state_dir)]
    child = subprocess.Popen(
        [*command, "--info-file", str(info_file), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while not info_file.is_file():  # written atomically once every listener serves
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start (exit code {child.poll()})")
            time.sleep(0.05)
        yield EmulatorInfo(json.loads(info_file.read_text()))
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture(scope="session")
def qlik_emulator_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder holding a PKI and JWT key pair, copied into every emulator's."""
    from qlikauth.emulator.config import default_config
    from qlikauth.emulator.tls import ensure_jwt_keypair, ensure_pki

    state = tmp_path_factory.mktemp("qlik-emulator-template")
    ensure_pki(state, default_config().server_certificate_names())
    ensure_jwt_keypair(state)
    return state


@pytest.fixture(scope="session")
def qlik_emulator_2024_11(
    tmp_path_factory: pytest.TempPathFactory, qlik_emulator_template: Path
) -> Iterator[EmulatorInfo]:
    """One emulator for the whole session, behaving as the November 2024 release (the
    default: ``qlik_emulator`` is this one)."""
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    state = tmp_path_factory.mktemp("qlik-emulator")
    with running_emulator(state, qlik_emulator_template, release="2024-11") as info:
        yield info


@pytest.fixture(scope="session")
def qlik_emulator(qlik_emulator_2024_11: EmulatorInfo) -> EmulatorInfo:
    """One emulator for the whole test session (do not change its state in a test).

    It keeps Qlik's limit of 5 parallel sessions per user, and sessions last 30 minutes:
    give each test its own user id, or end the sessions it creates.
    """
    return qlik_emulator_2024_11


@pytest.fixture(scope="session")
def qlik_emulator_2024_05(
    tmp_path_factory: pytest.TempPathFactory, qlik_emulator_template: Path
) -> Iterator[EmulatorInfo]:
    """One emulator for the session behaving as the May 2024 release (do not change its
    state; the same rules as ``qlik_emulator``)."""
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    state = tmp_path_factory.mktemp("qlik-emulator-2024-05")
    with running_emulator(state, qlik_emulator_template, release="2024-05") as info:
        yield info


@pytest.fixture(scope="session", params=RELEASES, ids=RELEASES)
def qlik_emulator_release(request: pytest.FixtureRequest) -> EmulatorInfo:
    """The session emulator of each release mode in turn: a test using it runs for both
    (``qlik_emulator_2024_05``, then ``qlik_emulator_2024_11``)."""
    name = "qlik_emulator_2024_05" if request.param == "2024-05" else "qlik_emulator_2024_11"
    info: EmulatorInfo = request.getfixturevalue(name)
    return info


@pytest.fixture(scope="session")
def qlik_emulator_http(
    tmp_path_factory: pytest.TempPathFactory, qlik_emulator_template: Path
) -> Iterator[EmulatorInfo]:
    """One emulator for the session that also serves plain http (Qlik's "Allow HTTP")."""
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    state = tmp_path_factory.mktemp("qlik-emulator-http")
    with running_emulator(state, qlik_emulator_template, allow_http=True) as info:
        yield info


@pytest.fixture
def qlik_emulator_factory(
    tmp_path_factory: pytest.TempPathFactory, qlik_emulator_template: Path
) -> Iterator[Callable[..., EmulatorInfo]]:
    """Start emulators with configuration overrides; all stop at the end of the test."""
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    stack: list[Any] = []

    def make(**overrides: Any) -> EmulatorInfo:
        state = tmp_path_factory.mktemp("qlik-emulator-fresh")
        manager = running_emulator(state, qlik_emulator_template, **overrides)
        info = manager.__enter__()
        stack.append(manager)
        return info

    try:
        yield make
    finally:
        while stack:
            stack.pop().__exit__(None, None, None)


@pytest.fixture
def qlik_emulator_fresh(qlik_emulator_factory: Callable[..., EmulatorInfo]) -> EmulatorInfo:
    """A new emulator with the default configuration, for a test that changes state."""
    return qlik_emulator_factory()
