"""``qlikauth ticket`` and ``qlikauth session`` through ``main(argv)`` against the emulator."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cli_support import run_json

from qlikauth.cli import main
from qlikauth.testing.emulator import EmulatorInfo


def write_profile(
    path: Path, info: EmulatorInfo, prefix: str, *, certs: Path | None = None, name: str = "emu"
) -> Path:
    """A configuration file whose profile ``name`` points at the emulator."""
    ports = info["ports"]
    path.write_text(
        f'default_profile = "{name}"\n[profiles.{name}]\nserver = "localhost"\n'
        f'prefix = "{prefix}"\ncookie_name = "{info.cookie_name(prefix)}"\n'
        f"proxy_port = {ports['proxy']}\nqps_port = {ports['qps']}\n"
        f"qrs_port = {ports['qrs']}\nengine_port = {ports['engine']}\n"
        f'auth_port = {ports["auth"]}\ncerts = "{certs or info.certs_dir}"\ntimeout = 10\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qlik_emulator: EmulatorInfo) -> Path:
    path = write_profile(tmp_path / "config.toml", qlik_emulator, "ticket")
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    return path


def redeem(info: EmulatorInfo, url: str, cookie_name: str) -> requests.Response:
    """Send the browser to a ticket redirect URL, as a browser would (no cookies yet)."""
    response = requests.get(url, verify=str(info.root), allow_redirects=False, timeout=10)
    assert response.cookies.get(cookie_name), (response.status_code, response.headers)
    return response


def test_ticket_json_and_redirect(
    cfg: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(
        capsys,
        "ticket",
        "--user",
        "cli-alice",
        "--directory",
        "QLIKEMU",
        "--attr",
        "Group=Sales",
        "--attr",
        "Group=EU",
    )
    assert code == 0
    assert data["user"] == "QLIKEMU\\cli-alice"
    assert data["prefix"] == "ticket"
    assert isinstance(data["ticket"], str)
    assert len(data["ticket"]) >= 16
    assert data["attributes"] == [{"Group": "Sales"}, {"Group": "EU"}]
    redirect = str(data["redirect_url"])
    assert parse_qs(urlsplit(redirect).query)["qlikTicket"] == [data["ticket"]]
    assert urlsplit(redirect).path.startswith("/ticket/")
    redeem(qlik_emulator, redirect, qlik_emulator.cookie_name("ticket"))

    assert main(["ticket", "--user", "QLIKEMU\\cli-bob", "--redirect"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith(f"{qlik_emulator.proxy_url}/ticket/")
    redeem(qlik_emulator, url, qlik_emulator.cookie_name("ticket"))

    assert main(["ticket", "--user", "QLIKEMU\\cli-carol"]) == 0
    plain = capsys.readouterr().out.strip()
    assert plain
    assert "\n" not in plain


def test_ticket_for_another_prefix_and_unknown_prefix(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(capsys, "ticket", "--user", "QLIKEMU\\cli-alice", "--prefix", "hdr")
    assert code == 0
    assert data["prefix"] == "hdr"
    code, error = run_json(capsys, "ticket", "--user", "QLIKEMU\\cli-alice", "--prefix", "nosuch")
    assert code == 3
    assert error["error"] == "TicketError"
    assert "prefix" in str(error["hint"])


def test_ticket_needs_a_directory(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ticket", "--user", "cli-alice"]) == 4
    assert "--directory" in capsys.readouterr().err
    assert main(["ticket"]) == 2  # argparse: --user is required


def test_missing_certificates(
    cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ticket", "--user", "QLIKEMU\\a", "--certs", str(tmp_path / "none")]) == 4
    err = capsys.readouterr().err
    assert "option --certs" in err
    assert "does not exist" in err


def test_certificates_without_the_key(
    cfg: Path, tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("client.pem", "root.pem"):
        shutil.copy(qlik_emulator.certs_dir / name, partial / name)
    code, error = run_json(capsys, "ticket", "--user", "QLIKEMU\\a", "--certs", str(partial))
    assert code == 4
    assert error["error"] == "CertificateFileError"
    assert "client_key.pem" in str(error["message"])


def test_no_server_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(tmp_path / "none.toml"))
    assert main(["ticket", "--user", "QLIKEMU\\a"]) == 4


def test_insecure_is_loud(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ticket", "--user", "QLIKEMU\\cli-alice", "--insecure"]) == 0
    captured = capsys.readouterr()
    assert "NOT verified" in captured.err
    assert captured.out.strip()


def test_session_create_list_delete(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qlik_emulator_fresh: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    info = qlik_emulator_fresh
    path = write_profile(tmp_path / "config.toml", info, "hdr")
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))

    ids = []
    for _ in range(2):
        code, data = run_json(capsys, "session", "create", "--user", "QLIKEMU\\dave")
        assert code == 0
        assert data["cookie_name"] == "X-Qlik-Session-hdr"
        ids.append(str(data["session_id"]))
    # The injected session works on the proxy: the personal API names the user.
    me = requests.get(
        f"{info.proxy_url}/hdr/qps/user",
        cookies={"X-Qlik-Session-hdr": ids[0]},
        verify=str(info.root),
        timeout=10,
    ).json()
    assert (me["userDirectory"], me["userId"]) == ("QLIKEMU", "dave")

    code, listing = run_json(capsys, "session", "list", "--user", "QLIKEMU\\dave")
    assert code == 0
    assert listing["count"] == 2
    sessions = listing["sessions"]
    assert isinstance(sessions, list)
    assert {s["session_id"] for s in sessions} == {"[secure]"}
    assert ids[0] not in json.dumps(listing)

    assert main(["session", "list", "--user", "QLIKEMU\\dave", "--show-ids"]) == 0
    shown = capsys.readouterr().out.split()
    assert sorted(shown) == sorted(ids)

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ids[0]}\n\nno-such-session-id-000\n"))
    code, deleted = run_json(capsys, "session", "delete", "--stdin")
    assert code == 0
    assert (deleted["deleted"], deleted["already_gone"]) == (1, 1)

    code, deleted = run_json(capsys, "session", "delete", "--user", "QLIKEMU\\dave")
    assert code == 0
    assert deleted["deleted"] == 1
    code, listing = run_json(capsys, "session", "list", "--user", "QLIKEMU\\dave")
    assert listing["count"] == 0

    assert main(["session", "delete"]) == 2  # a usage error
    assert "--stdin" in capsys.readouterr().err


def test_encrypted_pfx_without_its_password_names_a_way_the_cli_has(
    cfg: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    pfx = str(qlik_emulator.client_pfx)
    code = main(["ticket", "--user", "QLIKEMU\\a", "--certs", pfx])
    assert code == 4
    err = capsys.readouterr().err
    assert "needs its password" in err
    assert "--pfx-password-env" not in err  # an option of `certs check` only
    assert "QLIKAUTH_CERTS_PASSWORD" in err
    assert 'certs_password = "env:VAR"' in err


def test_session_limit_hint_names_the_session_commands(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qlik_emulator_factory: Callable[..., EmulatorInfo],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The emulator's "login" limit (its default refuses the websocket, not the login).
    qlik_emulator = qlik_emulator_factory(session_limit="login")
    path = write_profile(tmp_path / "config.toml", qlik_emulator, "hdr", name="lim")
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    user = ["--user", "ulimitqps", "--directory", "QLIKEMU"]
    try:
        for _ in range(5):
            assert main(["session", "create", *user]) == 0
        capsys.readouterr()
        code, error = run_json(capsys, "session", "create", "--profile", "lim", *user)
        assert code == 3
        hint = str(error["hint"])
        assert "QpsClient" not in hint
        assert "delete_session(id)" not in hint
        assert "qlikauth session list --profile lim --user 'QLIKEMU\\ulimitqps'" in hint
        assert "qlikauth session delete --profile lim --user 'QLIKEMU\\ulimitqps'" in hint
        assert "--stdin" in hint
    finally:
        assert main(["session", "delete", *user]) == 0
