"""Methods written once for a synchronous and an asyncio owner.

A class's I/O-free logic is a generator of steps; two owners run it: a :class:`SyncDriver`
performs each step on the calling thread, an :class:`AsyncDriver` awaits it. Decorated
with :func:`operation`, a method that *builds* those steps becomes, looked up on the sync
owner, a method that returns the result, and on the asyncio owner one that returns a
coroutine of it. :func:`constructor` does the same for an alternative constructor (a
classmethod): ``Connection.open(...)`` returns the connection, ``AsyncConnection.open(...)``
an awaitable one. Types follow in both cases, so each public method is described once.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = [
    "AsyncDriver",
    "Constructor",
    "Operation",
    "Steps",
    "SyncDriver",
    "constructor",
    "operation",
    "operation_returning",
]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")
A = TypeVar("A")

#: What an operation builds: a generator that yields steps, receives their outcomes and
#: returns ``T``.
Steps = Generator[Any, Any, T]


class SyncDriver:
    """An owner that performs its operations' steps on the calling thread."""

    def _run(self, steps: Steps[T]) -> T:
        raise NotImplementedError


class AsyncDriver:
    """An owner that awaits its operations' steps on an asyncio loop."""

    async def _run(self, steps: Steps[T]) -> T:
        raise NotImplementedError


SyncOwner = TypeVar("SyncOwner", bound=SyncDriver)
AsyncOwner = TypeVar("AsyncOwner", bound=AsyncDriver)


class Operation(Generic[P, S, A]):
    """A method written once: ``build(owner, ...)`` returns the steps to run.

    On a :class:`SyncDriver` the method returns ``S``; on an :class:`AsyncDriver` a coroutine
    of ``A`` (the same type, unless the owners hand out objects of their own kind).
    """

    def __init__(self, build: Callable[Concatenate[Any, P], Steps[Any]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

        def run(owner: Any, /, *args: Any, **kwargs: Any) -> Any:
            return owner._run(build(owner, *args, **kwargs))

        # Wrapped once here, bound per lookup: the lookup stays as cheap as a method's.
        self._method: Callable[..., Any] = functools.update_wrapper(run, build)

    @overload
    def __get__(self, owner: None, cls: type | None = None) -> Operation[P, S, A]: ...

    @overload
    def __get__(self, owner: SyncDriver, cls: type | None = None) -> Callable[P, S]: ...

    @overload
    def __get__(
        self, owner: AsyncDriver, cls: type | None = None
    ) -> Callable[P, Coroutine[Any, Any, A]]: ...

    def __get__(self, owner: Any, cls: type | None = None) -> Any:
        if owner is None:
            return self
        return types.MethodType(self._method, owner)


def operation(build: Callable[Concatenate[Any, P], Steps[T]]) -> Operation[P, T, T]:
    """Decorate a method that builds steps returning ``T`` on both owners."""
    return Operation(build)


def operation_returning(
    sync_type: type[S], async_type: type[A]
) -> Callable[[Callable[Concatenate[Any, P], Steps[Any]]], Operation[P, S, A]]:
    """Decorate a method whose steps return ``sync_type`` on the sync owner and
    ``async_type`` on the asyncio one (an object of the owner's own kind)."""

    def decorate(build: Callable[Concatenate[Any, P], Steps[Any]]) -> Operation[P, S, A]:
        return Operation(build)

    return decorate


class Constructor(Generic[P]):
    """An alternative constructor written once: ``build(cls, ...)`` says what to make, and
    the class's ``_make(what)`` makes it (returning the instance, or a coroutine of it)."""

    def __init__(self, build: Callable[Concatenate[Any, P], object]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

        def make(cls: Any, /, *args: Any, **kwargs: Any) -> Any:
            return cls._make(build(cls, *args, **kwargs))

        self._make: Callable[..., Any] = functools.update_wrapper(make, build)

    @overload
    def __get__(self, instance: object, cls: type[SyncOwner]) -> Callable[P, SyncOwner]: ...

    @overload
    def __get__(
        self, instance: object, cls: type[AsyncOwner]
    ) -> Callable[P, Coroutine[Any, Any, AsyncOwner]]: ...

    def __get__(self, instance: object, cls: type[Any]) -> Any:
        return types.MethodType(self._make, cls)


def constructor(build: Callable[Concatenate[Any, P], object]) -> Constructor[P]:
    """Decorate a classmethod-like builder (its first argument is the class)."""
    return Constructor(build)
