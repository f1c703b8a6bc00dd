"""Helpers shared by the command-line tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlikauth.cli import main
from qlikauth.qps import QpsClient
from qlikauth.site import Site, VirtualProxy
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.tls import CertificateBundle, TlsConfig


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    """Run ``qlikauth ARGV --json``; its exit code and the one JSON object it printed."""
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def write_profile(path: Path, info: EmulatorInfo, user: str, **extra: str) -> Path:
    ports = info["ports"]
    settings = {
        "server": "localhost",
        "prefix": "hdr",
        "cookie_name": info.cookie_name("hdr"),
        "certs": str(info.certs_dir),
        "authenticator": "header",
        **extra,
    }
    body = "".join(f'{k} = "{v}"\n' for k, v in settings.items())
    path.write_text(
        f'default_profile = "emu"\n[profiles.emu]\n{body}'
        f"proxy_port = {ports['proxy']}\nqps_port = {ports['qps']}\ntimeout = 10\n"
        f'[profiles.emu.auth]\nuser = "{user}"\nheader_name = "header_user"\n',
        encoding="utf-8",
    )
    return path


def user_of(profile: Path) -> str:
    for line in profile.read_text().splitlines():
        if line.startswith("user = "):
            return "QLIKEMU\\" + line.split('"')[1]
    raise AssertionError("no user")


def hdr_site(info: EmulatorInfo) -> Site:
    """The emulator's 'hdr' virtual proxy with the client certificate (QPS works)."""
    ports = info["ports"]
    return Site(
        "localhost",
        VirtualProxy("hdr", info.cookie_name("hdr")),
        proxy_port=ports["proxy"],
        qps_port=ports["qps"],
        tls=TlsConfig(bundle=CertificateBundle.from_folder(info.certs_dir)),
    )


def qps_sessions(info: EmulatorInfo, user: str) -> int:
    """How many proxy sessions the user holds on 'hdr', asked through the QPS user API."""
    with QpsClient(hdr_site(info)) as qps:
        return len(qps.user_sessions(user))
