"""A running emulator's info file, read on the client side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qlikauth.errors import ConfigurationError
from qlikauth.testing.emulator_info import emulator_profile_settings


def _info(tmp_path: Path, certs: str, *, http: bool = False) -> dict[str, Any]:
    ports = {"proxy": 1001, "qps": 1002, "qrs": 1003, "engine": 1004, "auth": 1005}
    if http:
        ports.update(proxy_http=1006, auth_http=1007)
    return {
        "host": "localhost",
        "ports": ports,
        "certs_dir": certs,
        "virtual_proxies": [
            {"prefix": "", "cookie_name": "X-Qlik-Session"},
            {"prefix": "hdr", "cookie_name": "X-Qlik-Session-hdr"},
        ],
    }


def test_emulator_profile_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = _info(tmp_path, str(tmp_path / "state" / "certs"), http=True)
    assert emulator_profile_settings(info) == {
        "server": "localhost",
        "proxy_port": 1001,
        "qps_port": 1002,
        "qrs_port": 1003,
        "engine_port": 1004,
        "auth_port": 1005,
        "certs": str(tmp_path / "state" / "certs"),
    }
    hdr = emulator_profile_settings(info, "hdr", http=True)
    assert (hdr["prefix"], hdr["cookie_name"], hdr["scheme"]) == (
        "hdr",
        "X-Qlik-Session-hdr",
        "http",
    )
    assert (hdr["proxy_port"], hdr["auth_port"], hdr["qps_port"]) == (1006, 1007, 1002)
    # A relative certificate folder is the emulator's folder seen from here.
    monkeypatch.chdir(tmp_path)
    relative = emulator_profile_settings(_info(tmp_path, ".qlikauth-emulator/certs"))
    assert relative["certs"] == str(tmp_path / ".qlikauth-emulator" / "certs")
    with pytest.raises(ConfigurationError, match="no virtual proxy with prefix 'jwt'") as error:
        emulator_profile_settings(info, "jwt")
    assert "'hdr'" in (error.value.hint or "")
    with pytest.raises(ConfigurationError, match="serves no plain http") as error:
        emulator_profile_settings(_info(tmp_path, "c"), "hdr", http=True)
    assert "--allow-http" in (error.value.hint or "")
    with pytest.raises(ConfigurationError, match="not an emulator info file"):
        emulator_profile_settings({"host": "localhost"})


@pytest.mark.parametrize(
    "damage",
    [
        lambda i: i["ports"].pop("qps"),
        lambda i: i["virtual_proxies"][0].pop("prefix"),
        lambda i: i.update(virtual_proxies="hdr"),
        lambda i: i.update(ports=[1001, 1002]),
        lambda i: i["ports"].update(proxy="443a"),
    ],
    ids=["no-qps-port", "proxy-without-prefix", "proxies-a-string", "ports-a-list", "bad-port"],
)
def test_a_damaged_emulator_info_file_is_named_not_a_traceback(tmp_path: Path, damage: Any) -> None:
    info = _info(tmp_path, str(tmp_path / "certs"))
    damage(info)
    with pytest.raises(ConfigurationError, match="not an emulator info file"):
        emulator_profile_settings(info, "hdr")
