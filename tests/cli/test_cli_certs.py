"""``qlikauth certs make-test`` and ``qlikauth certs check``, through ``main(argv)``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from qlikauth.cli import main
from qlikauth.pki import TestPki, make_test_pki

ENV = "QLIKAUTH_PFX_PASSWORD"
SECRET = "env-supplied-pfx-password"


@pytest.fixture
def no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(tmp_path_factory.mktemp("site"), ["localhost"], pfx_password=SECRET)


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(tmp_path_factory.mktemp("other"), ["localhost"], pfx_password=SECRET)


def opens_with(pfx: Path, password: str) -> bool:
    try:
        pkcs12.load_key_and_certificates(pfx.read_bytes(), password.encode())
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- make-test


def test_make_test_takes_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    target = tmp_path / "site"

    code = main(["certs", "make-test", str(target), "--server", "localhost", "--server", "qlik"])

    out = capsys.readouterr().out
    assert code == 0
    for name in ("root.pem", "server.pem", "client.pem", "client_key.pem", "client.pfx"):
        assert (target / name).is_file()
        assert name in out
    assert not (target / "client.pfx.password").exists()
    assert opens_with(target / "client.pfx", SECRET)
    assert SECRET not in out
    assert "QLIKAUTH_PFX_PASSWORD" in out


@pytest.mark.usefixtures("no_env_password")
def test_make_test_generates_a_password_into_a_private_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "site"

    assert main(["certs", "make-test", str(target), "--server", "localhost"]) == 0

    out = capsys.readouterr().out
    password_file = target / "client.pfx.password"
    password = password_file.read_text().strip()
    assert len(password) >= 16
    assert opens_with(target / "client.pfx", password)
    assert password not in out
    assert "client.pfx.password" in out
    if os.name == "posix":
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(target.stat().st_mode) == 0o700


@pytest.mark.usefixtures("no_env_password")
def test_make_test_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "site"
    assert main(["certs", "make-test", str(target), "--server", "127.0.0.1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["hosts"] == ["127.0.0.1"]
    assert data["pfx_password_source"] == "file"
    assert Path(data["files"]["client.pfx"]) == target / "client.pfx"
    assert Path(data["files"]["client.pfx.password"]).is_file()


@pytest.mark.usefixtures("no_env_password")
def test_make_test_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "site"
    assert main(["certs", "make-test", str(target), "--server", "localhost"]) == 0
    root_before = (target / "root.pem").read_bytes()
    capsys.readouterr()

    assert main(["certs", "make-test", str(target), "--server", "localhost"]) == 4
    err = capsys.readouterr().err
    assert "already holds" in err
    assert "--force" in err
    assert (target / "root.pem").read_bytes() == root_before

    assert main(["certs", "make-test", str(target), "--server", "localhost", "--force"]) == 0
    assert (target / "root.pem").read_bytes() != root_before


@pytest.mark.parametrize("host", ["https://qlik.example.com", "qlik:4243", "qlik/hdr", ""])
def test_make_test_rejects_what_is_not_a_host(
    tmp_path: Path, host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "make-test", str(tmp_path / "site"), "--server", host]) == 4
    assert "not a host name" in capsys.readouterr().err
    assert not (tmp_path / "site" / "root.pem").exists()


def test_make_test_needs_a_host_and_takes_no_password_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "make-test", str(tmp_path / "a")]) == 2
    args = ["certs", "make-test", str(tmp_path / "b"), "--server", "x", "--password", SECRET]
    assert main(args) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_certs_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs"]) == 2
    err = capsys.readouterr().err
    assert "make-test" in err
    assert "check" in err


# --------------------------------------------------------------------------- check


def test_check_a_good_folder(site: TestPki, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "check", str(site.directory)]) == 0
    out = capsys.readouterr().out
    assert "ok: client certificate client.pem (QlikClient)" in out
    assert "0 error(s)" in out


def test_check_json_is_a_list_of_findings(
    site: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "check", str(site.directory), "--json"]) == 0
    findings = json.loads(capsys.readouterr().out)
    assert isinstance(findings, list)
    assert findings
    assert {f["level"] for f in findings} == {"ok"}
    assert all(set(f) == {"level", "message", "hint"} for f in findings)


def test_check_mixed_up_files_exits_4(
    site: TestPki, other: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(site.directory, folder)
    shutil.copy(other.client_key, folder / "client_key.pem")
    shutil.copy(other.root, folder / "root.pem")

    assert main(["certs", "check", str(folder), "--json"]) == 4

    findings = json.loads(capsys.readouterr().out)
    messages = [f["message"] for f in findings if f["level"] == "error"]
    assert any("does not belong" in m for m in messages)
    assert any("does not sign" in m for m in messages)


def test_check_a_missing_folder_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "check", str(tmp_path / "nowhere")]) == 4
    assert "does not exist" in capsys.readouterr().out


def test_check_pfx_with_password_from_the_environment(
    site: TestPki, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITE_PFX", SECRET)
    args = ["certs", "check", str(site.client_pfx), "--pfx-password-env", "SITE_PFX"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "client.pfx (QlikClient)" in out
    assert SECRET not in out

    monkeypatch.setenv("SITE_PFX", "not the password")
    assert main(args) == 4
    assert "wrong password" in capsys.readouterr().out


def test_check_pfx_password_variable_not_set(
    site: TestPki, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    args = ["certs", "check", str(site.client_pfx), "--pfx-password-env", "NOT_SET_ANYWHERE"]
    assert main(args) == 4
    assert "NOT_SET_ANYWHERE is not set" in capsys.readouterr().err


@pytest.mark.usefixtures("no_env_password")
def test_check_reads_the_generated_password_of_a_test_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "site"
    assert main(["certs", "make-test", str(target), "--server", "localhost"]) == 0
    (target / "client.pem").unlink()
    (target / "client_key.pem").unlink()  # leaves a Windows-style set: client.pfx + root.pem
    capsys.readouterr()
    assert main(["certs", "check", str(target)]) == 0
    assert "client.pfx (QlikClient)" in capsys.readouterr().out


def test_check_host_against_the_server_certificate(
    site: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "check", str(site.directory), "--server", "localhost"]) == 0
    assert "names 'localhost'" in capsys.readouterr().out

    assert main(["certs", "check", str(site.directory), "--server", "127.0.0.1"]) == 0
    out = capsys.readouterr().out
    assert "does not name '127.0.0.1'" in out
    assert "1 warning(s)" in out
    assert "IP address" in out


# --------------------------------------------------------------------------- check --connect


class _MutualTlsServer:
    """A loopback server that requires a client certificate signed by the site's root."""

    def __init__(self, pki: TestPki) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.server, pki.server_key)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(pki.root)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello")
            except OSError:
                pass  # refused handshakes are what some tests are about
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def qps(site: TestPki) -> Iterator[_MutualTlsServer]:
    server = _MutualTlsServer(site)
    yield server
    server.close()


