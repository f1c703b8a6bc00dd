"""Validators built from a configuration file's settings: built-ins and plug-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlikauth import Site, VirtualProxy
from qlikauth.errors import ConfigurationError
from qlikauth.pki import make_test_pki
from qlikauth.validators import (
    LdapValidator,
    LogonUserValidator,
    NtlmValidator,
    validator_from_settings,
)


def test_built_in_kinds(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "pki", ["dc1.corp.example.com"], pfx_password="x")
    ldap = validator_from_settings(
        {"kind": "ldap", "url": "ldaps://dc1.corp.example.com", "ca_file": str(pki.root)}
    )
    assert isinstance(ldap, LdapValidator) and ldap.port == 636
    logon = validator_from_settings({"kind": "logon", "default_domain": "CORP"})
    assert isinstance(logon, LogonUserValidator) and logon.default_domain == "CORP"
    site = Site("qlik.example.com", VirtualProxy("ticket", "X-Qlik-Session-ticket"))
    ntlm = validator_from_settings({"kind": "ntlm", "prefix": "win"}, site=site)
    assert isinstance(ntlm, NtlmValidator) and ntlm.site.prefix == "win"
    with pytest.raises(ConfigurationError, match="needs the site"):
        validator_from_settings({"kind": "ntlm"})


def test_a_plug_in_is_called_with_the_other_settings() -> None:
    plug_in = validator_from_settings(
        {"kind": "qlikauth.validators.logon:LogonUserValidator", "default_domain": "ACME"}
    )
    assert isinstance(plug_in, LogonUserValidator) and plug_in.default_domain == "ACME"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "radius"}, "unknown validator kind 'radius'"),
        ({}, "unknown validator kind None"),
        ({"kind": "a:b:c"}, "unknown validator kind"),
        ({"kind": "no_such_module_here:Thing"}, "cannot load the validator"),
        ({"kind": "qlikauth.validators:NoSuchName"}, "cannot load the validator"),
        ({"kind": "collections:OrderedDict"}, "not a validator"),
        ({"kind": "ldap", "url": "ldaps://dc", "colour": "red"}, "bad settings for the 'ldap'"),
    ],
)
def test_bad_settings_are_named(spec: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        validator_from_settings(spec)
