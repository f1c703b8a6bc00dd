"""The QPS clients: :class:`QpsClient` (sync) and :class:`AsyncQpsClient`, described once.

Each public method builds a flow (:mod:`qlikauth.qps.flows`); the sync client sends its
requests on the calling thread, the asyncio one in a worker thread, both over one kept-alive
mutual-TLS connection. Only reads (GET) are retried after a network failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self, TypeVar

from qlikauth._twins import AsyncDriver, SyncDriver, operation
from qlikauth.http.drivers import run_flow, run_flow_async
from qlikauth.http.transport import HttpTransport
from qlikauth.http.values import Flow
from qlikauth.identity import QlikUser
from qlikauth.qps.flows import (
    add_session_flow,
    delete_session_flow,
    get_session_flow,
    list_sessions_flow,
    logout_user_flow,
    retried,
    ticket_flow,
    user_sessions_flow,
)
from qlikauth.qps.values import Attributes, ProxySession, Ticket, as_user, new_session_id
from qlikauth.site import Site

__all__ = ["AsyncQpsClient", "QpsApi", "QpsClient"]

T = TypeVar("T")


class QpsApi:
    """Everything :class:`QpsClient` and :class:`AsyncQpsClient` share: the site, the
    connection, and every call."""

    def __init__(
        self, site: Site, *, transport: HttpTransport | None = None, retries: int = 2
    ) -> None:
        self.site = site
        self._own_transport = transport is None
        self.transport = transport or HttpTransport(site)
        self.retries = retries

    def for_prefix(self, prefix: str) -> Self:
        """A client for another virtual proxy of the same site, sharing the connection."""
        client = type(self)(self.site.with_prefix(prefix), transport=self.transport)
        client.retries = self.retries
        return client

    @operation
    def run(self, make_flow: Callable[[], Flow[T]], *, safe: bool = False) -> Flow[T]:
        """Run a flow; a ``safe`` (read-only) one is retried after a network failure."""
        return retried(make_flow, attempts=1 + (self.retries if safe else 0))

    @operation
    def issue_ticket(
        self,
        user: QlikUser | str,
        *,
        attributes: Attributes = None,
        target_id: str | None = None,
    ) -> Flow[Ticket]:
        """A one-time ticket for ``user`` (``QlikUser`` or ``DIR\\user``); never retried."""
        return ticket_flow(self.site, as_user(user), attributes=attributes, target_id=target_id)

    @operation
    def add_session(
        self,
        user: QlikUser | str,
        *,
        attributes: Attributes = None,
        session_id: str | None = None,
    ) -> Flow[ProxySession]:
        """Inject a proxy session (a random UUID4 id unless one is given)."""
        who, sid = as_user(user), session_id or new_session_id()
        return add_session_flow(self.site, who, sid, attributes=attributes)

    @operation
    def get_session(self, session_id: str) -> Flow[ProxySession | None]:
        """One session, or ``None``."""
        return self._read(lambda: get_session_flow(self.site, session_id))

    @operation
    def list_sessions(self) -> Flow[list[ProxySession]]:
        """Every session of the virtual proxy."""
        return self._read(lambda: list_sessions_flow(self.site))

    @operation
    def delete_session(self, session_id: str) -> Flow[ProxySession | None]:
        """End a session and free its slot; ``None`` when it was already gone."""
        return delete_session_flow(self.site, session_id)

    @operation
    def user_sessions(self, user: QlikUser | str) -> Flow[list[ProxySession]]:
        """The sessions ``user`` holds on the virtual proxy."""
        who = as_user(user)
        return self._read(lambda: user_sessions_flow(self.site, who))

    @operation
    def logout_user(self, user: QlikUser | str) -> Flow[list[ProxySession]]:
        """Log ``user`` out of the virtual proxy; the sessions that were removed."""
        return logout_user_flow(self.site, as_user(user))

    def _read(self, make_flow: Callable[[], Flow[T]]) -> Flow[T]:
        return retried(make_flow, attempts=1 + self.retries)

    def _close_transport(self) -> None:
        if self._own_transport:
            self.transport.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.site.host!r}, prefix={self.site.prefix!r})"


class QpsClient(QpsApi, SyncDriver):
    """The QPS REST API for one site, over one kept-alive mutual-TLS connection.

    The virtual proxy is the site's (``for_prefix`` gives a client for another one that
    shares the connection). Thread-safe; close it (or use ``with``) when done.
    """

    def _run(self, steps: Flow[T]) -> T:
        return run_flow(steps, self.transport)

    def close(self) -> None:
        """Close the connection (only when this client opened it)."""
        self._close_transport()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncQpsClient(QpsApi, AsyncDriver):
    """The asyncio twin of :class:`QpsClient`: the same flows, the same connection reuse."""

    async def _run(self, steps: Flow[T]) -> T:
        return await run_flow_async(steps, self.transport)

    async def aclose(self) -> None:
        """Close the connection (only when this client opened it)."""
        self._close_transport()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
