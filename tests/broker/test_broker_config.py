"""The [broker] table: what it takes, what it refuses (naming file and key), and the
routes it makes (proxy nodes, their QPS bases, the names a TargetUri may use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qlikauth import ConfigurationError, Site, TlsError, VirtualProxy
from qlikauth.broker import AttributeMapping, load_settings
from qlikauth.broker.settings import VirtualProxyRoute
from qlikauth.config import ConfigFile, Profile
from qlikauth.pki import TestPki, make_test_pki
from qlikauth.validators import LdapValidator, ValidatedUser

ENV = {"SECRET": "s" * 40}


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return make_test_pki(tmp_path / "certs", ["qlik1.corp.example", "localhost"], pfx_password="x")


def write(tmp_path: Path, pki: TestPki, **broker: Any) -> Path:
    table: dict[str, Any] = {
        "certificate": str(pki.server),
        "key": str(pki.server_key),
        "csrf_secret": "env:SECRET",
        "validator": {"kind": "ldap", "url": "ldaps://dc1.corp.example", "ca_file": "root.pem"},
        "virtual_proxies": [{"profile": "prod"}],
    }
    for key, value in broker.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    profile = Profile(
        name="prod",
        server="qlik1.corp.example",
        prefix="ticket",
        cookie_name="X-Qlik-Session-ticket",
        certs=str(pki.root.parent),
    )
    (tmp_path / "root.pem").write_bytes(pki.root.read_bytes())  # the validator's CA
    path = tmp_path / "config.toml"
    ConfigFile(path, {"prod": profile}, tables={"broker": table}).save()
    return path


def test_a_small_table_and_its_defaults(tmp_path: Path, pki: TestPki) -> None:
    settings = load_settings(write(tmp_path, pki), env=ENV)
    assert settings.port == 8443 and settings.tls and settings.audit_log == "-"
    assert (settings.limits.per_user, settings.limits.per_address) == (3, 30)
    assert isinstance(settings.validator, LdapValidator)
    assert settings.validator.ca_file == tmp_path / "root.pem"  # relative to the file
    route = settings.default_route
    assert route.name == "qlik1.corp.example/ticket"
    assert route.qps_bases() == ["https://qlik1.corp.example:4243/qps/ticket/"]
    assert settings.server_context() is not None
    assert "s" * 40 not in repr(settings)


def test_nodes_and_proxy_names(tmp_path: Path, pki: TestPki) -> None:
    route_table = {
        "profile": "prod",
        "name": "sales",
        "nodes": ["qlik2.corp.example", "qlik3.corp.example:14243"],
        "proxy_names": ["qlik.corp.example"],
    }
    settings = load_settings(write(tmp_path, pki, virtual_proxies=[route_table]), env=ENV)
    route = settings.routes[0]
    assert route.name == "sales"
    assert route.qps_bases() == [
        "https://qlik1.corp.example:4243/qps/ticket/",
        "https://qlik2.corp.example:4243/qps/ticket/",
        "https://qlik3.corp.example:14243/qps/ticket/",
    ]
    node = route.node_for("https://QLIK3.corp.example:14243/qps/ticket")
    assert node is not None and node.host == "qlik3.corp.example" and node.qps_port == 14243
    assert "https://qlik.corp.example" in settings.form_origins()
    assert "https://qlik2.corp.example" in settings.form_origins()


@pytest.mark.parametrize(
    "other",
    [
        "https://qlik1.corp.example:4243/qps/other/",
        "https://qlik1.corp.example:4244/qps/ticket/",
        "https://qlik1.corp.example/qps/ticket/",
        "http://qlik1.corp.example:4243/qps/ticket/",
        "https://qlik1.corp.example:4243/qps/ticket/?x=1",
        "https://user@qlik1.corp.example:4243/qps/ticket/",
        "https://qlik1.corp.example.evil:4243/qps/ticket/",
        "https://qlik1.corp.example:99999/qps/ticket/",
        "not a url",
    ],
)
def test_only_a_configured_qps_base_matches(other: str) -> None:
    site = Site("qlik1.corp.example", VirtualProxy("ticket"))
    route = VirtualProxyRoute("r", (site,))
    assert route.node_for("https://qlik1.corp.example:4243/qps/ticket/") is site
    assert route.node_for(other) is None


def test_the_attribute_mapping() -> None:
    user = ValidatedUser("CORP", "alice", ("Europe", "Sales"), (("Email", "a@x"), ("Tel", "1")))
    assert AttributeMapping().pairs(user) == [
        ("Group", "Europe"),
        ("Group", "Sales"),
        ("Email", "a@x"),
        ("Tel", "1"),
    ]
    chosen = AttributeMapping("Role", ("SAL*",), {"Email": "Mail", "Tel": ""})
    assert chosen.pairs(user) == [("Role", "Sales"), ("Mail", "a@x")]
    assert AttributeMapping("", ("*",)).pairs(user) == [("Email", "a@x"), ("Tel", "1")]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"csrf_secret": None}, "'csrf_secret' is missing"),
        ({"csrf_secret": "a-secret-written-in-the-file-itself"}, "secret in plain text"),
        ({"csrf_secret": "env:SHORT"}, "shorter than 32"),
        ({"certificate": None}, "certificate and key are not set"),
        ({"colour": "blue"}, "unknown key"),
        ({"trusted_proxies": ["10.0.0.0/33"]}, "not an address or network"),
        ({"redis_url": "redis://:pw@127.0.0.1:6379/0"}, "password in plain text"),
        ({"redis_url": "http://127.0.0.1:6379"}, "not a Redis URL"),
        ({"limits": {"per_user": 0}}, "at least 1"),
        ({"limits": {"per_usr": 2}}, "unknown key"),
        ({"answer_time": -1}, "at least 0"),
        ({"validator": None}, "'validator' is missing"),
        ({"validator": {"kind": "radius"}}, "unknown validator kind"),
        ({"virtual_proxies": None}, "at least one"),
        ({"virtual_proxies": [{"prefix": "x"}]}, "names no profile"),
        ({"virtual_proxies": [{"profile": "nope"}]}, "no profile named 'nope'"),
        ({"virtual_proxies": [{"profile": "prod", "nodes": ["a/b"]}]}, "is not a host name"),
        ({"port": 70000}, "port number"),
        ({"tls": "yes"}, "must be bool"),
    ],
)
def test_bad_settings_name_the_file_and_key(
    tmp_path: Path, pki: TestPki, changes: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, pki, **changes)
    with pytest.raises(ConfigurationError, match=message) as error:
        load_settings(path, env={**ENV, "SHORT": "short"})
    assert str(path) in str(error.value)


def test_no_broker_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    ConfigFile(path, {"prod": Profile(name="prod", server="q.example")}).save()
    with pytest.raises(ConfigurationError, match="no \\[broker\\] table") as error:
        load_settings(path, env=ENV)
    assert "docs/broker.md" in str(error.value.hint)


def test_a_profile_without_certificates_cannot_ask_qps(tmp_path: Path, pki: TestPki) -> None:
    path = write(tmp_path, pki)
    file = ConfigFile.load(path)
    file.with_profile(Profile(name="prod", server="qlik1.corp.example")).save()
    with pytest.raises(ConfigurationError, match="has no client certificate"):
        load_settings(path, env=ENV)


def test_tls_files_that_do_not_load(tmp_path: Path, pki: TestPki) -> None:
    other = make_test_pki(tmp_path / "other", pfx_password="x")
    with pytest.raises(TlsError, match="does not belong"):
        load_settings(write(tmp_path, pki, key=str(other.server_key)), env=ENV)
    with pytest.raises(TlsError, match="does not exist"):
        load_settings(write(tmp_path, pki, key=str(tmp_path / "nope.pem")), env=ENV)


def test_tls_off_needs_no_certificate(tmp_path: Path, pki: TestPki) -> None:
    settings = load_settings(write(tmp_path, pki, tls=False, certificate=None, key=None), env=ENV)
    assert settings.server_context() is None
    trusted = load_settings(write(tmp_path, pki, trusted_proxies=["10.0.0.0/24"]), env=ENV)
    assert trusted.trusts("10.0.0.9") and not trusted.trusts("10.0.1.9")
    assert not trusted.trusts("not-an-address")
