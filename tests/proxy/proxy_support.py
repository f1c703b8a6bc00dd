"""Clients, proxies and emulator look-ups shared by the proxy tests.

A plain module (not conftest.py) so that tests import it by a name no other folder uses.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.proxy import LocalProxy
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent / "node" / "node_modules"
XRFKEY = "0123456789abcdef"


def new_user() -> str:
    """A user id nobody else in the run uses, so session counts belong to one test."""
    return f"p{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def proxied(
    info: EmulatorInfo, user: str | None = None, prefix: str = "hdr", **options: object
) -> Iterator[tuple[QlikClient, LocalProxy]]:
    """A header-auth client on ``prefix`` and a started proxy in front of it."""
    site = emulator_site(info, prefix)
    with (
        QlikClient(site, HeaderAuth(user=user or new_user())) as client,
        LocalProxy(client, **options) as proxy,  # type: ignore[arg-type]
    ):
        yield client, proxy


def user_sessions(info: EmulatorInfo, prefix: str, directory: str, user: str) -> list[object]:
    """The proxy sessions QPS lists for a user on a virtual proxy."""
    answer = requests.get(
        f"{info.qps_url}/qps/{prefix}/user/{quote(directory)}/{quote(user)}?xrfkey={XRFKEY}",
        headers={"X-Qlik-Xrfkey": XRFKEY},
        cert=info.client_cert,
        verify=str(info.root),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    sessions = answer.json()
    assert isinstance(sessions, list)
    return sessions


def end_sessions(info: EmulatorInfo, prefix: str, directory: str, user: str) -> None:
    """End every session of a user through QPS, as an administrator would."""
    answer = requests.delete(
        f"{info.qps_url}/qps/{prefix}/user/{quote(directory)}/{quote(user)}?xrfkey={XRFKEY}",
        headers={"X-Qlik-Xrfkey": XRFKEY},
        cert=info.client_cert,
        verify=str(info.root),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def node_or_skip() -> str:
    """The node executable, with enigma.js installed, or a skip saying what to run."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on PATH: install Node.js (apt-get install nodejs npm)")
    if not (NODE_MODULES / "enigma.js").is_dir() or not (NODE_MODULES / "ws").is_dir():
        pytest.skip("enigma.js is not installed: run npm ci --prefix tests/node")
    return node


def enigma(url: str, app_id: str, expression: str) -> subprocess.CompletedProcess[str]:
    """Run the enigma.js client (its default configuration) against a websocket URL."""
    return subprocess.run(
        [node_or_skip(), str(HERE / "enigma_client.js"), url, app_id, expression],
        capture_output=True,
        text=True,
        timeout=60,
    )


def curl_or_skip() -> str:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("no curl on PATH (apt-get install curl)")
    return curl