def test_check_connect_succeeds_with_the_site_certificates(
    site: TestPki, qps: _MutualTlsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["certs", "check", str(site.directory), "--server", "localhost"]
    assert main([*args, "--connect", str(qps.port)]) == 0
    assert "succeeded with the client certificate" in capsys.readouterr().out


def test_check_connect_by_ip_lists_the_certificate_names(
    site: TestPki, qps: _MutualTlsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["certs", "check", str(site.directory), "--server", "127.0.0.1"]
    assert main([*args, "--connect", str(qps.port), "--json"]) == 4
    findings = json.loads(capsys.readouterr().out)
    [error] = [f for f in findings if f["level"] == "error"]
    assert "does not name '127.0.0.1'; it holds: localhost" in error["message"]


def test_check_connect_with_another_sites_certificates(
    other: TestPki, qps: _MutualTlsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["certs", "check", str(other.directory), "--server", "localhost"]
    assert main([*args, "--connect", str(qps.port)]) == 4
    out = capsys.readouterr().out
    assert "root.pem" in out


def test_check_connect_needs_a_host(site: TestPki, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "check", str(site.directory), "--connect", "4243"]) == 2
    assert "--connect needs --server" in capsys.readouterr().err


@pytest.mark.usefixtures("no_env_password")
def test_make_test_takes_server_and_still_host_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "make-test", str(tmp_path / "a"), "--server", "qlik", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["hosts"] == ["qlik"]
    assert "deprecated" not in captured.err
    old = ["certs", "make-test", str(tmp_path / "b"), "--host", "old", "--server", "new"]
    assert main([*old, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["hosts"] == ["old", "new"]
    assert "--host is deprecated" in captured.err
    assert "say --server" in captured.err
    before = ["--server", "first", "certs", "make-test", str(tmp_path / "c"), "--server", "2nd"]
    assert main([*before, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hosts"] == ["first", "2nd"]


def test_check_takes_server_and_still_host_with_a_warning(
    site: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["certs", "check", str(site.directory), "--server", "elsewhere"])
    new = capsys.readouterr()
    assert "elsewhere" in new.out
    assert "deprecated" not in new.err
    assert main(["certs", "check", str(site.directory), "--host", "elsewhere"]) == code
    old = capsys.readouterr()
    assert old.out == new.out
    assert "--host is deprecated" in old.err


@pytest.mark.parametrize("command", [["certs", "make-test", "DIR"], ["certs", "check", "DIR"]])
@pytest.mark.parametrize("option", ["--profile", "--config", "--prefix", "--certs"])
def test_certs_offers_no_profile_options(
    command: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, option, "x", "--server", "h"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
