"""What an authenticator needs that a profile does not give, said as how to give it."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qlikauth.config.references import is_secret_key
from qlikauth.config.schema import AUTH_ENV_PREFIX
from qlikauth.errors import ConfigurationError, MissingSettingsError

__all__ = ["missing_settings", "missing_settings_error"]


def missing_settings(name: str, settings: Mapping[str, Any]) -> list[str]:
    """The settings the authenticator ``name`` requires (no default) that ``settings`` lacks.

    Empty when ``settings`` also holds a name the constructor does not take: that mistake
    is the one to report first (the constructor does).
    """
    from qlikauth.auth.base import get_authenticator

    try:
        parameters = inspect.signature(get_authenticator(name)).parameters.values()
    except (TypeError, ValueError):
        return []  # not introspectable: the constructor itself says what is wrong
    required_positional = [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is inspect.Parameter.empty
    ]
    if required_positional:
        raise ConfigurationError(
            f"the {name!r} authenticator cannot be configured by named settings: its "
            f"constructor takes {', '.join(required_positional)} by position only",
            hint="Build it in Python and pass it to QlikClient, or ask its author to make "
            "the parameter a keyword.",
        )
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {p.name for p in parameters if p.kind in kinds}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    if not takes_any and not set(settings) <= named:
        return []
    return [
        p.name
        for p in parameters
        if p.kind in kinds and p.default is inspect.Parameter.empty and p.name not in settings
    ]


def missing_settings_error(
    name: str, missing: list[str], profile: str, config_path: Path
) -> MissingSettingsError:
    """The error for settings ``missing`` of authenticator ``name`` in ``profile`` (``""``
    without a profile): each setting with the ways to give it."""
    where = f"{config_path}: profile {profile!r}: " if profile else ""
    quoted = ", ".join(repr(k) for k in missing)
    table = f"[profiles.{profile or 'NAME'}.auth]"
    ways = []
    for key in missing:
        if is_secret_key(key):
            way = f'{key} = "env:VAR" or {key} = "keyring:NAME" under {table}'
        else:
            way = f"{key} = ... under {table}"
        if key == key.lower():  # environment names are read in lower case
            way += f", or the environment variable {AUTH_ENV_PREFIX}{key.upper()}"
        ways.append(way)
    plural = "s" if len(missing) > 1 else ""
    return MissingSettingsError(
        f"{where}the {name!r} authenticator needs the setting{plural} {quoted}, which "
        f"{'are' if plural else 'is'} not given",
        settings=missing,
        hint="Give " + "; ".join(ways) + ".",
    )
