"""``qlikauth emulator`` as a process, the TOML configuration, and the in-process API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from qlikauth.emulator.configfile import load_config
from qlikauth.errors import ConfigurationError

REQUIRED_KEYS = {
    "host",
    "proxy_url",
    "qps_url",
    "qrs_url",
    "engine_url",
    "auth_url",
    "certs_dir",
    "pfx_password",
    "virtual_proxies",
    "users",
    "windows",
    "apps",
}


def _wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return dict(json.loads(path.read_text()))
        if proc.poll() is not None:
            raise AssertionError(f"the emulator exited early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no info file")


@pytest.mark.parametrize(
    ("sig", "release_flags"),
    [(signal.SIGTERM, ["--release", "2024-05"]), (signal.SIGINT, ["--legacy-websocket"])],
    ids=["SIGTERM-release", "SIGINT-deprecated-flag"],
)
def test_cli_writes_info_serves_and_stops_on_signal(
    tmp_path: Path, sig: int, release_flags: list[str]
) -> None:
    info_file = tmp_path / "info.json"
    config = tmp_path / "emu.toml"
    config.write_text('ticket_ttl = 30\n[windows]\ndomain = "ACME"\n')
    env = {k: v for k, v in os.environ.items() if k != "NTLM_USER_FILE"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qlikauth",
            "emulator",
            "--state-dir",
            str(tmp_path / "state"),
            "--info-file",
            str(info_file),
            "--config",
            str(config),
            *release_flags,
            "--allow-http",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        info = _wait_for(info_file, proc)
        assert set(info) >= REQUIRED_KEYS
        assert info["release"] == "2024-05"
        assert info["session_limit"] == "websocket"
        assert info["ticket_ttl"] == 30.0
        assert info["windows"]["domain"] == "ACME"  # type: ignore[index]
        for vp in info["virtual_proxies"]:  # type: ignore[attr-defined]
            assert {"prefix", "method", "cookie_name"} <= set(vp)
        jwt_vp = next(v for v in info["virtual_proxies"] if v["method"] == "jwt")  # type: ignore[attr-defined]
        assert Path(jwt_vp["jwt_private_key"]).is_file()
        assert jwt_vp["jwt_claims"] == {"user": "userId", "directory": "userDirectory"}
        assert jwt_vp["jwt_attribute_mapping"] == [
            {"claim": "groups", "attribute": "Group", "mandatory": False}
        ]
        root = Path(str(info["certs_dir"])) / "root.pem"
        hub = requests.get(
            f"{info['proxy_url']}/hdr/hub/",
            headers={"header_user": "alice"},
            verify=str(root),
            timeout=10,
        )
        assert hub.status_code == 200
        plain = requests.get(
            f"{info['proxy_http_url']}/hdr/hub/", headers={"header_user": "alice"}, timeout=10
        )
        assert plain.status_code == 200
        assert plain.cookies.get("X-Qlik-Session-hdr-HTTP")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "ready" in out
    assert f"plain http: proxy {info['proxy_http_url']}" in out
    assert not info_file.exists()
    assert "Traceback" not in err
    assert str(info["pfx_password"]) not in out + err
    deprecated = "--legacy-websocket is deprecated and will be removed" in err
    assert deprecated == ("--legacy-websocket" in release_flags), err


def test_cli_restart_reuses_the_pki(tmp_path: Path) -> None:
    from qlikauth.emulator import Emulator

    state = tmp_path / "state"
    with Emulator(None, state) as first:
        root = (Path(first.info["certs_dir"]) / "root.pem").read_bytes()
        password = first.info["pfx_password"]
    with Emulator(None, state) as second:
        assert (Path(second.info["certs_dir"]) / "root.pem").read_bytes() == root
        assert second.info["pfx_password"] == password


def test_config_overrides_and_merges_virtual_proxies(tmp_path: Path) -> None:
    path = tmp_path / "emu.toml"
    path.write_text(
        "session_timeout = 5\n"
        "allow_http = true\n"
        "max_parallel_sessions = 2\n"
        'certificate_names = ["qlik.corp.example"]\n'
        "[apps]\nlarge_app_rows = 1000\ncsv_cell_limit = 0\n"
        "[ports]\nauth_http = 18248\n"
        '[[virtual_proxies]]\nprefix = "hdr"\nheader_name = "hdr-usr"\n'
        '[[virtual_proxies]]\nprefix = "sso"\nmethod = "ticket"\n'
        'auth_module_uri = "https://localhost:9999/login"\n'
        '[[windows.users]]\nname = "erin"\npassword = "Erin-1"\n'
    )
    config = load_config(path)
    prefixes = [vp.prefix for vp in config.virtual_proxies]
    assert prefixes == ["", "hdr", "hdrdyn", "jwt", "ticket", "sso"]
    hdr = config.virtual_proxy("hdr")
    sso = config.virtual_proxy("sso")
    assert hdr is not None and hdr.header_name == "hdr-usr" and hdr.user_directory == "QLIKEMU"
    assert sso is not None and sso.cookie_name == "X-Qlik-Session-sso"
    assert all(vp.session_timeout == 5 for vp in config.virtual_proxies)
    assert config.max_parallel_sessions == 2
    assert config.allow_http and config.auth_http_port == 18248 and config.proxy_http_port == 0
    assert load_config(None).allow_http is False
    assert config.large_app_rows == 1000
    assert config.csv_cell_limit is None
    assert config.server_certificate_names() == ("qlik.corp.example",)
    assert load_config(None).server_certificate_names() == ("localhost", "127.0.0.1")
    assert load_config(None).csv_cell_limit == 5_000_000
    assert [u.name for u in config.windows.users] == ["erin"]


@pytest.mark.parametrize(
    "text",
    [
        "nonsense = 1\n",
        "[apps]\ncsv_cell_limit = -1\n",
        "certificate_names = []\n",
        "[apps]\nrows = 5\n",
        'ticket_ttl = "long"\n',
        'allow_http = "yes"\n',
        '[[virtual_proxies]]\nprefix = "hdr"\nsame_site_http = "Sometimes"\n',
        "[ports]\nplain = 80\n",
        '[[virtual_proxies]]\nprefix = "Bad/"\nmethod = "header"\n',
        '[[virtual_proxies]]\nprefix = "hdr"\nheader_name = "X-Qlik-User-Name"\n',
        '[[virtual_proxies]]\nprefix = "new"\n',
        '[[virtual_proxies]]\nprefix = "x"\nmethod = "saml"\n',
        '[[virtual_proxies]]\nprefix = "x"\nmethod = "jwt"\ncookie_name = "X-Qlik-Session"\n',
        "not toml at all [",
        'release = "2023-11"\n',
        'session_limit = "never"\n',
        'legacy_websocket = true\nrelease = "2024-11"\n',
        '[[virtual_proxies]]\nprefix = "hdrdyn"\nheader_pattern = "$ud\\\\$id"\n',
        "[[virtual_proxies]]\nprefix = \"hdrdyn\"\nheader_pattern = '$ud@$ud'\n",
        "[[virtual_proxies]]\nprefix = \"hdrdyn\"\nheader_pattern = '$ud$id'\n",
        '[[virtual_proxies]]\nprefix = "hdr"\nallow_list = ["https://mashup.example"]\n',
        '[[virtual_proxies]]\nprefix = "hdr"\nallow_list = ["10.0.0.5"]\n',
        '[[virtual_proxies]]\nprefix = "hdr"\nallow_list = ["host:8443"]\n',
        '[[virtual_proxies]]\nprefix = "jwt"\njwt_claims = { groups = "roles" }\n',
        '[[virtual_proxies]]\nprefix = "jwt"\njwt_attribute_mapping = [{ claim = "g" }]\n',
        '[[virtual_proxies]]\nprefix = "jwt"\njwt_attribute_mapping = [{ c = "g", a = "G" }]\n',
    ],
)
def test_bad_configuration_is_a_configuration_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "emu.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError):
        load_config(path)


def test_release_limit_mapping_and_allow_list_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "emu.toml"
    path.write_text(
        'release = "2024-05"\nsession_limit = "login"\nhost = "qlik.corp.example"\n'
        "[[virtual_proxies]]\nprefix = \"hdrdyn\"\nheader_pattern = '$id@$ud'\n"
        '[[virtual_proxies]]\nprefix = "hdr"\nallow_list = []\n'
        '[[virtual_proxies]]\nprefix = "jwt"\njwt_attribute_mapping = ['
        '{ claim = "email", attribute = "Email", mandatory = true }]\n'
    )
    config = load_config(path)
    assert (config.release, config.session_limit) == ("2024-05", "login")
    hdrdyn, hdr, jwt_vp, default = (config.virtual_proxy(p) for p in ("hdrdyn", "hdr", "jwt", ""))
    assert hdrdyn is not None and hdrdyn.header_pattern == "$id@$ud"
    assert hdr is not None and config.allow_list(hdr) == ()
    assert default is not None and config.allow_list(default) == ("qlik.corp.example",)
    assert jwt_vp is not None
    assert [(r.claim, r.attribute, r.mandatory) for r in jwt_vp.jwt_attribute_mapping] == [
        ("email", "Email", True)
    ]
    defaults = load_config(None)
    assert (defaults.release, defaults.session_limit) == ("2024-11", "websocket")


def test_deprecated_legacy_websocket_key_means_2024_05(tmp_path: Path) -> None:
    path = tmp_path / "emu.toml"
    path.write_text("legacy_websocket = true\n")
    with pytest.warns(FutureWarning, match="legacy_websocket is deprecated.*2024-05"):
        assert load_config(path).release == "2024-05"


def test_cli_bad_configuration_exits_with_the_config_code(tmp_path: Path) -> None:
    from qlikauth.cli import main

    path = tmp_path / "emu.toml"
    path.write_text("nonsense = 1\n")
    assert main(["emulator", "--config", str(path), "--state-dir", str(tmp_path / "s")]) == 4


def test_large_app_is_listed(fresh_wire: object) -> None:
    wire = fresh_wire(large_app_rows=2000)  # type: ignore[operator]
    names = {a["name"] for a in wire.info.apps}
    assert {"Sales", "Large"} <= names
