"""``qlikauth profile add/list/show/remove`` through ``main(argv)``."""

from __future__ import annotations

import json
import shutil
import stat
import tomllib
from pathlib import Path

import pytest
from cli_support import run_json

from qlikauth.cli import main
from qlikauth.config import ConfigFile
from qlikauth.testing.emulator import EmulatorInfo


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "qlikauth" / "config.toml"
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    return path


def test_add_list_show_remove(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(
        capsys,
        "profile",
        "add",
        "prod",
        "--server",
        "qlik.example.com",
        "--prefix",
        "hdr",
        "--cookie-name",
        "X-Qlik-Session-hdr",
        "--authenticator",
        "header",
        "--set",
        "qps_port=14243",
        "--set",
        "auth.user=alice",
        "--set",
        "auth.password=keyring:qlik-prod",
        "--set",
        'auth.groups=["Sales", "EU"]',
    )
    assert code == 0
    assert data["default"] is True  # the first profile becomes the default
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    stored = ConfigFile.load(cfg).profile("prod")
    assert stored.qps_port == 14243
    assert stored.prefix == "hdr"
    assert dict(stored.auth) == {
        "user": "alice",
        "password": "keyring:qlik-prod",
        "groups": ["Sales", "EU"],
    }

    assert main(["profile", "add", "dev", "--server", "localhost", "--prefix", "001"]) == 0
    assert ConfigFile.load(cfg).profile("dev").prefix == "001"  # text, not the number 1
    capsys.readouterr()

    code, listing = run_json(capsys, "profile", "list")
    assert code == 0
    assert listing["default"] == "prod"
    rows = listing["profiles"]
    assert isinstance(rows, list)
    assert [r["name"] for r in rows] == ["dev", "prod"]

    code, shown = run_json(capsys, "profile", "show")
    assert code == 0
    assert shown["profile"] == "prod"
    settings = shown["settings"]
    assert isinstance(settings, dict)
    assert settings["auth"]["password"] == "keyring:qlik-prod"
    assert settings["server"] == "qlik.example.com"

    assert main(["profile", "show", "dev"]) == 0
    assert 'server = "localhost"' in capsys.readouterr().out

    code, removed = run_json(capsys, "profile", "remove", "prod")
    assert code == 0
    assert removed["removed"] == "prod"
    config = ConfigFile.load(cfg)
    assert sorted(config.profiles) == ["dev"]
    assert config.default_profile is None


def test_secret_values_are_refused(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["profile", "add", "p", "--server", "q", "--set", "auth.password=hunter2"])
    assert code == 4
    err = capsys.readouterr().err
    assert "secret in plain text" in err
    assert "hunter2" not in err
    assert "keyring:NAME" in err
    assert not cfg.exists()


def test_existing_profile_needs_force(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "add", "p", "--server", "a.example.com"]) == 0
    assert main(["profile", "add", "p", "--server", "b.example.com"]) == 4
    assert "--force" in capsys.readouterr().err
    assert main(["profile", "add", "p", "--server", "b.example.com", "--force"]) == 0
    assert ConfigFile.load(cfg).profile("p").server == "b.example.com"


def test_usage_errors(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "add", "p", "--set", "colour=blue"]) == 4
    assert "unknown key 'colour'" in capsys.readouterr().err
    assert main(["profile", "add", "p", "--set", "novalue"]) == 4
    assert main(["profile", "remove", "nope"]) == 4
    assert "no profile named 'nope'" in capsys.readouterr().err
    assert main(["profile", "show"]) == 4
    assert main(["profile"]) == 2


