"""Profiles: the file, secret references, precedence, and building a site from them."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

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
    default_config_path,
    resolve,
    resolve_secret,
)
from qlikauth.errors import CertificateFileError, ConfigurationError
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
