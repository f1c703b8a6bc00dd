"""What the compatibility tests share: one emulator per release mode with a profile per
authenticator, qlikauth's command line run in this process, and the reference answers of
qlikauth's own engine connector that every third-party client is compared with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qlikauth.cli import main
from qlikauth.client import QlikClient
from qlikauth.config import resolve
from qlikauth.testing.emulator import EmulatorInfo

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"

APP = "Sales"
EXPRESSION = "Sum(Amount)"

#: The proxy authenticators, each a profile of that name on the emulator.
PROXY_AUTHENTICATORS = ("header", "jwt", "ticket", "session", "ntlm", "windows", "anonymous")

#: The environment variables the Windows password references of the profiles name.
PASSWORD_VARIABLES = {
    "ntlm": ("QLIKAUTH_COMPAT_NTLM_PASSWORD", "bob"),
    "windows": ("QLIKAUTH_COMPAT_WINDOWS_PASSWORD", "carol"),
}


def emulator_overrides(release: str) -> dict[str, Any]:
    """Emulator configuration for a release mode: the defaults plus an anonymous proxy."""
    from qlikauth.emulator.config import VirtualProxyConfig, default_config

    anonymous = VirtualProxyConfig(
        prefix="anon", method="ticket", cookie_name="X-Qlik-Session-anon", anonymous="allow"
    )
    return {
        "release": release,
        "virtual_proxies": (*default_config().virtual_proxies, anonymous),
    }


def _profiles(info: EmulatorInfo) -> dict[str, tuple[str | None, list[str]]]:
    """Profile name (= authenticator) -> (virtual proxy prefix, ``--set`` settings).

    Each profile logs in as a user of its own, so none runs into the session limit.
    """
    jwt_key = info.virtual_proxy("jwt")["jwt_private_key"]
    ntlm_variable, ntlm_user = PASSWORD_VARIABLES["ntlm"]
    windows_variable, windows_user = PASSWORD_VARIABLES["windows"]
    return {
        "header": ("hdr", ["auth.user=compat_header", "auth.header_name=header_user"]),
        "jwt": (
            "jwt",
            ["auth.user=compat_jwt", "auth.directory=QLIKEMU", f"auth.key={jwt_key}"],
        ),
        "ticket": ("ticket", ["auth.user=compat_ticket", "auth.directory=QLIKEMU"]),
        "session": ("hdr", ["auth.user=compat_session", "auth.directory=QLIKEMU"]),
        "ntlm": ("", [f"auth.user=QLIKEMU\\{ntlm_user}", f"auth.password=env:{ntlm_variable}"]),
        "windows": (
            "ticket",
            [
                f"auth.user=QLIKEMU\\{windows_user}",
                f"auth.password=env:{windows_variable}",
                'auth.validator={ kind = "ntlm", prefix = "" }',
            ],
        ),
        "anonymous": ("anon", []),
        "certificate": (None, ["auth.user=compat_certificate", "auth.directory=QLIKEMU"]),
    }


@dataclass(frozen=True)
class CompatSite:
    """One emulator in one release mode, and a configuration folder with its profiles."""

    release: str
    info: EmulatorInfo
    config_home: Path

    @property
    def config_file(self) -> Path:
        """The profiles file, where qlikauth looks with ``XDG_CONFIG_HOME`` = config_home."""
        return self.config_home / "qlikauth" / "config.toml"

    def environment(self) -> dict[str, str]:
        """What qlikauth (and the tools it runs) need in the environment for these profiles."""
        env = {
            "XDG_CONFIG_HOME": str(self.config_home),
            "QLIKAUTH_SESSION_STORE": "file",
            "NODE_PATH": str(NODE_MODULES),
        }
        for variable, user in PASSWORD_VARIABLES.values():
            env[variable] = self.info.windows_password(user)
        return env

    def add_profiles(self) -> None:
        """``qlikauth profile add NAME --from-emulator ...`` for every authenticator."""
        for name, (prefix, settings) in _profiles(self.info).items():
            argv = ["profile", "add", name, "--from-emulator", self.info["info_file"]]
            argv += ["--config", str(self.config_file), "--authenticator", name]
            if prefix is not None:
                argv += ["--prefix", prefix]
            for setting in settings:
                argv += ["--set", setting]
            assert main(argv) == 0, f"profile add {name} failed"

    def client(self, profile: str) -> QlikClient:
        """A :class:`QlikClient` for a profile, as a user's script builds one."""
        env = {**os.environ, **self.environment()}
        resolved = resolve(profile, config=self.config_file, env=env)
        assert resolved.authenticator is not None
        return QlikClient(resolved.site, resolved.authenticator)


@dataclass(frozen=True)
class Run:
    """A finished command: exit code and what it printed."""

    code: int
    out: str
    err: str

    def last_json(self) -> Any:
        """The JSON object on the last line of the output."""
        lines = self.out.strip().splitlines()
        assert self.code == 0 and lines, f"exit code {self.code}\n{self.out}\n{self.err}"
        return json.loads(lines[-1])


class Cli:
    """qlikauth's command line, run in this process (its children write to the same fds)."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd

    def __call__(self, *argv: str) -> Run:
        self.capfd.readouterr()
        code = main(list(argv))
        out, err = self.capfd.readouterr()
        return Run(code, out, err)

    def json(self, *argv: str) -> Any:
        """Run with ``--json`` and return the one object it printed (the command must work)."""
        run = self(*argv, "--json")
        assert run.code == 0, f"qlikauth {' '.join(argv)}: exit {run.code}\n{run.out}{run.err}"
        return json.loads(run.out)


@dataclass(frozen=True)
class EngineAnswers:
    """What a client read from the engine: the doc list and one expression's value."""

    docs: list[tuple[str, str]]
    text: str
    number: float


def engine_reference(cli: Cli, profile: str) -> EngineAnswers:
    """What qlikauth's own engine connector reads, on the profile's cached session."""
    docs = cli.json("doclist", "--profile", profile)["apps"]
    value = cli.json("eval", APP, EXPRESSION, "--profile", profile)
    return EngineAnswers(
        docs=[(str(d["id"]), str(d["title"])) for d in docs],
        text=str(value["text"]),
        number=float(value["value"]),
    )


def node_executable() -> str:
    """The ``node`` program with enigma.js and ws installed, or a skip saying what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (.ci/run installs it)")
    for package in ("enigma.js", "ws"):
        if not (NODE_MODULES / package).is_dir():
            pytest.skip(f"{package} is not installed: run npm ci --prefix tests/node")
    return node


def curl_executable() -> str:
    """The ``curl`` program, or a skip."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (.ci/run installs it)")
    return curl


def run_process(argv: list[str], env: Mapping[str, str], cwd: Path | None = None) -> Run:
    """Run a program with ``env`` added to this environment."""
    result = subprocess.run(
        argv,
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr)
