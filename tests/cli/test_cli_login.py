"""``login``/``logout``/``whoami``, ``headers``/``cookie``/``exec`` and ``doclist``/``eval``/
``export`` through ``main(argv)`` against the emulator, sharing one cached proxy session."""

from __future__ import annotations

import csv
import http.cookiejar
import io
import json
import logging
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import keyring
import keyring.backend
import pytest
import requests
from cli_support import hdr_site, qps_sessions, run_json, user_of, write_profile
from jaraco.classes import properties

from qlikauth.cli import main
from qlikauth.pki import make_test_pki
from qlikauth.qps import QpsClient
from qlikauth.testing.emulator import EmulatorInfo


def emu_profile(
    path: Path, info: EmulatorInfo, name: str, prefix: str, authenticator: str, auth: str
) -> Path:
    """A profile NAME for the emulator's virtual proxy PREFIX; ``auth`` is its auth table."""
    ports = info["ports"]
    path.write_text(
        f'[profiles.{name}]\nserver = "localhost"\nprefix = "{prefix}"\n'
        f'cookie_name = "{info.cookie_name(prefix)}"\ncerts = "{info.certs_dir}"\n'
        f"proxy_port = {ports['proxy']}\nqps_port = {ports['qps']}\nauth_port = {ports['auth']}\n"
        f'authenticator = "{authenticator}"\n[profiles.{name}.auth]\n{auth}',
        encoding="utf-8",
    )
    return path


