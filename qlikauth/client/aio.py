"""AsyncQlikClient: the client's operations awaited on an asyncio loop.

The same operations as :class:`~qlikauth.client.QlikClient`; requests, directory checks and
downloads run in worker threads, engine sockets are asyncio ones. One login serves every
task.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, TypeVar

from qlikauth.auth.base import Authenticator
from qlikauth.client import ops
from qlikauth.client.api import AsyncDriver, ClientApi
from qlikauth.client.state import ClientState
from qlikauth.client.steps import (
    Blocking,
    Download,
    Exclusive,
    Invoke,
    Login,
    Op,
    OpenEngine,
    Step,
)
from qlikauth.download import download
from qlikauth.engine.aio import AsyncEngineConnection
from qlikauth.http.drivers import drive_async
from qlikauth.http.transport import HttpTransport
from qlikauth.http.values import HttpRequest
from qlikauth.site import Site

__all__ = ["AsyncQlikClient"]

T = TypeVar("T")


class AsyncQlikClient(ClientApi, AsyncDriver):
    """The asyncio twin of :class:`~qlikauth.client.QlikClient`: the same operations,
    their steps awaited on the loop."""

    def __init__(
        self,
        site: Site,
        authenticator: Authenticator,
        *,
        timeout: float = 30.0,
        logout_on_close: bool | None = None,
        session_timeout: float | None = None,
        leeway: float = 30.0,
        transport: HttpTransport | None = None,
    ) -> None:
        self._state = ClientState(
            site,
            authenticator,
            logout_on_close=logout_on_close,
            session_timeout=session_timeout,
            leeway=leeway,
        )
        self._transport = transport or HttpTransport(site, timeout=timeout)
        self._lock = asyncio.Lock()

    @property
    def transport(self) -> HttpTransport:
        """The kept-alive HTTP transport every request of this client goes through."""
        return self._transport

    async def _run(self, op: Op[T]) -> T:
        return await drive_async(op, self._perform)

    async def _perform(self, step: Step) -> Any:
        state = self._state
        match step:
            case HttpRequest():
                response = await asyncio.to_thread(self._transport.send, step)
                if response.status < 300:
                    state.touch()
                return response
            case Login(stale):
                async with self._lock:
                    return await drive_async(ops.login_op(state, stale), self._perform)
            case Exclusive(op):
                async with self._lock:
                    return await drive_async(op, self._perform)
            case Blocking(fn):
                return await asyncio.to_thread(fn)
            case Invoke(fn):
                result = fn()
                return (await result) if inspect.isawaitable(result) else result
            case OpenEngine(credentials, options):
                return await AsyncEngineConnection.open(self.site, credentials, **options)
            case Download(credentials, options):
                return await asyncio.to_thread(download, self._transport, credentials, **options)
        raise TypeError(f"not a client step: {step!r}")

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
