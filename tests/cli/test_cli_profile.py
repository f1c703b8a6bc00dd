"""``qlikauth profile add/list/show/remove`` through ``main(argv)``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cli_support import run_json

from qlikauth.cli import main
from qlikauth.config import ConfigFile


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "qlikauth" / "config.toml"
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    monkeypatch.delenv("QLIKAUTH_PROFILE", raising=False)
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
    assert "'localhost'" in capsys.readouterr().out

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
