"""Secrets in the operating system's keyring: passwords, passphrases, cached sessions.

qlikauth keeps every secret under one keyring *service*, ``qlikauth``, and names each one
``<profile>:<kind>``, for example ``prod:password`` or ``prod:pfx-password``. The keyring
is Windows Credential Manager on Windows, the Keychain on macOS and the Secret Service
(GNOME Keyring, KWallet) on Linux; the :mod:`keyring` package picks it.

Secrets come from the keyring, from :func:`prompt_secret` (no echo), from the environment
or from files with tight permissions - never from a command-line argument, which every
user of the machine can read in the process list.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import TypeVar

from qlikauth.errors import ConfigurationError

__all__ = [
    "KINDS",
    "SERVICE",
    "backend_name",
    "delete_secret",
    "get_secret",
    "prompt_secret",
    "secret_name",
    "set_secret",
]

#: The keyring service every qlikauth secret is stored under.
SERVICE = "qlikauth"

#: The kinds of secret qlikauth stores, and what each one is.
KINDS: dict[str, str] = {
    "password": "the password of the profile's Windows or forms user",
    "pfx-password": "the password of the profile's client.pfx",
    "key-passphrase": "the passphrase of the profile's client or JWT signing key",
    "session": "a cached proxy session of the profile",
}

_NO_BACKEND_HINT = (
    "install or unlock a keyring: on Linux run a Secret Service (GNOME Keyring or KWallet) "
    "and pip install secretstorage dbus-python, or pip install keyrings.alt for a file "
    "store; Windows and macOS have one built in. Or choose one with PYTHON_KEYRING_BACKEND"
)

T = TypeVar("T")


def secret_name(profile: str, kind: str) -> str:
    """The keyring user name of a profile's secret: ``<profile>:<kind>``."""
    if not profile or ":" in profile or not profile.isprintable():
        raise ConfigurationError(
            f"bad profile name {profile!r} for the keyring",
            hint="use a non-empty name without ':' or control characters",
        )
    if kind not in KINDS:
        raise ConfigurationError(
            f"unknown kind of secret {kind!r}", hint=f"use one of: {', '.join(KINDS)}"
        )
    return f"{profile}:{kind}"


def _check_name(name: str, service: str) -> None:
    if not name or not service or not (name.isprintable() and service.isprintable()):
        raise ConfigurationError(
            f"bad keyring entry {name!r} in service {service!r}",
            hint="use a non-empty name without control characters",
        )


def _call(action: str, name: str, service: str, fn: Callable[[], T]) -> T:
    """Run one keyring call; translate its errors (which never hold the secret)."""
    import keyring.errors

    try:
        return fn()
    except keyring.errors.NoKeyringError as exc:
        raise ConfigurationError(
            f"cannot {action} {name!r} in service {service!r}: no keyring is available",
            hint=_NO_BACKEND_HINT,
        ) from exc
    except keyring.errors.KeyringLocked as exc:
        raise ConfigurationError(
            f"cannot {action} {name!r} in service {service!r}: the keyring is locked",
            hint="unlock the keyring (log in to the desktop session) and try again",
        ) from exc
    except keyring.errors.KeyringError as exc:
        raise ConfigurationError(
            f"cannot {action} {name!r} in service {service!r}: {type(exc).__name__}: {exc}",
            hint=f"check the keyring ({backend_name()}) works: keyring --list-backends",
        ) from exc


def get_secret(name: str, *, service: str = SERVICE) -> str | None:
    """The secret stored as ``name`` (see :func:`secret_name`), or ``None`` if none is."""
    import keyring

    _check_name(name, service)
    secret: str | None = _call("read", name, service, lambda: keyring.get_password(service, name))
    return secret


def set_secret(name: str, secret: str, *, service: str = SERVICE) -> None:
    """Store ``secret`` as ``name``, replacing what was there."""
    import keyring

    _check_name(name, service)
    if not secret:
        raise ConfigurationError(f"refusing to store an empty secret as {name!r}")
    _call("store", name, service, lambda: keyring.set_password(service, name, secret))


def delete_secret(name: str, *, service: str = SERVICE) -> bool:
    """Delete the secret stored as ``name``; ``False`` when there was none."""
    import keyring
    import keyring.errors

    _check_name(name, service)

    def delete() -> bool:
        try:
            keyring.delete_password(service, name)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    return _call("delete", name, service, delete)


def backend_name() -> str:
    """The keyring backend in use, for messages and ``doctor`` output."""
    import keyring

    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def prompt_secret(prompt: str, *, confirm: bool = False) -> str:
    """Ask for a secret on the terminal without echoing it.

    With ``confirm`` the secret is asked twice and must match (use it when storing).
    """
    try:
        secret = getpass.getpass(prompt)
        again = getpass.getpass("again: ") if confirm else secret
    except EOFError as exc:
        raise ConfigurationError(
            "no secret was entered: the input closed",
            hint="run in a terminal, or store the secret in the keyring first",
        ) from exc
    if not secret:
        raise ConfigurationError("no secret was entered", hint="type the secret, then Enter")
    if secret != again:
        raise ConfigurationError("the two entries differ", hint="type the same secret twice")
    return secret
