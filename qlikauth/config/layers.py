"""Profile < environment < options: which value of each setting wins, and where it came from.

Nothing here builds a site or reads a secret: the layers give plain values with their
sources (``file: profile 'prod': key 'prefix'``, ``environment variable QLIKAUTH_PREFIX``,
``option --prefix``), and :mod:`qlikauth.config.resolution` builds from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlikauth.config.profiles import ConfigFile, Profile
from qlikauth.config.schema import AUTH_ENV_PREFIX, ENVIRONMENT, PROFILE_ENV, environment_value

__all__ = ["OPTION_KEYS", "Layered", "Options", "layer", "pick_profile"]


@dataclass(frozen=True)
class Options:
    """What the command line says; ``None`` (or ``False``) leaves the lower layers alone."""

    server: str | None = None
    prefix: str | None = None
    cookie_name: str | None = None
    certs: str | None = None
    root: str | None = None
    insecure: bool = False
    timeout: float | None = None
    authenticator: str | None = None
    auth: Mapping[str, Any] = field(default_factory=dict)


#: The :class:`Options` that set the profile key of the same name (``--cookie-name`` sets
#: ``cookie_name``); ``insecure`` sets ``verify = false``.
OPTION_KEYS = ("server", "prefix", "cookie_name", "certs", "root", "timeout", "authenticator")


@dataclass
class Layered:
    """Site values and authenticator settings after layering, and where each came from
    (``sources``: a site key, or ``auth.SETTING``)."""

    values: dict[str, Any] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: Any, source: str) -> None:
        """Set the site key ``key`` from ``source``, over what lower layers said."""
        self.values[key], self.sources[key] = value, source

    def set_auth(self, setting: str, value: Any, source: str) -> None:
        """Set the authenticator setting ``setting`` from ``source``."""
        self.auth[setting], self.sources[f"auth.{setting}"] = value, source


def pick_profile(config: ConfigFile, name: str | None, env: Mapping[str, str]) -> Profile:
    """The profile ``name``, else ``$QLIKAUTH_PROFILE``, else the file's default, else its
    only profile, else an empty one (named ``""``)."""
    chosen = name or env.get(PROFILE_ENV) or config.default_profile
    if chosen:
        return config.profile(chosen)
    if len(config.profiles) == 1:
        return next(iter(config.profiles.values()))
    return Profile(name="")


def layer(profile: Profile, config_path: Path, env: Mapping[str, str], options: Options) -> Layered:
    """Merge the profile, then the ``QLIKAUTH_*`` environment, then the options."""
    layered = Layered()
    in_file = f"{config_path}: profile {profile.name!r}: key"
    for key, value in profile.values().items():
        layered.set(key, value, f"{in_file} {key!r}")
    for setting, value in profile.auth.items():
        layered.set_auth(setting, value, f"{in_file} 'auth.{setting}'")
    for var, key in ENVIRONMENT.items():
        raw = env.get(var)
        if raw:
            where = f"environment variable {var}"
            layered.set(key, environment_value(key, raw, where), where)
    for var, raw in env.items():
        if var in ENVIRONMENT:  # QLIKAUTH_AUTH_PORT is the port, not a setting "port"
            continue
        if var.startswith(AUTH_ENV_PREFIX) and len(var) > len(AUTH_ENV_PREFIX):
            setting = var[len(AUTH_ENV_PREFIX) :].lower()
            layered.set_auth(setting, raw, f"environment variable {var}")
    for key in OPTION_KEYS:
        value = getattr(options, key)
        if value is not None:
            layered.set(key, value, f"option --{key.replace('_', '-')}")
    if options.insecure:
        layered.set("verify", False, "option --insecure")
    for setting, value in options.auth.items():
        layered.set_auth(setting, value, f"option for auth setting {setting!r}")
    return layered
