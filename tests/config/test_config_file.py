"""The configuration file: where it is, reading it, checking it, saving it."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from config_support import write

from qlikauth.config import (
    ConfigFile,
    Profile,
    authenticator_settings,
    default_config_path,
    redacted,
)
from qlikauth.errors import ConfigurationError

# --------------------------------------------------------------------------- file location


def test_default_path_follows_xdg_on_linux(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert default_config_path(env, platform="linux") == tmp_path / "xdg/qlikauth/config.toml"
    env = {"HOME": str(tmp_path)}
    assert default_config_path(env, platform="linux") == tmp_path / ".config/qlikauth/config.toml"


def test_default_path_on_windows_and_macos(tmp_path: Path) -> None:
    env = {"APPDATA": str(tmp_path / "Roaming"), "HOME": str(tmp_path)}
    assert default_config_path(env, platform="win32") == tmp_path / "Roaming/qlikauth/config.toml"
    assert (
        default_config_path({"HOME": str(tmp_path)}, platform="darwin")
        == tmp_path / "Library/Application Support/qlikauth/config.toml"
    )


def test_qlikauth_config_overrides_the_platform_path(tmp_path: Path) -> None:
    env = {"QLIKAUTH_CONFIG": str(tmp_path / "x.toml"), "XDG_CONFIG_HOME": str(tmp_path)}
    assert default_config_path(env, platform="linux") == tmp_path / "x.toml"


# --------------------------------------------------------------------------- reading and writing


def test_missing_file_is_an_empty_configuration(tmp_path: Path) -> None:
    config = ConfigFile.load(tmp_path / "none.toml")
    assert not config.exists
    assert dict(config.profiles) == {}


def test_round_trip_is_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    profile = Profile(
        name="prod",
        server="qlik.example.com",
        prefix="hdr",
        cookie_name="X-Qlik-Session-hdr",
        qps_port=4243,
        certs="~/certs",
        certs_password="env:QLIK_PFX",
        verify=True,
        timeout=12.5,
        authenticator="header",
        auth={"user": 'al"ice\\', "groups": ["a", "b"], "password": "keyring:prod-pw"},
    )
    ConfigFile.load(path).with_profile(profile, make_default=True).save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ConfigFile.load(path)
    assert again.default_profile == "prod"
    assert again.profile("prod") == profile
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left


def test_remove_profile_clears_the_default(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    config = ConfigFile.load(path).with_profile(Profile("a", server="x"), make_default=True)
    config = config.with_profile(Profile("b", server="y"))
    config.without_profile("a").save()
    again = ConfigFile.load(path)
    assert sorted(again.profiles) == ["b"]
    assert again.default_profile is None
    with pytest.raises(ConfigurationError, match="no profile named 'a'"):
        again.without_profile("a")


def test_plain_text_secret_is_refused_naming_file_profile_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[profiles.prod]\nserver = "q"\nauthenticator = "x"\n'
        '[profiles.prod.auth]\npassword = "hunter2"\n',
    )
    with pytest.raises(ConfigurationError) as info:
        ConfigFile.load(path)
    message = str(info.value)
    assert str(path) in message
    assert "'prod'" in message
    assert "auth.password" in message
    assert "hunter2" not in message
    assert "keyring:" in (info.value.hint or "")


def test_secrets_inside_a_table_are_refused_shown_masked_and_resolved(tmp_path: Path) -> None:
    plain = write(
        tmp_path / "plain.toml",
        '[profiles.w]\nserver = "q"\nauthenticator = "windows"\n[profiles.w.auth]\n'
        'validator = { kind = "ldap", bind_password = "hunter5" }\n',
    )
    with pytest.raises(ConfigurationError, match=r"auth\.validator\.bind_password") as info:
        ConfigFile.load(plain)
    assert "hunter5" not in str(info.value)
    referenced = write(
        tmp_path / "ref.toml",
        '[profiles.w]\nserver = "q"\nauthenticator = "windows"\n[profiles.w.auth]\n'
        'validator = { kind = "ldap", bind_password = "env:BIND_PW" }\n',
    )
    profile = ConfigFile.load(referenced).profiles["w"]
    assert profile.redacted()["auth"]["validator"]["bind_password"] == "env:BIND_PW"
    assert redacted({"bind_password": "hunter5", "kind": "ldap"}, "validator") == {
        "bind_password": "[secure]",
        "kind": "ldap",
    }
    _, settings = authenticator_settings(
        "w", config=ConfigFile.load(referenced), env={"BIND_PW": "from-env"}
    )
    assert settings["validator"]["bind_password"] == "from-env"


def test_plain_text_certs_password_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[profiles.p]\ncerts_password = "s3cret"\n')
    with pytest.raises(ConfigurationError, match="certs_password") as info:
        ConfigFile.load(path)
    assert "s3cret" not in str(info.value)


def test_refused_on_save_as_well(tmp_path: Path) -> None:
    profile = Profile("p", auth={"client_secret": "abc"})
    with pytest.raises(ConfigurationError, match="client_secret"):
        ConfigFile.load(tmp_path / "c.toml").with_profile(profile)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('qps_port = "4243"', "key 'qps_port'"),
        ("qps_port = 70000", "key 'qps_port'"),
        ("verify = 1", "key 'verify'"),
        ("timeout = -1", "key 'timeout'"),
        ('colour = "blue"', "key 'colour': unknown key"),
        ("auth = 3", "key 'auth'"),
        ('[profiles.prod.auth]\n"bad name" = 1', "auth.bad name"),
    ],
)
def test_bad_values_name_file_profile_and_key(tmp_path: Path, body: str, fragment: str) -> None:
    path = write(tmp_path / "c.toml", f'[profiles.prod]\nserver = "q"\n{body}\n')
    with pytest.raises(ConfigurationError) as info:
        ConfigFile.load(path)
    assert str(path) in info.value.message
    assert "profile 'prod'" in info.value.message
    assert fragment in info.value.message


def test_invalid_toml_and_dangling_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        ConfigFile.load(write(tmp_path / "a.toml", "[profiles.x\n"))
    with pytest.raises(ConfigurationError, match="'nope', which is not a profile"):
        ConfigFile.load(write(tmp_path / "b.toml", 'default_profile = "nope"\n'))
    with pytest.raises(ConfigurationError, match="invalid profile name"):
        ConfigFile.load(write(tmp_path / "c.toml", '[profiles."a b"]\nserver = "x"\n'))


def test_redacted_shows_references_and_hides_literals() -> None:
    profile = Profile("p", certs_password="env:X", auth={"password": "oops", "user": "alice"})
    shown = profile.redacted()
    assert shown["certs_password"] == "env:X"
    assert shown["auth"] == {"password": "[secure]", "user": "alice"}
    assert "oops" not in repr(profile)


def test_the_broker_table_is_kept_and_written_back(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        """
[profiles.prod]
server = "qlik.example.com"

