"""Profiles: the file, secret references, precedence, and building a site from them."""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import pytest
from jaraco.classes import properties

from qlikauth.auth.header import HeaderAuth
from qlikauth.config import (
    ENVIRONMENT,
    ConfigFile,
    Options,
    Profile,
    authenticator_settings,
    default_config_path,
    emulator_profile_settings,
    missing_settings,
    redacted,
    resolve,
    resolve_secret,
    toml_assignment,
)
from qlikauth.errors import CertificateFileError, ConfigurationError, MissingSettingsError
from qlikauth.pki import make_test_pki


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps secrets in this process (test only)."""

    @properties.classproperty
    def priority(cls) -> float:
        # Never viable: keyring must not pick this test backend on its own.
        raise RuntimeError("set explicitly with keyring.set_keyring")

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


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


# --------------------------------------------------------------------------- secrets


def test_env_reference(tmp_path: Path) -> None:
    assert resolve_secret("env:PW", env={"PW": "x1"}) == "x1"
    with pytest.raises(ConfigurationError, match="PW is not set"):
        resolve_secret("env:PW", env={}, where="somewhere")
    with pytest.raises(ConfigurationError, match="not an environment variable name"):
        resolve_secret("env:1-2", env={})


def test_keyring_reference(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("qlikauth", "prod-pw", "from-keyring")
    assert resolve_secret("keyring:prod-pw", env={}) == "from-keyring"
    with pytest.raises(ConfigurationError, match="no secret named 'other'") as info:
        resolve_secret("keyring:other", env={})
    assert "keyring set qlikauth other" in (info.value.hint or "")


# --------------------------------------------------------------------------- resolving


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "config.toml",
        'default_profile = "prod"\n'
        '[profiles.prod]\nserver = "qlik.example.com"\nprefix = "hdr"\n'
        'cookie_name = "X-Qlik-Session-hdr"\nproxy_port = 8443\ntimeout = 5\n'
        'authenticator = "header"\n'
        '[profiles.prod.auth]\nuser = "alice"\nheader_name = "header_user"\n'
        '[profiles.other]\nserver = "other.example.com"\n',
    )


def test_resolve_builds_site_and_authenticator(config_file: Path) -> None:
    resolved = resolve(config=config_file, env={})
    assert resolved.name == "prod"
    site = resolved.site
    assert (site.host, site.prefix, site.cookie_name) == (
        "qlik.example.com",
        "hdr",
        "X-Qlik-Session-hdr",
    )
    assert site.proxy_port == 8443
    assert site.qps_port == 4243  # the library default
    assert resolved.timeout == 5.0
    assert isinstance(resolved.authenticator, HeaderAuth)
    assert resolved.authenticator.user == "alice"
    assert site.tls.verify is True


def test_environment_overrides_profile_and_options_override_both(config_file: Path) -> None:
    env = {
        "QLIKAUTH_PREFIX": "hdrdyn",
        "QLIKAUTH_QPS_PORT": "14243",
        "QLIKAUTH_AUTH_USER": "bob",
        "QLIKAUTH_COOKIE_NAME": "X-Qlik-Session-hdrdyn",
    }
    resolved = resolve(config=config_file, env=env)
    assert resolved.site.prefix == "hdrdyn"
    assert resolved.site.qps_port == 14243
    assert isinstance(resolved.authenticator, HeaderAuth)
    assert resolved.authenticator.user == "bob"
    assert resolved.sources["prefix"] == "environment variable QLIKAUTH_PREFIX"
    options = Options(prefix="", cookie_name="X-Qlik-Session", insecure=True, timeout=2.0)
    resolved = resolve(config=config_file, env=env, options=options)
    assert resolved.site.prefix == ""
    assert resolved.site.cookie_name == "X-Qlik-Session"
    assert resolved.site.tls.verify is False
    assert resolved.timeout == 2.0
    assert resolved.sources["prefix"] == "option --prefix"


def test_auth_port_is_not_an_authenticator_setting(config_file: Path) -> None:
    resolved = resolve(config=config_file, env={"QLIKAUTH_AUTH_PORT": "14244"})
    assert resolved.site.auth_port == 14244
    assert resolved.sources["auth_port"] == "environment variable QLIKAUTH_AUTH_PORT"
    assert "auth.port" not in resolved.sources


def test_the_websocket_origin_comes_from_the_profile_or_the_environment(
    config_file: Path,
) -> None:
    origin = "https://qlik.example.com"
    env = {"QLIKAUTH_WEBSOCKET_ORIGIN": origin}
    resolved = resolve(config=config_file, env=env)
    assert resolved.site.websocket_origin == origin
    assert resolve(config=config_file, env={}).site.websocket_origin is None
    with pytest.raises(ConfigurationError, match="QLIKAUTH_WEBSOCKET_ORIGIN") as bad:
        resolve(config=config_file, env={"QLIKAUTH_WEBSOCKET_ORIGIN": "qlik.example.com/hub"})
    assert "invalid websocket Origin" in bad.value.message


def test_plain_http_profile_gets_the_http_default_ports(config_file: Path) -> None:
    resolved = resolve(config=config_file, env={"QLIKAUTH_SCHEME": "http"}, profile="other")
    assert (resolved.site.proxy_port, resolved.site.auth_port) == (80, 4248)
    assert resolved.site.qps_port == 4243  # QPS stays https on its own port
    assert resolved.site.proxy_url().startswith(f"http://{resolved.site.host}/")


def test_profile_choice(config_file: Path) -> None:
    assert resolve(config=config_file, env={}, profile="other").site.host == "other.example.com"
    env = {"QLIKAUTH_PROFILE": "other"}
    assert resolve(config=config_file, env=env).site.host == "other.example.com"
    with pytest.raises(ConfigurationError, match="no profile named 'gone'"):
        resolve(config=config_file, env={}, profile="gone")


def test_without_a_profile_the_server_must_come_from_somewhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no server is set"):
        resolve(config=tmp_path / "none.toml", env={})
    resolved = resolve(config=tmp_path / "none.toml", env={"QLIKAUTH_SERVER": "q.example.com"})
    assert resolved.site.host == "q.example.com"
    assert resolved.authenticator is None


def test_environment_errors_name_the_variable(config_file: Path) -> None:
    with pytest.raises(ConfigurationError, match="QLIKAUTH_QPS_PORT"):
        resolve(config=config_file, env={"QLIKAUTH_QPS_PORT": "http"})
    with pytest.raises(ConfigurationError, match="QLIKAUTH_PREFIX") as info:
        resolve(config=config_file, env={"QLIKAUTH_PREFIX": "/HDR/"})
    assert "'hdr'" in (info.value.hint or "")


def test_bad_profile_value_is_blamed_on_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[profiles.p]\nserver = "https://q.example.com/hdr"\n')
    with pytest.raises(ConfigurationError) as info:
        resolve(config=path, env={})
    assert f"{path}: profile 'p': key 'server'" in info.value.message


def test_unknown_authenticator_and_bad_settings(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[profiles.p]\nserver = "q"\nauthenticator = "nosuch"\n')
    with pytest.raises(ConfigurationError, match="no authenticator named 'nosuch'"):
        resolve(config=path, env={})
    path = write(
        tmp_path / "d.toml",
        '[profiles.p]\nserver = "q"\nauthenticator = "header"\n[profiles.p.auth]\ncolour = 1\n',
    )
    with pytest.raises(ConfigurationError, match="bad settings for the 'header'"):
        resolve(config=path, env={})
    assert resolve(config=path, env={}, with_authenticator=False).authenticator is None


def test_auth_reference_is_resolved_at_build_time(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[profiles.p]\nserver = "q"\nauthenticator = "header"\n'
        '[profiles.p.auth]\nuser = "env:WHO"\n',
    )
    resolved = resolve(config=path, env={"WHO": "carol"})
    assert isinstance(resolved.authenticator, HeaderAuth)
    assert resolved.authenticator.user == "carol"
    with pytest.raises(ConfigurationError) as info:
        resolve(config=path, env={})
    assert "key 'auth.user'" in info.value.message
    assert "WHO is not set" in info.value.message


def test_certificates_from_profile(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "certs", ["localhost"], pfx_password="pfx-pw")
    path = write(
        tmp_path / "c.toml",
        f'[profiles.pem]\nserver = "localhost"\ncerts = "{pki.directory}"\n'
        f'[profiles.pfx]\nserver = "localhost"\ncerts = "{pki.client_pfx}"\n'
        'certs_password = "env:PFX_PW"\n'
        f'[profiles.missing]\nserver = "localhost"\ncerts = "{tmp_path / "gone"}"\n',
    )
    site = resolve(config=path, env={}, profile="pem").site
    assert site.tls.bundle is not None
    assert site.tls.root == pki.root
    site.tls.client_context()  # loads: key and certificate belong together
    site = resolve(config=path, env={"PFX_PW": "pfx-pw"}, profile="pfx").site
    assert site.tls.bundle is not None
    assert site.tls.bundle.is_pfx
    site.tls.client_context()
    with pytest.raises(CertificateFileError) as info:
        resolve(config=path, env={}, profile="missing")
    assert "profile 'missing': key 'certs'" in info.value.message
    with pytest.raises(ConfigurationError, match="PFX_PW is not set"):
        resolve(config=path, env={}, profile="pfx")


def test_every_environment_variable_is_documented() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    if not docs.exists():
        pytest.skip("docs/cli.md is not written yet")
    text = docs.read_text(encoding="utf-8")
    for var in [*ENVIRONMENT, "QLIKAUTH_CONFIG", "QLIKAUTH_PROFILE", "QLIKAUTH_AUTH_"]:
        assert var in text, var


def test_a_session_id_is_a_secret_setting() -> None:
    from qlikauth.config import is_secret_key

    assert is_secret_key("session_id")
    assert is_secret_key("csrf_token")
    assert not is_secret_key("user")


# --------------------------------------------------------------------------- what is missing


@pytest.mark.parametrize(
    ("authenticator", "auth", "missing", "advice"),
    [
        ("ntlm", 'user = "CORP\\\\bob"\n', "'password'", 'password = "env:VAR"'),
        ("ntlm", "", "'user', 'password'", "QLIKAUTH_AUTH_USER"),
        ("header", 'header_name = "h"\n', "'user'", "user = ... under"),
    ],
)
def test_a_missing_required_setting_is_named_with_how_to_give_it(
    tmp_path: Path, authenticator: str, auth: str, missing: str, advice: str
) -> None:
    path = write(
        tmp_path / "c.toml",
        f'[profiles.win2]\nserver = "q"\nauthenticator = "{authenticator}"\n'
        f"[profiles.win2.auth]\n{auth}",
    )
    with pytest.raises(MissingSettingsError) as info:
        resolve(config=path, env={})
    message, hint = info.value.message, info.value.hint or ""
    assert f"profile 'win2': the '{authenticator}' authenticator needs the setting" in message
    assert missing in message
    assert "__init__" not in message
    assert "[profiles.win2.auth]" in hint
    assert advice in hint
    if "password" in missing:
        assert 'password = "keyring:NAME"' in hint
    assert "qlikauth " not in hint  # library advice; the command line adds its own
    # Given in the environment instead, it is not missing.
    env = {f"QLIKAUTH_AUTH_{k.upper()}": "CORP\\bob" for k in info.value.settings}
    assert resolve(config=path, env=env).authenticator is not None


def test_missing_settings_lists_required_settings_without_defaults() -> None:
    assert missing_settings("ntlm", {"user": "u"}) == ["password"]
    assert missing_settings("ntlm", {"user": "u", "password": "p"}) == []
    assert missing_settings("header", {}) == ["user"]
    # A name the constructor does not take is the mistake the constructor reports.
    assert missing_settings("header", {"colour": 1}) == []


def test_a_pfx_without_its_password_says_how_a_profile_gives_it(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "certs", ["localhost"], pfx_password="pfx-pw")
    path = write(
        tmp_path / "c.toml", f'[profiles.pfx]\nserver = "localhost"\ncerts = "{pki.client_pfx}"\n'
    )
    for options in (Options(), Options(certs=str(pki.client_pfx))):
        with pytest.raises(CertificateFileError) as info:
            resolve(config=path, env={}, profile="pfx", options=options)
        hint = info.value.hint or ""
        assert "needs its password" in info.value.message
        assert "--pfx-password-env" not in hint  # an option of `certs check` only
        assert "password=..." not in hint  # Python advice
        assert 'certs_password = "env:VAR"' in hint
        assert "QLIKAUTH_CERTS_PASSWORD" in hint
    # ... and it works that way.
    site = resolve(config=path, env={"QLIKAUTH_CERTS_PASSWORD": "pfx-pw"}, profile="pfx").site
    assert site.tls.bundle is not None


def test_toml_assignment_is_valid_toml() -> None:
    values = {
        "password": "env:EMU_PW",
        "user": "CORP\\bob",
        "quote": 'say "hi"\n',
        "port": 4243,
        "verify": False,
        "groups": ["Sales", "EU"],
        "claims": {"a": 1},
        "bad key": "x",
    }
    text = "\n".join(toml_assignment(k, v) for k, v in values.items())
    assert 'password = "env:EMU_PW"' in text
    assert tomllib.loads(text) == values


# --------------------------------------------------------------------------- the emulator


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


def test_a_plug_in_with_a_positional_only_parameter_is_named_not_a_type_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qlikauth.auth import base
    from qlikauth.auth.header import HeaderAuth

    class PositionalAuth(HeaderAuth):
        def __init__(self, token: str, /, user: str = "x") -> None:
            super().__init__(user=user)

    known = dict(base.available_authenticators())
    monkeypatch.setattr(base, "available_authenticators", lambda: {**known, "pos": PositionalAuth})
    with pytest.raises(ConfigurationError, match="takes token by position only") as error:
        missing_settings("pos", {"user": "u"})
    assert "Build it in Python" in (error.value.hint or "")
    assert missing_settings("header", {}) == ["user"]  # others are unaffected
