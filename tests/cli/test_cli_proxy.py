"""``qlikauth proxy``: the command serves the profile's session until it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from qlikauth.cli import main
from qlikauth.testing.emulator import EmulatorInfo


def write_profile(path: Path, info: EmulatorInfo, user: str) -> Path:
    ports = info["ports"]
    path.write_text(
        f'default_profile = "emu"\n[profiles.emu]\nserver = "localhost"\nprefix = "hdr"\n'
        f'cookie_name = "{info.cookie_name("hdr")}"\ncerts = "{info.certs_dir}"\n'
        f"proxy_port = {ports['proxy']}\nqps_port = {ports['qps']}\n"
        f'authenticator = "header"\n[profiles.emu.auth]\nuser = "{user}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def environment(tmp_path: Path, qlik_emulator: EmulatorInfo) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLIKAUTH_")}
    config = write_profile(tmp_path / "config.toml", qlik_emulator, "cliproxy")
    return {**env, "HOME": str(tmp_path), "QLIKAUTH_CONFIG": str(config),
            "QLIKAUTH_SESSION_STORE": "file"}  # fmt: skip


@contextmanager
def running(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``qlikauth proxy ARGS`` in a child process, and the first line it printed."""
    with subprocess.Popen(
        [sys.executable, "-m", "qlikauth", "proxy", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            yield child, child.stdout.readline()
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def test_the_proxy_command_prints_json_serves_and_stops_on_sigterm(
    environment: dict[str, str], tmp_path: Path
) -> None:
    token_file = tmp_path / "token-header"
    with running(environment, "--json", "--token-file", str(token_file)) as (child, first):
        info = json.loads(first)
        assert info["token_file"] == str(token_file)
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert token_file.read_text() == f"{info['token_header']}: {info['token']}\n"
        assert info["url"].startswith("http://127.0.0.1:")
        assert info["user"] == "QLIKEMU\\cliproxy"
        assert info["websocket_url"] == "ws" + info["url"].removeprefix("http") + "app/"
        headers = {info["token_header"]: info["token"]}
        answer = requests.get(info["url"] + "qps/user", headers=headers, timeout=10)
        refused = requests.get(info["url"] + "qps/user", timeout=10)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
        assert child.stderr is not None
        log = child.stderr.read()
    assert not token_file.exists()  # the token ends with the proxy
    assert answer.json()["userId"] == "cliproxy"
    assert refused.status_code == 401
    assert "GET /qps/user 200 " in log
    assert "GET /qps/user 401 " in log
    assert info["token"] not in log


def test_the_proxy_command_on_a_unix_socket_without_a_token(
    environment: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "proxy.sock"
    with running(environment, "--unix-socket", str(path), "--no-token") as (child, first):
        assert first.startswith("qlikauth proxy: https://localhost:")
        assert f"Unix socket {path}" in first
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    assert not path.exists()


def test_no_token_warns_on_stderr(environment: dict[str, str]) -> None:
    with running(environment, "--no-token") as (child, first):
        assert first.startswith("qlikauth proxy: ")
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
        assert child.stderr is not None
        assert "no access token: every local user and process" in child.stderr.read()


def test_a_remote_address_without_allow_remote_is_refused(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main(["proxy", "--address", "0.0.0.0"]) == 4  # noqa: S104
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err
    assert "--allow-remote" in err


def test_without_the_server_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "class NoAiohttp:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'aiohttp':\n"
        "            raise ImportError(name='aiohttp')\n"
        "sys.meta_path.insert(0, NoAiohttp())\n"
        "from qlikauth.cli import main\n"
        "sys.exit(main(['proxy', '--server', 'qlik.example.com']))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert ran.returncode == 4
    assert "needs the 'server' extra (aiohttp is missing)" in ran.stderr
    assert "pip install 'qlikauth[server]'" in ran.stderr
