"""Resolving: profile < environment < options, built into a site and an authenticator."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import write

from qlikauth.auth.header import HeaderAuth
from qlikauth.config import (
    ENVIRONMENT,
    Options,
    resolve,
)
from qlikauth.errors import CertificateFileError, ConfigurationError
from qlikauth.pki import make_test_pki


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
    docs = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
    if not docs.exists():
        pytest.skip("docs/cli.md is not written yet")
    text = docs.read_text(encoding="utf-8")
    for var in [*ENVIRONMENT, "QLIKAUTH_CONFIG", "QLIKAUTH_PROFILE", "QLIKAUTH_AUTH_"]:
        assert var in text, var


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


def test_require_authenticator_gives_it_typed_or_says_why_not(
    config_file: Path, tmp_path: Path
) -> None:
    resolved = resolve(config=config_file, env={})
    assert resolved.require_authenticator() is resolved.authenticator
    unbuilt = resolve(config=config_file, env={}, with_authenticator=False)
    with pytest.raises(ConfigurationError, match="was not built") as info:
        unbuilt.require_authenticator()
    assert "key 'authenticator'" in info.value.message
    none = resolve(config=config_file, env={}, profile="other")
    with pytest.raises(ConfigurationError, match="no authenticator is set") as info:
        none.require_authenticator()
    assert f"{config_file}: profile 'other'" in info.value.message
    assert "QLIKAUTH_AUTHENTICATOR" in (info.value.hint or "")
    bare = resolve(config=tmp_path / "none.toml", env={"QLIKAUTH_SERVER": "q.example.com"})
    with pytest.raises(ConfigurationError, match=r"^no authenticator is set"):
        bare.require_authenticator()
