"""What a client operation asks its driver to do, as values: the operation does no I/O.

Every operation of :class:`~qlikauth.client.QlikClient` and
:class:`~qlikauth.client.AsyncQlikClient` is written once, as a generator of these steps
(:data:`Op`); the sync driver performs them on the calling thread, the asyncio driver
awaits them. A step that fails with a :class:`~qlikauth.errors.QlikAuthError` is thrown
back into the operation at that step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from qlikauth.credentials import Credentials
from qlikauth.http.values import HttpRequest

__all__ = ["Blocking", "Download", "Exclusive", "Invoke", "Login", "Op", "OpenEngine", "Step"]

T = TypeVar("T")


@dataclass(frozen=True)
class Login:
    """Give me usable credentials.

    ``stale`` are credentials the server just refused: replace them unless another thread
    or task already did. Without ``stale``, log in only if there are none or they expired.
    """

    stale: Credentials | None = None


@dataclass(frozen=True)
class Blocking(Generic[T]):
    """Call ``fn``, which may block (a directory check, a download): the asyncio driver runs
    it in a worker thread."""

    fn: Callable[[], T]


@dataclass(frozen=True)
class Invoke(Generic[T]):
    """Call ``fn`` on an object of the driver's own kind (an engine connection) and give me
    its result, awaited when the driver is the asyncio one."""

    fn: Callable[[], T | Awaitable[T]]


@dataclass(frozen=True)
class Exclusive(Generic[T]):
    """Run ``op`` while holding the client's lock (nothing else logs in or out meanwhile)."""

    op: Generator[Step, Any, T]


@dataclass(frozen=True)
class OpenEngine:
    """Open an engine websocket with ``credentials`` (the driver's connection class)."""

    credentials: Credentials
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Download:
    """Download a ``qUrl`` with ``credentials`` over the driver's transport
    (:func:`qlikauth.download.download`; ``options`` are its keyword arguments)."""

    credentials: Credentials
    options: Mapping[str, Any] = field(default_factory=dict)


Step = HttpRequest | Login | Blocking[Any] | Invoke[Any] | Exclusive[Any] | OpenEngine | Download
#: An operation: yields steps, receives their outcomes (or their errors), returns ``T``.
Op = Generator[Step, Any, T]
