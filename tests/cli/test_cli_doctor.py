"""``qlikauth doctor`` through ``main(argv)`` against the emulator: each fault it must name."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import qlikauth.cli
import qlikauth.cli.doctor
from qlikauth.cli import main
from qlikauth.pki import make_test_pki
from qlikauth.testing.emulator import EmulatorInfo, running_emulator


def write_profile(
    path: Path,
    info: EmulatorInfo,
    *,
    prefix: str = "hdr",
    cookie_name: str | None = None,
    certs: Path | None = None,
    auth: str = 'authenticator = "header"\n[profiles.d.auth]\nuser = "doc"\n',
) -> Path:
    ports = info["ports"]
    path.write_text(
        f'[profiles.d]\nserver = "localhost"\nprefix = "{prefix}"\n'
        f'cookie_name = "{cookie_name or info.cookie_name("hdr")}"\n'
        f"proxy_port = {ports['proxy']}\nqps_port = {ports['qps']}\n"
        f"qrs_port = {ports['qrs']}\nengine_port = {ports['engine']}\n"
        f'certs = "{certs or info.certs_dir}"\ntimeout = 10\n{auth}',
        encoding="utf-8",
    )
    return path


def doctor(
    capsys: pytest.CaptureFixture[str], config: Path
) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    code = main(["doctor", "--config", str(config), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is (code == 0)
    by_step: dict[str, list[dict[str, Any]]] = {}
    for step in report["steps"]:
        by_step.setdefault(step["step"], []).append(step)
    return code, by_step


def levels(steps: list[dict[str, Any]]) -> set[str]:
    return {s["level"] for s in steps}


def text(steps: list[dict[str, Any]]) -> str:
    return " | ".join(f"{s['message']} {s['hint'] or ''}" for s in steps)


def test_all_good(
    tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, steps = doctor(capsys, write_profile(tmp_path / "c.toml", qlik_emulator))
    assert code == 0, steps
    for name in (
        "configuration",
        "certificates",
        "dns",
        "tcp",
        "tls",
        "qps",
        "virtual proxy",
        "clock",
        "login",
        "session cookie",
        "websocket",
        "engine",
    ):
        assert levels(steps[name]) <= {"ok", "warning"}, (name, steps[name])
        assert "ok" in levels(steps[name]), (name, steps[name])
    assert "QLIKEMU\\doc" in text(steps["login"])
    assert main(["doctor", "--config", str(tmp_path / "c.toml")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("all good")


def test_wrong_prefix(
    tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_profile(tmp_path / "c.toml", qlik_emulator, prefix="hdrx")
    code, steps = doctor(capsys, config)
    assert code != 0
    assert levels(steps["qps"]) == {"error"}
    assert "QPS does not know virtual proxy 'hdrx'" in text(steps["qps"])
    assert levels(steps["virtual proxy"]) == {"error"}
    assert "prefix" in text(steps["virtual proxy"])
    assert levels(steps["login"]) == {"error"}


def test_a_closed_engine_port_does_not_hide_a_working_qps(
    tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config = write_profile(tmp_path / "c.toml", qlik_emulator)
    config.write_text(
        re.sub(r"engine_port = \d+", f"engine_port = {closed}", config.read_text()),
        encoding="utf-8",
    )
    code, steps = doctor(capsys, config)
    assert code != 0
    assert "cannot connect to engine" in text(steps["tcp"])
    assert levels(steps["qps"]) == {"ok"}


def test_wrong_cookie_name(
    tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_profile(tmp_path / "c.toml", qlik_emulator, cookie_name="X-Qlik-Session")
    code, steps = doctor(capsys, config)
    assert code == 4
    assert levels(steps["session cookie"]) == {"error"}
    message = text(steps["session cookie"])
    assert "X-Qlik-Session-hdr" in message  # the name the proxy really set
    assert "Session cookie header name" in message
    assert levels(steps["virtual proxy"]) == {"ok"}


def test_key_certificate_mismatch(
    tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    certs = tmp_path / "certs"
    shutil.copytree(qlik_emulator.certs_dir, certs)
    other = make_test_pki(tmp_path / "other", ["localhost"], pfx_password="x")
    shutil.copy(other.client_key, certs / "client_key.pem")
    code, steps = doctor(capsys, write_profile(tmp_path / "c.toml", qlik_emulator, certs=certs))
    assert code == 4
    assert "does not belong to the client certificate" in text(steps["certificates"])
    assert levels(steps["qps"]) == {"skipped"}


def test_missing_certificates(
    tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_profile(tmp_path / "c.toml", qlik_emulator, certs=tmp_path / "nowhere")
    code, steps = doctor(capsys, config)
    assert code == 4
    assert list(steps) == ["configuration"]
    assert "key 'certs'" in text(steps["configuration"])


def test_clock_skew_breaks_jwt(
    tmp_path: Path,
    qlik_emulator: EmulatorInfo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = qlik_emulator.virtual_proxy("jwt")["jwt_private_key"]
    jwt_auth = (
        'authenticator = "jwt"\n[profiles.d.auth]\n'
        f'key = "{key}"\nuser = "doc"\ndirectory = "QLIKEMU"\n'
    )
    config = write_profile(
        tmp_path / "c.toml",
        qlik_emulator,
        prefix="jwt",
        cookie_name="X-Qlik-Session-jwt",
        auth=jwt_auth,
    )
    code, steps = doctor(capsys, config)
    assert code == 0, steps
    assert levels(steps["clock"]) == {"ok"}

    monkeypatch.setattr(qlikauth.cli.doctor, "_clock", lambda: time.time() + 600)
    code, steps = doctor(capsys, config)
    assert code != 0
    assert levels(steps["clock"]) == {"error"}
    found = re.search(r"(\d+) s ahead", text(steps["clock"]))
    assert found is not None
    assert 598 <= int(found.group(1)) <= 602  # the Date header has whole seconds
    assert "NTP" in text(steps["clock"])


@pytest.fixture
def misnamed_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorInfo]:
    """An emulator whose server certificate names only qlik.example.test, not localhost."""
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    state = tmp_path_factory.mktemp("emu-misnamed")
    with running_emulator(state, certificate_names=("qlik.example.test",)) as info:
        yield info


def test_hostname_not_in_certificate(
    tmp_path: Path, misnamed_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, steps = doctor(capsys, write_profile(tmp_path / "c.toml", misnamed_emulator))
    assert code == 4
    assert levels(steps["tls"]) >= {"error"}
    message = text(steps["tls"])
    assert "does not name 'localhost'" in message
    assert "qlik.example.test" in message
    assert "login" not in steps  # nothing is sent to a server that is not verified


def test_plain_http_profile_is_a_warning_and_every_step_is_checked(
    tmp_path: Path, qlik_emulator_http: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = qlik_emulator_http["ports"]
    config = write_profile(tmp_path / "c.toml", qlik_emulator_http)
    config.write_text(
        re.sub(
            r"proxy_port = \d+", f"proxy_port = {ports['proxy_http']}", config.read_text()
        ).replace(
            "timeout = 10\n", f'timeout = 10\nscheme = "http"\nauth_port = {ports["auth_http"]}\n'
        ),
        encoding="utf-8",
    )
    code, steps = doctor(capsys, config)
    assert code == 0, steps
    proxy_tls = [s for s in steps["tls"] if s["message"].startswith("proxy:")]
    assert [s["level"] for s in proxy_tls] == ["warning"]
    assert "plain http" in text(proxy_tls)
    assert "in clear" in text(proxy_tls)
    assert "WRONG_VERSION_NUMBER" not in text(steps["tls"])
    # QPS stays on TLS with the client certificate; the rest goes on over http.
    assert any(s["level"] == "ok" and s["message"].startswith("QPS:") for s in steps["tls"])
    for name in ("qps", "virtual proxy", "login", "session cookie", "websocket", "engine"):
        assert levels(steps[name]) == {"ok"}, (name, steps.get(name))


def test_session_limit_hint_names_the_session_commands(
    tmp_path: Path,
    qlik_emulator_factory: Callable[..., EmulatorInfo],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The emulator's "login" limit (its default refuses the websocket, not the login).
    qlik_emulator = qlik_emulator_factory(session_limit="login")
    auth = 'authenticator = "header"\n[profiles.d.auth]\nuser = "doclimit"\n'
    config = write_profile(tmp_path / "c.toml", qlik_emulator, auth=auth)
    user = ["--config", str(config), "--user", "QLIKEMU\\doclimit"]
    try:
        for _ in range(5):
            assert main(["session", "create", *user]) == 0
        capsys.readouterr()
        code, steps = doctor(capsys, config)
        assert code == 3
        assert levels(steps["login"]) == {"error"}
        hint = text(steps["login"])
        assert f"qlikauth session delete --config {config} --user 'QLIKEMU\\doclimit'" in hint
    finally:
        assert main(["session", "delete", *user]) == 0
