"""An in-memory keyring backend for tests, and a fixture that installs it.

Tests that store secrets must not touch the real OS keyring (or fail where there is
none): :class:`MemoryKeyring` keeps passwords in a dict, and the ``memory_keyring``
fixture makes it the :mod:`keyring` backend for one test, restoring the previous one after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest

__all__ = ["MemoryKeyring", "memory_keyring", "using_keyring"]


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Keeps passwords in a dict, keyed by (service, user name)."""

    # Below the "fail" backend (0): keyring never picks this one by itself, so importing
    # it cannot change the backend of the rest of a process; install it explicitly.
    priority = -1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


@contextlib.contextmanager
def using_keyring(backend: keyring.backend.KeyringBackend) -> Iterator[None]:
    """Make ``backend`` the keyring for the ``with`` block, then restore the previous one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """A fresh :class:`MemoryKeyring` as the keyring backend for one test."""
    backend = MemoryKeyring()
    with using_keyring(backend):
        yield backend
