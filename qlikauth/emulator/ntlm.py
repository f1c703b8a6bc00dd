"""The NTLM / Negotiate(NTLM) acceptor of the internal Windows authentication module.

NTLM authenticates the TCP connection, not the request: the acceptor's state is kept per
transport (a kept-alive connection), never per cookie. pyspnego's NTLM acceptor reads its
user store from the file named by ``NTLM_USER_FILE`` each time it builds an acceptor and
each time it checks an AUTHENTICATE message, so every call into it runs with that variable
pointing at this emulator's own file, under a process-wide lock (several emulators may run
in one process, each with its own users).
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spnego
import spnego.exceptions

from qlikauth._files import atomic_write
from qlikauth.emulator.config import WindowsUser

__all__ = ["NtlmAcceptors", "NtlmResult", "parse_authorization"]

_ENV = "NTLM_USER_FILE"
_env_lock = threading.Lock()


@contextlib.contextmanager
def _user_file(path: Path) -> Iterator[None]:
    with _env_lock:
        previous = os.environ.get(_ENV)
        os.environ[_ENV] = str(path)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(_ENV, None)
            else:
                os.environ[_ENV] = previous


@dataclass(frozen=True)
class NtlmResult:
    """One step's outcome: a token to send back, and the user once complete."""

    scheme: str
    token: bytes | None = field(repr=False)
    user: str | None = None
    error: str | None = None


class NtlmAcceptors:
    """Acceptor contexts per connection, checking passwords against the emulator's users."""

    def __init__(
        self, user_file: Path, domain: str, users: Sequence[WindowsUser], hostname: str
    ) -> None:
        lines = [f"{domain}:{u.name}:{u.password}" for u in users]
        atomic_write(user_file, ("\n".join(lines) + "\n").encode("utf-8"))
        self._file = user_file
        self._hostname = hostname
        self._contexts: weakref.WeakKeyDictionary[Any, tuple[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def step(self, connection: Any, scheme: str, token: bytes) -> NtlmResult:
        """Feed one client token for this connection (``scheme`` is NTLM or Negotiate)."""
        protocol = "ntlm" if scheme.lower() == "ntlm" else "negotiate"
        existing = self._contexts.get(connection)
        with _user_file(self._file):
            try:
                if existing is None or existing[0] != protocol:
                    context = spnego.server(
                        hostname=self._hostname, service="http", protocol=protocol
                    )
                    self._contexts[connection] = (protocol, context)
                else:
                    context = existing[1]
                out = context.step(token)
            except (spnego.exceptions.SpnegoError, ValueError) as exc:
                self._contexts.pop(connection, None)
                return NtlmResult(scheme, None, error=type(exc).__name__)
        if context.complete:
            self._contexts.pop(connection, None)
            return NtlmResult(scheme, out, user=str(context.client_principal))
        return NtlmResult(scheme, out)


def parse_authorization(value: str | None) -> tuple[str, bytes] | None:
    """(scheme, token) from ``Authorization: NTLM|Negotiate <base64>``."""
    if not value or " " not in value:
        return None
    scheme, _, data = value.partition(" ")
    if scheme.lower() not in ("ntlm", "negotiate"):
        return None
    try:
        return scheme, base64.b64decode(data.strip(), validate=True)
    except ValueError:
        return None