[broker]
port = 8443
csrf_secret = "env:BROKER_SECRET"
trusted_proxies = ["10.0.0.5"]

[broker.validator]
kind = "ldap"
directories = { corp = "CORP" }

[[broker.virtual_proxies]]
profile = "prod"
proxy_names = ["qlik.example.com"]

[[broker.virtual_proxies]]
profile = "prod"
prefix = "ticket2"
""",
    )
    loaded = ConfigFile.load(path)
    broker = loaded.tables["broker"]
    assert broker["validator"] == {"kind": "ldap", "directories": {"corp": "CORP"}}
    # Another command rewrites the file: the broker's table survives, unchanged.
    loaded.with_profile(Profile(name="test", server="qlik-test.example.com")).save()
    again = ConfigFile.load(path)
    assert again.tables == loaded.tables
    assert sorted(again.profiles) == ["prod", "test"]
    assert tomllib.loads(path.read_text(encoding="utf-8"))["broker"] == broker


def test_an_unknown_top_level_table_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[brokr]\nport = 1\n")
    with pytest.raises(ConfigurationError, match="unknown top-level key 'brokr'") as error:
        ConfigFile.load(path)
    assert "[broker]" in str(error.value.hint)
    with pytest.raises(ConfigurationError, match="'broker' must be a table"):
        ConfigFile.load(write(tmp_path / "d.toml", "broker = 1\n"))
