"""AsyncQlikClient: the client's operations awaited on an asyncio loop.

The same operations as :class:`~qlikauth.client.QlikClient`; requests, directory checks and
downloads run in worker threads, engine sockets are asyncio ones. One login serves every
task.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, TypeVar

from qlikauth.client import ops
from qlikauth.client.api import AsyncDriver, ClientApi
from qlikauth.client.steps import Blocking, Exclusive, Invoke, Op, Step
from qlikauth.engine.aio import AsyncEngineConnection
from qlikauth.http.drivers import drive_async

__all__ = ["AsyncQlikClient"]

T = TypeVar("T")


class AsyncQlikClient(ClientApi, AsyncDriver):
    """The asyncio twin of :class:`~qlikauth.client.QlikClient`: the same operations,
    their steps awaited on the loop."""

    _engine_class = AsyncEngineConnection
    _new_lock = staticmethod(asyncio.Lock)

    async def _run(self, op: Op[T]) -> T:
        return await drive_async(op, self._perform)

    async def _perform(self, step: Step) -> Any:
        match self._primitive(step):
            case Exclusive(op):
                async with self._lock:
                    return await drive_async(op, self._perform)
            case Blocking(fn):
                return await asyncio.to_thread(fn)
            case Invoke(fn):
                result = fn()
                return (await result) if inspect.isawaitable(result) else result

    async def close(self) -> None:
        """Close the engine sockets, log out if this client owns the session, close it all."""
        try:
            await self._run(ops.close_op(self._state))
        finally:
            # It may wait for a timed-out login's late answer: not on the loop.
            await asyncio.to_thread(self._transport.close)

    async def __aenter__(self) -> AsyncQlikClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
