"""Validators by kind, as configuration files name them: ``{kind = "ldap", url = ...}``.

Kinds register under the entry-point group ``qlikauth.validators``, the built-ins too
(``ldap``, ``ntlm``, ``logon``); a plug-in adds its own the same way. An entry point names
a class with ``from_settings(settings, site)``; a class that sets ``needs_site`` is built
for the site of the login it serves (the ``ntlm`` kind logs in to that site's Windows
virtual proxy). Nothing here imports a validator: :mod:`qlikauth.auth.windows` builds its
validator from settings without depending on LDAP or HTTP code.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from qlikauth.errors import ConfigurationError
from qlikauth.site import Site
from qlikauth.validators.base import Validator

__all__ = ["ENTRY_POINT_GROUP", "available_validators", "build_validator", "check_validator_spec"]

log = logging.getLogger("qlikauth.validators")

ENTRY_POINT_GROUP = "qlikauth.validators"


@functools.cache
def available_validators() -> Mapping[str, Any]:
    """Every validator class registered under ``qlikauth.validators``, by kind.

    A plug-in that fails to load is logged and skipped.
    """
    found: dict[str, Any] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry_point.load()
        except Exception as exc:  # third-party code may fail in any way
            log.warning(
                "could not load validator plug-in %r: %s: %s",
                entry_point.value,
                type(exc).__name__,
                exc,
            )
            continue
        if not callable(getattr(cls, "from_settings", None)):
            log.warning("validator plug-in %r has no from_settings(); skipped", entry_point.value)
            continue
        found[entry_point.name] = cls
    return found


def _kind_of(spec: Mapping[str, Any]) -> Any:
    registry = available_validators()
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in registry:
        raise ConfigurationError(
            f"unknown validator kind {kind!r}",
            hint=f"set kind to one of {', '.join(sorted(registry))}, or pass a Validator",
        )
    return registry[kind]


def build_validator(spec: Mapping[str, Any], site: Site | None) -> Validator:
    """The validator a settings table describes (``site``: the login's, for ``ntlm``)."""
    cls = _kind_of(spec)
    settings = {k: v for k, v in spec.items() if k != "kind"}
    if getattr(cls, "needs_site", False) and site is None:
        raise ConfigurationError(f"the {spec['kind']} validator needs the site it logs in to")
    try:
        validator = cls.from_settings(settings, site)
    except TypeError as exc:
        raise ConfigurationError(
            f"bad settings for the {spec['kind']!r} validator: {exc}",
            hint="see help(qlikauth.validators) for the validator's settings",
        ) from exc
    if not isinstance(validator, Validator):
        raise ConfigurationError(f"the {spec['kind']!r} validator plug-in built no Validator")
    return validator


def check_validator_spec(spec: Mapping[str, Any]) -> None:
    """Refuse a settings table now, when the profile loads, rather than at the first login.

    A kind that needs no site is built once (its constructor checks its settings; it does
    no I/O); the others are checked for their kind only.
    """
    cls = _kind_of(spec)
    if not getattr(cls, "needs_site", False):
        build_validator(spec, None)