def test_bad_file_is_reported_with_its_path(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[profiles.p]\nqps_port = "x"\n')
    code = main(["profile", "list", "--json"])
    assert code == 4
    error = json.loads(capsys.readouterr().out)
    assert error["ok"] is False
    assert error["error"] == "ConfigurationError"
    assert str(cfg) in error["message"]
    assert "key 'qps_port'" in error["message"]


def test_config_option_beats_the_environment(
    cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.toml"
    assert main(["profile", "add", "x", "--server", "q", "--config", str(other)]) == 0
    assert other.exists()
    assert not cfg.exists()


def test_show_prints_valid_toml(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["profile", "add", "emu", "--server", "localhost", "--prefix", "hdr"]
    argv += ["--authenticator", "ntlm", "--set", "qps_port=4243", "--set", "auth.user=CORP\\bob"]
    argv += ["--set", "auth.password=env:EMU_PW", "--set", "certs_password=keyring:emu:pfx"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["profile", "show", "emu"]) == 0
    out = capsys.readouterr().out
    assert 'password = "env:EMU_PW"' in out
    assert tomllib.loads(out) == {
        "profiles": {
            "emu": {
                "server": "localhost",
                "prefix": "hdr",
                "qps_port": 4243,
                "certs_password": "keyring:emu:pfx",
                "authenticator": "ntlm",
                "auth": {"user": "CORP\\bob", "password": "env:EMU_PW"},
            }
        }
    }
    assert str(cfg) in out.splitlines()[0]  # which file, as a comment


def test_add_from_emulator_fills_server_ports_and_certs(
    cfg: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    info_file = str(qlik_emulator["info_file"])
    argv = ["profile", "add", "emu", "--from-emulator", info_file, "--prefix", "ticket"]
    assert main(argv) == 0
    capsys.readouterr()
    stored = ConfigFile.load(cfg).profile("emu")
    ports = qlik_emulator["ports"]
    assert stored.server == qlik_emulator["host"]
    assert (stored.proxy_port, stored.qps_port, stored.qrs_port) == (
        ports["proxy"],
        ports["qps"],
        ports["qrs"],
    )
    assert (stored.engine_port, stored.auth_port) == (ports["engine"], ports["auth"])
    assert stored.certs == str(qlik_emulator.certs_dir)
    assert (stored.prefix, stored.cookie_name) == ("ticket", "X-Qlik-Session-ticket")
    # The profile reaches QPS as it is: a ticket for the ticket virtual proxy.
    code, ticket = run_json(capsys, "ticket", "--user", "QLIKEMU\\fromemu")
    assert code == 0, ticket
    assert f":{ports['proxy']}/ticket/" in str(ticket["redirect_url"])

    # Other options override what the info file says.
    elsewhere = cfg.parent / "elsewhere"
    elsewhere.mkdir(parents=True)
    argv = ["profile", "add", "other", "--from-emulator", info_file, "--server", "127.0.0.1"]
    assert main([*argv, "--set", "qps_port=4243", "--certs", str(elsewhere)]) == 0
    other = ConfigFile.load(cfg).profile("other")
    assert (other.server, other.qps_port, other.certs) == ("127.0.0.1", 4243, str(elsewhere))
    assert other.proxy_port == ports["proxy"]
    assert other.prefix is None


def test_add_from_emulator_over_plain_http(
    cfg: Path, qlik_emulator_http: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    info_file = str(qlik_emulator_http["info_file"])
    argv = ["profile", "add", "h", "--from-emulator", info_file, "--prefix", "hdr"]
    assert main([*argv, "--set", "scheme=http"]) == 0
    stored = ConfigFile.load(cfg).profile("h")
    ports = qlik_emulator_http["ports"]
    assert (stored.scheme, stored.proxy_port, stored.auth_port, stored.qps_port) == (
        "http",
        ports["proxy_http"],
        ports["auth_http"],
        ports["qps"],
    )


def test_add_from_emulator_errors(
    cfg: Path, tmp_path: Path, qlik_emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.json"
    assert main(["profile", "add", "e", "--from-emulator", str(missing)]) == 4
    err = capsys.readouterr().err
    assert f"cannot read {missing}" in err
    assert "qlikauth emulator" in err
    info_file = str(qlik_emulator["info_file"])
    assert main(["profile", "add", "e", "--from-emulator", info_file, "--prefix", "nope"]) == 4
    assert "no virtual proxy with prefix 'nope'" in capsys.readouterr().err
    argv = ["profile", "add", "e", "--from-emulator", info_file, "--set", "scheme=http"]
    assert main(argv) == 4  # this emulator serves no plain http
    assert "--allow-http" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["profile", "add", "e", "--from-emulator", str(tmp_path / "bad.json")]) == 4
    assert "is not JSON" in capsys.readouterr().err
    moved = json.loads(Path(info_file).read_text())
    moved["certs_dir"] = str(tmp_path / "gone")  # the emulator's folder is elsewhere now
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    assert main(["profile", "add", "e", "--from-emulator", str(tmp_path / "moved.json")]) == 4
    assert "does not exist" in capsys.readouterr().err
    assert not cfg.exists()
    argv = ["profile", "add", "e", "--from-emulator", str(tmp_path / "moved.json")]
    assert main([*argv, "--certs", str(qlik_emulator.certs_dir)]) == 0  # given here: fine
    assert f'certs = "{qlik_emulator.certs_dir}"' in cfg.read_text()


#: A configuration file as a user writes it: comments, blank lines, an order of its own.
HAND_WRITTEN = """\
# qlikauth profiles for the sales team
default_profile = "prod"   # the one we use most

# production node
[profiles.prod]
server = "qlik.example.com"    # behind the load balancer
prefix = "hdr"
cookie_name = "X-Qlik-Session-hdr"
authenticator = "header"

[profiles.prod.auth]
user = "alice"
header_name = "header_user"

# the test box; rebuilt every Monday
[profiles.test]
server   = "test.example.com"
qps_port = 14243
"""

PROD = """\
# production node
[profiles.prod]
server = "qlik.example.com"    # behind the load balancer
prefix = "hdr"
cookie_name = "X-Qlik-Session-hdr"
authenticator = "header"

[profiles.prod.auth]
user = "alice"
header_name = "header_user"

"""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["add", "dev", "--server", "localhost"],
            HAND_WRITTEN + '\n[profiles.dev]\nserver = "localhost"\n',
        ),
        (
            [
                *("add", "test", "--force", "--server", "test2.example.com"),
                *("--set", "qps_port=14243", "--authenticator", "header", "--set", "auth.user=bob"),
            ],
            HAND_WRITTEN.replace('"test.example.com"', '"test2.example.com"')
            + 'authenticator = "header"\n\n[profiles.test.auth]\nuser = "bob"\n',
        ),
        (
            ["remove", "prod"],
            HAND_WRITTEN.replace('default_profile = "prod"   # the one we use most\n', "").replace(
                PROD, ""
            ),
        ),
        (
            ["use", "test"],
            HAND_WRITTEN.replace('default_profile = "prod"', 'default_profile = "test"'),
        ),
    ],
    ids=["add", "replace", "remove", "use"],
)
def test_a_hand_written_file_keeps_everything_but_the_changed_table(
    cfg: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(HAND_WRITTEN, encoding="utf-8")
    cfg.chmod(0o644)
    assert main(["profile", *argv]) == 0, capsys.readouterr().err
    assert cfg.read_text(encoding="utf-8") == expected
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert [p.name for p in cfg.parent.iterdir()] == ["config.toml"]  # no temporary file left


def test_use_sets_the_default_profile(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "add", "a", "--server", "a.example.com"]) == 0
    assert main(["profile", "add", "b", "--server", "b.example.com"]) == 0
    capsys.readouterr()
    code, data = run_json(capsys, "profile", "use", "b")
    assert (code, data["default"], data["config"]) == (0, "b", str(cfg))
    assert ConfigFile.load(cfg).default_profile == "b"
    code, listing = run_json(capsys, "profile", "list")
    assert listing["default"] == "b"
    before = cfg.read_text()
    assert main(["profile", "use", "nope"]) == 4
    assert "no profile named 'nope'" in capsys.readouterr().err
    assert cfg.read_text() == before


def test_add_from_emulator_stores_absolute_paths_that_work_from_anywhere(
    cfg: Path,
    tmp_path: Path,
    qlik_emulator: EmulatorInfo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As the README's walk-through: the emulator's folder named relative to here.
    info = json.loads(Path(qlik_emulator["info_file"]).read_text())
    here = tmp_path / "project"
    state = here / ".qlikauth-emulator"
    state.mkdir(parents=True)
    for proxy in info["virtual_proxies"]:
        if proxy.get("jwt_private_key"):
            key = Path(proxy["jwt_private_key"])
            shutil.copy(key, state / key.name)
            proxy["jwt_private_key"] = f".qlikauth-emulator/{key.name}"
    shutil.copytree(qlik_emulator.certs_dir, state / "certs")
    info["certs_dir"] = ".qlikauth-emulator/certs"
    (state / "emulator.json").write_text(json.dumps(info))
    monkeypatch.chdir(here)
    argv = ["profile", "add", "j", "--from-emulator", ".qlikauth-emulator/emulator.json"]
    argv += ["--prefix", "jwt", "--authenticator", "jwt", "--set", "auth.user=fromhere"]
    argv += ["--set", "auth.directory=QLIKEMU"]
    assert main(argv) == 0
    (here / "site-certs").mkdir()
    argv = ["profile", "add", "r", "--server", "localhost", "--certs", "site-certs"]
    assert main([*argv, "--set", "auth.key=keys/jwt.pem", "--set", "root=ca/root.pem"]) == 0
    capsys.readouterr()
    stored = ConfigFile.load(cfg)
    jwt = stored.profile("j")
    assert jwt.certs == str(state / "certs")
    assert jwt.auth["key"] == str(state / key.name)
    assert (jwt.auth["user_claim"], jwt.auth["directory_claim"]) == ("userId", "userDirectory")
    relative = stored.profile("r")
    assert relative.certs == str(here / "site-certs")
    assert relative.root == str(here / "ca" / "root.pem")
    assert relative.auth["key"] == str(here / "keys" / "jwt.pem")
    # From another folder, the JWT profile logs in.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
    code, me = run_json(capsys, "whoami", "--profile", "j")
    assert code == 0, me
    assert me["user"] == "QLIKEMU\\fromhere"
    assert main(["logout", "--profile", "j"]) == 0


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--server", "https://qlik.example.com/hdr", "'qlik.example.com'"),
        ("--prefix", "/Sales/", "did you mean 'sales'?"),
        ("--cookie-name", "X-Qlik Session", "Session cookie header name"),
        ("--authenticator", "hedaer", "Known: "),
        ("--certs", "no-such-certs", "does not exist"),
        ("--set", "prefix=a/b", "did you mean 'ab'?"),
    ],
)
def test_add_refuses_a_malformed_site_setting_and_leaves_the_file_alone(
    cfg: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg.parent.mkdir(parents=True)
    cfg.write_text('# production node\n[profiles.prod]\nserver = "qlik.example.com"\n')
    before = cfg.read_bytes()
    argv = ["profile", "add", "new", "--server", "qlik.example.com", option, value]
    code, error = run_json(capsys, *argv)
    assert code == 4, error
    assert error["error"] == "ConfigurationError"
    assert says in error["message"] + error["hint"], error
    assert cfg.read_bytes() == before  # nothing half-written


def test_add_does_not_offer_profile(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["profile", "add", "new", "--server", "qlik.example.com", "--profile", "x"])
    assert code == 2
    assert "--profile" in capsys.readouterr().err
    assert not cfg.exists()
