"""Drive flows: send each request a flow yields, hand back the response, return its result.

One flow serves both drivers: :func:`run_flow` (sync) and :func:`run_flow_async` (asyncio,
each request sent in a worker thread).
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from qlikauth.errors import QlikAuthError
from qlikauth.http.values import Flow, Sender

__all__ = ["run_flow", "run_flow_async"]

T = TypeVar("T")


def run_flow(flow: Flow[T], transport: Sender) -> T:
    """Drive a flow synchronously: send each request it yields, return what it returns.

    A request that fails (a timeout, a refused connection) is thrown into the flow where
    it yielded that request, so the flow can clean up (end a session it made) and re-raise.
    """
    try:
        request = next(flow)
        while True:
            try:
                response = transport.send(request)
            except QlikAuthError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()


async def run_flow_async(flow: Flow[T], transport: Sender) -> T:
    """Drive a flow on asyncio: the same flow, each request sent in a worker thread."""
    try:
        request = next(flow)
        while True:
            try:
                response = await asyncio.to_thread(transport.send, request)
            except QlikAuthError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()
