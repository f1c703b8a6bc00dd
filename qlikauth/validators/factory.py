"""Build a validator from settings, as a configuration file writes them.

``{"kind": "ldap", "url": ..., "ca_file": ...}`` is an
:class:`~qlikauth.validators.LdapValidator`, ``{"kind": "ntlm", "prefix": ""}`` an
:class:`~qlikauth.validators.NtlmValidator` on that virtual proxy of the site,
``{"kind": "logon"}`` a :class:`~qlikauth.validators.LogonUserValidator`, and
``{"kind": "package.module:name"}`` a plug-in: ``name`` is called with the other settings and
must return a :class:`~qlikauth.validators.Validator`. The ``windows`` authenticator and the
broker read their validators through here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qlikauth.errors import ConfigurationError
from qlikauth.validators.base import Validator

if TYPE_CHECKING:
    from qlikauth.site import Site

__all__ = ["BUILT_IN_KINDS", "check_validator_kind", "validator_from_settings"]

#: The validators named by a word; any other kind is ``package.module:name``.
BUILT_IN_KINDS = ("ldap", "ntlm", "logon")

_KIND_HINT = (
    f"set kind to one of {', '.join(BUILT_IN_KINDS)}, or to package.module:name for your "
    "own validator"
)


def check_validator_kind(kind: object) -> str:
    """``kind`` when it names a built-in validator or has the plug-in form, else an error."""
    if isinstance(kind, str) and (kind in BUILT_IN_KINDS or _plug_in_parts(kind) is not None):
        return kind
    raise ConfigurationError(f"unknown validator kind {kind!r}", hint=_KIND_HINT)


def _plug_in_parts(kind: str) -> tuple[str, str] | None:
    module, sep, name = kind.partition(":")
    parts = [*module.split("."), *name.split(".")]
    if not sep or not all(part.isidentifier() for part in parts):
        return None
    return module, name


def validator_from_settings(spec: Mapping[str, Any], *, site: Site | None = None) -> Validator:
    """The validator ``spec`` describes (see the module docstring).

    ``site`` is the Qlik site an ``ntlm`` validator logs in to. Bad settings are a
    :class:`~qlikauth.errors.ConfigurationError` naming the validator.
    """
    kind = check_validator_kind(spec.get("kind"))
    settings = {k: v for k, v in spec.items() if k != "kind"}
    try:
        if kind == "ldap":
            from qlikauth.validators.ldap import LdapValidator

            return LdapValidator(**settings)
        if kind == "logon":
            from qlikauth.validators.logon import LogonUserValidator

            return LogonUserValidator(**settings)
        if kind == "ntlm":
            return _ntlm(settings, site)
        return _plug_in(kind, settings)
    except TypeError as exc:
        raise ConfigurationError(
            f"bad settings for the {kind!r} validator: {exc}",
            hint="see help(qlikauth.validators) for the validator's settings",
        ) from exc


def _ntlm(settings: dict[str, Any], site: Site | None) -> Validator:
    from qlikauth.validators.ntlm import NtlmValidator

    prefix = str(settings.pop("prefix", ""))
    cookie_name = settings.pop("cookie_name", None)
    if site is None:
        raise ConfigurationError("the ntlm validator needs the site it logs in to")
    return NtlmValidator(site.with_prefix(prefix, cookie_name), **settings)


def _plug_in(kind: str, settings: dict[str, Any]) -> Validator:
    parts = _plug_in_parts(kind)
    assert parts is not None  # check_validator_kind said so
    module_name, name = parts
    try:
        target: Any = importlib.import_module(module_name)
        for attribute in name.split("."):
            target = getattr(target, attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"cannot load the validator {kind!r}: {exc}",
            hint="install the package that provides it, and check the module and name",
        ) from exc
    validator = target(**settings)
    if not isinstance(validator, Validator):
        raise ConfigurationError(
            f"{kind!r} made a {type(validator).__name__}, which is not a validator",
            hint="a validator has a name and validate(username, password)",
        )
    return validator
