"""Validators by kind, as profiles name them (the ``qlikauth.validators`` entry points)."""

from __future__ import annotations

import pytest

from qlikauth import ConfigurationError, Site, VirtualProxy
from qlikauth.validators import LdapValidator, NtlmValidator
from qlikauth.validators.registry import (
    available_validators,
    build_validator,
    check_validator_spec,
)

SITE = Site("qlik.example.com", VirtualProxy("hdr", "X-Qlik-Session-hdr"))


def test_the_built_in_kinds_register_like_plug_ins() -> None:
    assert {"ldap", "logon", "ntlm"} <= set(available_validators())


def test_an_ldap_table_builds_an_ldap_validator() -> None:
    validator = build_validator({"kind": "ldap", "url": "ldaps://dc1.corp.example.com"}, None)
    assert isinstance(validator, LdapValidator)


def test_an_ntlm_table_is_built_for_the_login_site_on_its_own_prefix() -> None:
    spec = {"kind": "ntlm", "prefix": "", "default_domain": "CORP"}
    validator = build_validator(spec, SITE)
    assert isinstance(validator, NtlmValidator)
    assert validator.site.prefix == "" and validator.site.host == SITE.host
    with pytest.raises(ConfigurationError, match="needs the site"):
        build_validator(spec, None)
    check_validator_spec(spec)  # a site-bound kind is checked for its kind only


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"kind": "radius"}, "unknown validator kind 'radius'"),
        ({}, "unknown validator kind None"),
        ({"kind": "ldap", "url": "ldaps://dc", "colour": "blue"}, "bad settings for the 'ldap'"),
    ],
)
def test_bad_tables_are_refused_when_the_profile_loads(spec: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        check_validator_spec(spec)
    if "unknown" in match:
        assert "ldap, logon, ntlm" in (info.value.hint or "")
