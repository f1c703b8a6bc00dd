"""Drive generators of steps: perform each step they yield, send back what it gave.

A login flow yields :class:`~qlikauth.http.values.HttpRequest` values; a client operation
yields requests and other steps. Either way the generator does no I/O, and one generator
serves both drivers: :func:`drive` performs steps synchronously, :func:`drive_async` awaits
them. A step that fails with a :class:`~qlikauth.errors.QlikAuthError` (a timeout, a
refusal) is thrown into the generator where it yielded that step, so the generator can
clean up (end a session it made) and re-raise or recover.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from qlikauth.errors import QlikAuthError
from qlikauth.http.values import Flow, Sender

__all__ = ["drive", "drive_async", "run_flow", "run_flow_async"]

S = TypeVar("S")
T = TypeVar("T")


def drive(steps: Generator[S, Any, T], perform: Callable[[S], Any]) -> T:
    """Run ``steps`` to its result, performing each step with ``perform``.

    A step that fails with a qlikauth error, or is interrupted by Ctrl-C, has the exception
    thrown into ``steps``, so a flow can undo what it did (end the session a login made);
    a second Ctrl-C during that undoing ends it.
    """
    try:
        step = next(steps)
        while True:
            try:
                outcome = perform(step)
            except (QlikAuthError, KeyboardInterrupt) as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(outcome)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        steps.close()


async def drive_async(steps: Generator[S, Any, T], perform: Callable[[S], Awaitable[Any]]) -> T:
    """:func:`drive` on asyncio: each step's outcome is awaited (the language has no
    way to write this loop once for both)."""
    try:
        step = next(steps)
        while True:
            try:
                outcome = await perform(step)
            except (QlikAuthError, KeyboardInterrupt) as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(outcome)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        steps.close()


def run_flow(flow: Flow[T], transport: Sender) -> T:
    """Drive a login (or logout) flow synchronously: send each request, return its result."""
    return drive(flow, transport.send)


async def run_flow_async(flow: Flow[T], transport: Sender) -> T:
    """Drive a flow on asyncio: the same flow, each request sent in a worker thread."""
    return await drive_async(flow, lambda request: asyncio.to_thread(transport.send, request))
