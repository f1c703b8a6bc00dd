"""Secret references: a secret setting names where its value lives, never the value itself.

``keyring:<name>`` is a secret in the OS keyring (service ``qlikauth``, through
:mod:`qlikauth.keystore`); ``env:<VAR>`` is an environment variable. References are kept as
written in profiles and resolved only when a site or an authenticator is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from qlikauth import keystore
from qlikauth.errors import ConfigurationError

__all__ = [
    "KEYRING_SERVICE",
    "is_reference",
    "is_secret_key",
    "redacted",
    "reference_problem",
    "resolve_references",
    "resolve_secret",
]

#: The keyring service under which ``keyring:<name>`` references are looked up.
KEYRING_SERVICE = keystore.SERVICE

_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_WORDS = (
    "password",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "ticket",
    "session_id",
)
_REFERENCE_SCHEMES = ("keyring:", "env:")


def is_secret_key(name: str) -> bool:
    """Whether a setting named ``name`` holds a secret (and so must be a reference)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def is_reference(value: object) -> bool:
    """Whether ``value`` is a secret reference, ``keyring:<name>`` or ``env:<VAR>``."""
    return isinstance(value, str) and value.startswith(_REFERENCE_SCHEMES)


def reference_problem(value: str) -> str | None:
    """What is wrong with the reference ``value``, or ``None``."""
    scheme, _, name = value.partition(":")
    if not name:
        return f"the reference {value!r} names nothing after '{scheme}:'"
    if scheme == "env" and not _ENV_NAME_RE.fullmatch(name):
        return f"{name!r} is not an environment variable name"
    return None


def _keystore_lookup(name: str) -> str | None:
    """The keyring secret ``name`` (service ``qlikauth``)."""
    return keystore.get_secret(name)


def resolve_secret(
    reference: str,
    *,
    env: Mapping[str, str] | None = None,
    where: str = "",
    lookup: Callable[[str], str | None] | None = None,
) -> str:
    """The secret a ``keyring:<name>`` or ``env:<VAR>`` reference points to.

    ``where`` says which setting the reference came from, for the error message (which
    never contains the secret).
    """
    environ = os.environ if env is None else env
    prefix = f"{where}: " if where else ""
    problem = reference_problem(reference) if is_reference(reference) else "not a reference"
    if problem is not None:
        raise ConfigurationError(
            f"{prefix}{problem}",
            hint="Write keyring:NAME (a secret stored in the OS keyring) or env:VAR.",
        )
    scheme, _, name = reference.partition(":")
    if scheme == "env":
        value = environ.get(name)
        if value is None:
            raise ConfigurationError(
                f"{prefix}the environment variable {name} is not set",
                hint=f"export {name}=... before running, or store the secret in the keyring.",
            )
        return value
    try:
        found = (lookup or _keystore_lookup)(name)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{prefix}{exc.message}", hint=exc.hint) from exc
    if found is None:
        raise ConfigurationError(
            f"{prefix}the keyring holds no secret named {name!r} (service {KEYRING_SERVICE!r})",
            hint=f"Store it first: keyring set {KEYRING_SERVICE} {name}",
        )
    return found


def redacted(value: object, key: str) -> object:
    """``value`` fit to show: references as they are, any other secret as ``[secure]``
    (also inside a table, such as a validator's ``bind_password``)."""
    if isinstance(value, dict):
        return {k: redacted(v, k) for k, v in value.items()}
    if is_secret_key(key) and not is_reference(value) and value not in (None, ""):
        return "[secure]"
    return value


def resolve_references(
    settings: Mapping[str, Any], sources: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, Any]:
    """``settings`` with every reference resolved, also one table deep (a validator's
    ``bind_password``); ``sources`` names where each setting came from, for errors."""
    resolved: dict[str, Any] = {}
    for key, value in settings.items():
        where = sources.get(f"auth.{key}", key)
        if isinstance(value, str) and is_reference(value):
            resolved[key] = resolve_secret(value, env=env, where=where)
        elif isinstance(value, dict):
            resolved[key] = {
                k: resolve_secret(v, env=env, where=f"{where}: {k}")
                if isinstance(v, str) and is_reference(v)
                else v
                for k, v in value.items()
            }
        else:
            resolved[key] = value
    return resolved
