"""The profile keys: each key's type, the environment variable that overrides it, its checks.

Every check names where a bad value came from (file, profile and key; environment variable;
option) and never shows a secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from qlikauth.config.references import is_reference, is_secret_key, reference_problem
from qlikauth.errors import ConfigurationError

__all__ = [
    "AUTH_ENV_PREFIX",
    "CONFIG_ENV",
    "ENVIRONMENT",
    "KEYS",
    "PORTS",
    "PROFILE_ENV",
    "Key",
    "check_auth_value",
    "check_profile_name",
    "check_value",
    "environment_value",
]

#: The environment variable naming the configuration file.
CONFIG_ENV = "QLIKAUTH_CONFIG"
#: The environment variable naming the profile to use.
PROFILE_ENV = "QLIKAUTH_PROFILE"
#: Prefix of environment variables that set authenticator settings
#: (``QLIKAUTH_AUTH_USER=alice`` sets ``user``).
AUTH_ENV_PREFIX = "QLIKAUTH_AUTH_"

Kind = Literal["str", "port", "bool", "float"]


@dataclass(frozen=True)
class Key:
    """One profile key: its type, and the environment variable that overrides it."""

    kind: Kind
    env: str | None


#: Every profile key (in the order profiles are written), its type, its ``QLIKAUTH_*``
#: override.
KEYS: Mapping[str, Key] = MappingProxyType(
    {
        "server": Key("str", "QLIKAUTH_SERVER"),
        "prefix": Key("str", "QLIKAUTH_PREFIX"),
        "cookie_name": Key("str", "QLIKAUTH_COOKIE_NAME"),
        "scheme": Key("str", "QLIKAUTH_SCHEME"),
        "proxy_port": Key("port", "QLIKAUTH_PROXY_PORT"),
        "qps_port": Key("port", "QLIKAUTH_QPS_PORT"),
        "qrs_port": Key("port", "QLIKAUTH_QRS_PORT"),
        "engine_port": Key("port", "QLIKAUTH_ENGINE_PORT"),
        "auth_port": Key("port", "QLIKAUTH_AUTH_PORT"),
        "websocket_origin": Key("str", "QLIKAUTH_WEBSOCKET_ORIGIN"),
        "certs": Key("str", "QLIKAUTH_CERTS"),
        "certs_password": Key("str", "QLIKAUTH_CERTS_PASSWORD"),
        "root": Key("str", "QLIKAUTH_ROOT"),
        "verify": Key("bool", None),
        "timeout": Key("float", "QLIKAUTH_TIMEOUT"),
        "authenticator": Key("str", "QLIKAUTH_AUTHENTICATOR"),
    }
)

#: The port keys, as :class:`~qlikauth.site.Site` takes them.
PORTS = tuple(name for name, key in KEYS.items() if key.kind == "port")

#: The ``QLIKAUTH_*`` environment variables and the profile key each overrides. An
#: environment variable holds the value itself (``QLIKAUTH_CERTS_PASSWORD`` the password),
#: never a reference. ``QLIKAUTH_AUTH_<SETTING>`` sets an authenticator setting.
ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {key.env: name for name, key in KEYS.items() if key.env is not None}
)

_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SETTING_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _text_problem(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, not {type(value).__name__}"


def _bool_problem(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _port_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        return f"must be a port number from 1 to 65535, not {value!r}"
    return None


def _seconds_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return f"must be a positive number of seconds, not {value!r}"
    return None if math.isfinite(value) else "must be finite"


def _number_or_text(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Read environment text as a number, or keep the text (the check then names it)."""

    def read(raw: str) -> Any:
        try:
            return parse(raw)
        except ValueError:
            return raw

    return read


@dataclass(frozen=True)
class _Check:
    """How values of one kind are checked, written, and read from the environment."""

    problem: Callable[[Any], str | None]
    example: str
    convert: Callable[[Any], Any] = lambda value: value
    from_text: Callable[[str], Any] = lambda raw: raw