def test_login_whoami_logout_reuse_one_session(
    profile: Path, emu: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    user = user_of(profile)
    code, first = run_json(capsys, "login")
    assert code == 0
    assert first["user"] == user
    assert first["reused"] is False
    cached = Path(str(first["cached_in"]))  # the file store: 0600 in a 0700 folder
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700

    code, again = run_json(capsys, "login")
    assert code == 0
    assert again["reused"] is True
    code, me = run_json(capsys, "whoami")
    assert code == 0
    assert (me["user"], me["reused"]) == (user, True)
    assert qps_sessions(emu, user) == 1

    code, out = run_json(capsys, "logout")
    assert code == 0
    assert (out["had_session"], out["ended_on_proxy"]) == (True, True)
    assert not cached.exists()
    assert qps_sessions(emu, user) == 0
    code, out = run_json(capsys, "logout")
    assert out["had_session"] is False

    assert main(["whoami"]) == 0
    assert capsys.readouterr().out.strip() == user
    assert main(["login", "--force"]) == 0  # ends the cached session, makes a new one
    capsys.readouterr()
    assert qps_sessions(emu, user) == 1


def test_expired_cached_session_logs_in_again(
    profile: Path, emu: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    user = user_of(profile)
    assert main(["login"]) == 0
    # The session ends on the server side (an administrator, or the inactivity timeout).
    assert main(["session", "delete", "--user", user]) == 0
    capsys.readouterr()
    code, me = run_json(capsys, "whoami")
    assert code == 0
    assert me["reused"] is False
    assert qps_sessions(emu, user) == 1


def test_session_cached_in_the_keyring_when_there_is_one(
    profile: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QLIKAUTH_SESSION_STORE")  # chosen by what keyring offers

    class MemoryKeyring(keyring.backend.KeyringBackend):
        @properties.classproperty
        def priority(cls) -> float:
            # Never viable: keyring must not pick this test backend on its own.
            raise RuntimeError("set explicitly with keyring.set_keyring")

        store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if (service, username) not in self.store:
                raise keyring.errors.PasswordDeleteError(username)
            del self.store[(service, username)]

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        code, first = run_json(capsys, "login")
        assert code == 0
        assert "keyring" in str(first["cached_in"])
        entry = json.loads(backend.store[("qlikauth", "emu:session")])
        assert entry["cookie_name"] == "X-Qlik-Session-hdr"
        code, again = run_json(capsys, "whoami")
        assert again["reused"] is True
        assert main(["logout"]) == 0
        assert backend.store == {}
    finally:
        keyring.set_keyring(previous)


def test_headers_cookie_formats(
    profile: Path, tmp_path: Path, emu: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    user = user_of(profile)
    assert main(["headers", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["user"] == user
    assert data["headers"]["Cookie"] == f"X-Qlik-Session-hdr={data['session_id']}"
    assert data["csrf_token"]
    assert f"qlik-csrf-token={data['csrf_token']}" in data["websocket_url"]
    assert data["websocket_url"].startswith(f"wss://localhost:{emu['ports']['proxy']}/hdr/app/")
    # Another tool, with these headers only, is the same user in the same session.
    me = requests.get(
        f"{data['proxy_url']}qps/user",
        headers=data["headers"],
        verify=data["root_ca"],
        timeout=10,
    ).json()
    assert f"{me['userDirectory']}\\{me['userId']}" == user

    assert main(["headers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"Cookie: X-Qlik-Session-hdr={data['session_id']}" in lines
    assert f"qlik-csrf-token: {data['csrf_token']}" in lines

    assert main(["cookie"]) == 0
    assert capsys.readouterr().out.strip() == f"X-Qlik-Session-hdr={data['session_id']}"

    jar_path = tmp_path / "jar.txt"
    assert main(["cookie", "--format", "netscape", "-o", str(jar_path)]) == 0
    assert stat.S_IMODE(jar_path.stat().st_mode) == 0o600
    jar = http.cookiejar.MozillaCookieJar(str(jar_path))
    jar.load(ignore_discard=True, ignore_expires=True)  # a session cookie: expiry 0
    assert [(c.name, c.value, c.domain) for c in jar] == [
        ("X-Qlik-Session-hdr", data["session_id"], "localhost")
    ]

    assert main(["headers", "--format", "env", "--app", emu.app_id("Sales")]) == 0
    env_text = capsys.readouterr().out
    assert f"export QLIK_SESSION_ID={data['session_id']}" in env_text
    assert emu.app_id("Sales") in env_text
    assert main(["headers", "--format", "json", "--app", "Sales"]) == 0  # a name, as eval takes
    assert f"/app/{emu.app_id('Sales')}?" in json.loads(capsys.readouterr().out)["websocket_url"]
    assert main(["headers", "--format", "json", "--app", "No such app"]) == 1
    assert "no app named 'No such app'" in capsys.readouterr().err

    config = tmp_path / "curl.cfg"
    assert main(["headers", "--format", "curl", "-o", str(config)]) == 0
    text = config.read_text()
    assert f'header = "Cookie: X-Qlik-Session-hdr={data["session_id"]}"' in text
    assert f'cacert = "{emu.root}"' in text
    if shutil.which("curl"):
        result = subprocess.run(
            ["curl", "-sS", "-K", str(config), f"{data['proxy_url']}qps/user"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["userId"] == user.split("\\")[1]
    assert qps_sessions(emu, user) == 1  # every command above used the one session


def test_exec_passes_the_session_and_the_exit_code(
    profile: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    script = (
        "import json, os, sys\n"
        "keys = [k for k in os.environ if k.startswith('QLIK_')]\n"
        "print(json.dumps({k: os.environ[k] for k in keys}))\n"
        "sys.exit(7)\n"
    )
    code = main(["exec", "--", sys.executable, "-c", script])
    assert code == 7
    env = json.loads(capfd.readouterr().out.strip().splitlines()[-1])
    assert env["QLIK_USER"] == user_of(profile)
    assert env["QLIK_COOKIE"] == f"X-Qlik-Session-hdr={env['QLIK_SESSION_ID']}"
    assert json.loads(env["QLIK_HEADERS_JSON"])["Cookie"] == env["QLIK_COOKIE"]
    assert json.loads(env["QLIK_WS_HEADERS_JSON"]) == {"Cookie": env["QLIK_COOKIE"]}
    assert env["QLIK_CSRF_TOKEN"] in env["QLIK_WS_URL"]
    assert env["QLIK_PREFIX"] == "hdr"
    assert Path(env["QLIK_ROOT_CA"]).is_file()
    assert main(["exec"]) == 2
    assert main(["exec", "--", "qlikauth-no-such-command"]) == 127


def test_two_evals_use_one_proxy_session(
    profile: Path, emu: EmulatorInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = user_of(profile)
    sales = emu.app_id("Sales")
    code, first = run_json(capsys, "eval", sales, "Sum(Amount)")
    assert code == 0
    code, second = run_json(capsys, "eval", "Sales", "Sum(Amount)")  # by name
    assert code == 0
    assert first["value"] == second["value"]
    assert second["app"] == sales
    assert qps_sessions(emu, user) == 1

    # The export, downloaded with the same session, adds up to the same total.
    target = tmp_path / "by-country.csv"
    code, exported = run_json(
        capsys,
        "export",
        "Sales",
        "--dims",
        "Country",
        "--measures",
        "Sum(Amount)",
        "-o",
        str(target),
    )
    assert code == 0
    assert exported["file_type"] == "CSV_C"
    assert exported["size"] == target.stat().st_size
    with target.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    total = sum(float(r[1]) for r in rows[1:])
    assert total == pytest.approx(float(str(first["value"])))
    assert qps_sessions(emu, user) == 1

    code, listing = run_json(capsys, "doclist")
    assert code == 0
    apps = listing["apps"]
    assert isinstance(apps, list)
    assert {a["id"] for a in apps} >= {app["id"] for app in emu.apps}


def test_eval_prints_the_engine_text(profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "Sales", "Count(DISTINCT Region)"]) == 0
    text = capsys.readouterr().out.strip()
    assert text.isdigit()  # as Qlik shows a whole number: no ".0"
    code, data = run_json(capsys, "eval", "Sales", "Count(DISTINCT Region)")
    assert code == 0
    assert data["value"] == int(text)
    assert data["text"] == text


def test_engine_errors(profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, error = run_json(capsys, "eval", "No Such App", "1+1")
    assert code == 1
    assert error["error"] == "AppNotFoundError"
    assert "Sales" in str(error["hint"])
    assert main(["export", "Sales", "-o", "x.csv"]) == 4  # nothing to export


def test_wrong_cookie_name_in_the_profile(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_profile(tmp_path / "c.toml", emu, "ucookie", cookie_name="X-Qlik-Session")
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    code, error = run_json(capsys, "login")
    assert code == 4
    assert "X-Qlik-Session-hdr" in str(error["message"])


def test_no_authenticator_and_no_cached_session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("QLIKAUTH_SERVER", "localhost")
    monkeypatch.setenv("QLIKAUTH_PROXY_PORT", str(emu["ports"]["proxy"]))
    monkeypatch.setenv("QLIKAUTH_ROOT", str(emu.root))
    code, error = run_json(capsys, "whoami")
    assert code == 4
    assert "no authenticator" in str(error["message"])


class Terminal(io.StringIO):
    """Standard input that says it is a terminal (the prompt itself goes to getpass)."""

    def isatty(self) -> bool:
        return True


def write_ntlm_profile(path: Path, info: EmulatorInfo, *, password: str | None = None) -> Path:
    ports = info["ports"]
    extra = f'password = "{password}"\n' if password else ""
    path.write_text(
        f'[profiles.win]\nserver = "localhost"\nprefix = ""\nproxy_port = {ports["proxy"]}\n'
        f'auth_port = {ports["auth"]}\nroot = "{info.root}"\n'
        f'authenticator = "ntlm"\n[profiles.win.auth]\nuser = "QLIKEMU\\\\bob"\n{extra}',
        encoding="utf-8",
    )
    return path


def test_missing_password_is_prompted_for_on_a_terminal(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(write_ntlm_profile(tmp_path / "c.toml", emu)))
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return emu.windows_password("bob")

    monkeypatch.setattr("getpass.getpass", getpass)
    # Not a terminal: no prompt, the missing password is a configuration error.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["whoami"]) == 4
    assert "password" in capsys.readouterr().err
    assert prompts == []

    monkeypatch.setattr("sys.stdin", Terminal(""))
    assert main(["whoami"]) == 0
    assert capsys.readouterr().out.strip() == "QLIKEMU\\bob"
    assert prompts == ["ntlm password: "]
    # A script without a terminal reuses the cached session: no password needed.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, me = run_json(capsys, "whoami")
    assert (code, me["reused"], me["user"]) == (0, True, "QLIKEMU\\bob")
    assert prompts == ["ntlm password: "]
    assert main(["logout"]) == 0
    assert main(["whoami"]) == 4  # the session is gone and nobody can type the password


def test_profile_add_stores_a_prompted_secret_in_the_keyring(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    class MemoryKeyring(keyring.backend.KeyringBackend):
        @properties.classproperty
        def priority(cls) -> float:
            # Never viable: keyring must not pick this test backend on its own.
            raise RuntimeError("set explicitly with keyring.set_keyring")

        store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    config = tmp_path / "c.toml"
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(config))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": emu.windows_password("bob"))
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        code = main(
            [
                "profile", "add", "win", "--server", "localhost", "--prefix", "",
                "--set", f"proxy_port={emu['ports']['proxy']}",
                "--set", f"auth_port={emu['ports']['auth']}",
                "--set", f"root={emu.root}",
                "--authenticator", "ntlm", "--set", "auth.user=QLIKEMU\\bob",
                "--prompt-secret", "auth.password",
            ]
        )  # fmt: skip
        assert code == 0
        text = config.read_text()
        assert 'password = "keyring:win:password"' in text
        assert emu.windows_password("bob") not in text
        assert backend.store[("qlikauth", "win:password")] == emu.windows_password("bob")
        monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal: the keyring serves
        capsys.readouterr()
        assert main(["whoami"]) == 0
        assert capsys.readouterr().out.strip() == "QLIKEMU\\bob"
        assert main(["logout"]) == 0
    finally:
        keyring.set_keyring(previous)


def test_verbose_logs_hold_no_secret(
    profile: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="qlikauth")
    assert main(["headers", "--format", "json", "-vv"]) == 0
    data = json.loads(capsys.readouterr().out)
    logged = caplog.text
    assert "-> HttpRequest(GET" in logged  # it did log the requests
    assert data["session_id"] not in logged
    assert data["csrf_token"] not in logged


def test_exec_reports_a_signal_as_the_shell_does(profile: Path) -> None:
    code = main(["exec", "--", sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
    assert code == 128 + 9


def test_windows_profile_prepares_its_login_and_reuses_the_session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = emu_profile(
        tmp_path / "c.toml",
        emu,
        "w",
        "ticket",
        "windows",
        'user = "QLIKEMU\\\\carol"\npassword = "env:QLIKAUTH_TEST_WIN_PW"\n'
        'validator = { kind = "ntlm", prefix = "" }\n',
    )
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(config))
    monkeypatch.setenv("QLIKAUTH_TEST_WIN_PW", emu.windows_password("carol"))
    code, first = run_json(capsys, "login")
    assert code == 0, first
    assert (first["user"], first["reused"], first["prefix"]) == ("QLIKEMU\\carol", False, "ticket")
    # The next command needs no password: the cached session serves it.
    monkeypatch.delenv("QLIKAUTH_TEST_WIN_PW")
    code, again = run_json(capsys, "whoami")
    assert (code, again["reused"]) == (0, True)
    assert main(["logout"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("QLIKAUTH_TEST_WIN_PW", "wrong-password")
    code, error = run_json(capsys, "login")
    assert code == 3
    assert error["error"] == "InvalidCredentialsError"


def test_missing_password_without_a_terminal_says_how_to_give_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(write_ntlm_profile(tmp_path / "c.toml", emu)))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["whoami", "--profile", "win"]) == 4
    err = capsys.readouterr().err
    assert "the 'ntlm' authenticator needs the setting 'password'" in err
    assert "__init__" not in err
    assert 'password = "env:VAR"' in err
    assert "keyring:NAME" in err
    assert "[profiles.win.auth]" in err
    assert "on a terminal" in err
    assert "--prompt-secret auth.password" in err  # the command line's own advice


def test_exec_of_a_missing_command_exits_127(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["exec", "--", "qlikauth-no-such-command"]) == 127
    err = capsys.readouterr().err
    assert "command not found: qlikauth-no-such-command" in err
    assert "hint:" in err
    assert main(["exec", "--json", "--", "qlikauth-no-such-command"]) == 127
    error = json.loads(capsys.readouterr().out)
    assert error["ok"] is False
    assert "command not found" in str(error["message"])
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\nexit 0\n")
    assert main(["exec", "--", str(not_executable)]) == 126
    assert "permission denied" in capsys.readouterr().err
    assert main(["exec", "--", str(tmp_path)]) == 126
    assert "it is a folder" in capsys.readouterr().err
    broken = tmp_path / "broken.sh"
    broken.write_text("#!/no/such/interpreter\nexit 0\n")
    broken.chmod(0o755)
    assert main(["exec", "--", str(broken)]) == 127
    assert "the interpreter on its #! line is not found" in capsys.readouterr().err


def test_session_limit_hint_names_the_commands_that_free_a_slot(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qlik_emulator_factory: Callable[..., EmulatorInfo],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The emulator's "login" limit (its default refuses the websocket, not the login).
    emu = qlik_emulator_factory(session_limit="login")
    path = write_profile(tmp_path / "c.toml", emu, "ulimitlogin")
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    for _ in range(5):
        assert main(["session", "create", "--user", "QLIKEMU\\ulimitlogin"]) == 0
    capsys.readouterr()
    code, error = run_json(capsys, "whoami", "--profile", "emu")
    assert code == 3
    hint = str(error["hint"])
    assert "qlikauth session list --profile emu --user 'QLIKEMU\\ulimitlogin'" in hint
    assert "qlikauth session delete --profile emu --user 'QLIKEMU\\ulimitlogin'" in hint
    assert "QlikClient" not in hint
    assert "DELETE https" not in hint
    # Without the client certificate the same commands need one: the hint says so.
    no_cert = tmp_path / "nocert.toml"
    no_cert.write_text(
        path.read_text().replace(
            f'certs = "{emu.certs_dir}"', f'root = "{emu.certs_dir / "root.pem"}"'
        )
    )
    code, error = run_json(capsys, "whoami", "--profile", "emu", "--config", str(no_cert))
    assert code == 3
    assert "needs the client certificate" in str(error["hint"])
    assert "--certs FOLDER --user 'QLIKEMU\\ulimitlogin'" in str(error["hint"])
    # The hint's own command frees the slots.
    assert main(["session", "delete", "--profile", "emu", "--user", "QLIKEMU\\ulimitlogin"]) == 0
    assert main(["whoami", "--profile", "emu"]) == 0


def test_an_existing_session_profile_uses_the_session_it_is_given_and_never_ends_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = emu_profile(
        tmp_path / "c.toml", emu, "ex", "hdr", "existing", 'session_id = "env:QSID"\n'
    )
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(config))
    with QpsClient(hdr_site(emu)) as qps:
        first = qps.add_session("QLIKEMU\\exfirst").session_id
        second = qps.add_session("QLIKEMU\\exsecond").session_id
    monkeypatch.setenv("QSID", first)
    assert main(["whoami", "--profile", "ex"]) == 0
    assert capsys.readouterr().out.strip() == "QLIKEMU\\exfirst"
    assert main(["login", "--profile", "ex"]) == 0
    said = capsys.readouterr().out
    assert "using the profile's session (made elsewhere)" in said
    assert "cached in" not in said and "logged in" not in said
    monkeypatch.setenv("QSID", second)  # the browser's cookie changed: so does the session
    assert main(["whoami", "--profile", "ex"]) == 0
    assert capsys.readouterr().out.strip() == "QLIKEMU\\exsecond"
    assert main(["logout", "--profile", "ex"]) == 0
    assert "no cached session" in capsys.readouterr().out
    assert qps_sessions(emu, "QLIKEMU\\exsecond") == 1  # still its owner's
    assert qps_sessions(emu, "QLIKEMU\\exfirst") == 1


def test_no_password_prompt_while_another_setting_is_missing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile = write_ntlm_profile(tmp_path / "c.toml", emu)
    profile.write_text(profile.read_text().replace('user = "QLIKEMU\\\\bob"\n', ""))
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(profile))
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or "pw")
    monkeypatch.setattr("sys.stdin", Terminal(""))
    assert main(["whoami"]) == 4
    assert "needs the settings 'user', 'password'" in capsys.readouterr().err
    assert prompts == []  # a password would be typed for nothing


def test_the_log_says_when_the_cached_session_was_reused(
    profile: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qlikauth")
    assert main(["whoami", "-v"]) == 0
    first = [r.getMessage() for r in caplog.records if r.name == "qlikauth.client"]
    assert any(m.startswith("logged in to ") for m in first), first
    caplog.clear()
    assert main(["-v", "whoami"]) == 0  # -v before the command as well
    again = [r.getMessage() for r in caplog.records if r.name == "qlikauth.client"]
    assert any(m.startswith("reused cached session on ") for m in again), again
    assert not any(m.startswith("logged in") for m in again), again
    capsys.readouterr()


@pytest.mark.parametrize("command", ["headers", "cookie"])
def test_an_unknown_app_fails_the_same_in_every_format(
    command: str, profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    codes = {}
    for fmt in ("header", "json", "env", "curl", "netscape"):
        codes[fmt] = main([command, "--app", "Nope", "--format", fmt])
        captured = capsys.readouterr()
        assert captured.out == "", fmt
        assert "no app named 'Nope'" in captured.err, fmt
    assert set(codes.values()) == {1}, codes


def test_a_certificate_folder_with_only_the_root_serves_header_auth(
    profile: Path, tmp_path: Path, emu: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/authenticators.md: the authenticators that go through the proxy need only the root.
    only_root = tmp_path / "root-only"
    only_root.mkdir()
    shutil.copy(emu.certs_dir / "root.pem", only_root / "root.pem")
    text = profile.read_text().replace(str(emu.certs_dir), str(only_root))
    profile.write_text(text, encoding="utf-8")
    code, me = run_json(capsys, "whoami")
    assert code == 0, me
    assert me["user"] == user_of(profile)
    assert main(["logout"]) == 0
    capsys.readouterr()
    # The server is still verified against that root: another root is refused.
    other = tmp_path / "other-root"
    make_test_pki(other, ["localhost"], pfx_password="unused")
    for name in ("client.pem", "client_key.pem", "client.pfx"):
        (other / name).unlink(missing_ok=True)
    profile.write_text(text.replace(str(only_root), str(other)), encoding="utf-8")
    code, refused = run_json(capsys, "whoami")
    assert code == 4, refused
    # QPS calls need the client certificate, and say so.
    profile.write_text(text, encoding="utf-8")
    code, error = run_json(capsys, "session", "list")
    assert code == 4
    assert "client certificate" in str(error["message"])