_CHECKS: Mapping[Kind, _Check] = MappingProxyType(
    {
        "str": _Check(_text_problem, 'Write {key} = "..." in quotes.'),
        "bool": _Check(_bool_problem, "Write {key} = true (no quotes)."),
        "port": _Check(
            _port_problem,
            "Write {key} = 4243 (a number, no quotes).",
            from_text=_number_or_text(int),
        ),
        "float": _Check(
            _seconds_problem, "Write {key} = 30.", convert=float, from_text=_number_or_text(float)
        ),
    }
)


def check_value(key: str, value: Any, where: str) -> Any:
    """``value`` of the profile key ``key``, converted to its type, or a
    :class:`~qlikauth.errors.ConfigurationError` that begins with ``where``."""
    check = _CHECKS[KEYS[key].kind]
    problem = check.problem(value)
    if problem is not None:
        raise ConfigurationError(f"{where} {problem}", hint=check.example.format(key=key))
    return check.convert(value)


def environment_value(key: str, raw: str, where: str) -> Any:
    """The value of profile key ``key`` given as environment text ``raw``, checked."""
    return check_value(key, _CHECKS[KEYS[key].kind].from_text(raw), where)


def check_auth_value(key: str, value: Any, where: Callable[[str], str]) -> Any:
    """An authenticator setting as written in a profile: a name Python takes, a flat
    value, no private key and no secret in plain text. ``where(key)`` names its place."""
    if not _SETTING_RE.fullmatch(key):
        raise ConfigurationError(
            f"{where(key)}: not a valid setting name",
            hint="Authenticator settings are Python identifiers, e.g. header_name.",
        )
    scalar = (str, int, float, bool)
    if isinstance(value, list):
        if not all(isinstance(v, scalar) for v in value):
            raise ConfigurationError(
                f"{where(key)}: a list may hold only strings, numbers and booleans",
                hint="Flatten the value.",
            )
    elif isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, scalar) for k, v in value.items()):
            raise ConfigurationError(
                f"{where(key)}: a table may hold only strings, numbers and booleans",
                hint="Flatten the value.",
            )
        for inner, item in value.items():
            _check_secret(f"{key}.{inner}", inner, item, where)
        return value
    elif not isinstance(value, scalar):
        raise ConfigurationError(f"{where(key)}: unsupported value", hint="Use a string.")
    if isinstance(value, str) and "PRIVATE KEY-----" in value:
        raise ConfigurationError(
            f"{where(key)} holds a private key in plain text; secrets are never stored in the "
            "configuration file",
            hint=f"Give the key file's path, or store the PEM in the keyring and write {key} = "
            '"keyring:NAME".',
        )
    _check_secret(key, key, value, where)
    return value


def _check_secret(path: str, key: str, value: Any, where: Callable[[str], str]) -> None:
    """A secret setting (``path``, named ``key``) must be a reference, also inside a table."""
    if isinstance(value, str) and is_reference(value):
        problem = reference_problem(value)
        if problem is not None:
            raise ConfigurationError(
                f"{where(path)}: {problem}", hint="Write keyring:NAME or env:VAR."
            )
    elif is_secret_key(key):
        raise ConfigurationError(
            f"{where(path)} holds a secret in plain text; secrets are never stored in the "
            "configuration file",
            hint=f'Store it in the keyring and write {key} = "keyring:NAME", or in an '
            f'environment variable and write {key} = "env:VAR".',
        )


def check_profile_name(name: str, where: str) -> str:
    """``name`` if it is a valid profile name; ``where`` begins the error otherwise."""
    if not _PROFILE_NAME_RE.fullmatch(name):
        raise ConfigurationError(
            f"{where}invalid profile name {name!r}",
            hint="Profile names are 1-64 letters, digits, '-' or '_'.",
        )
    return name
