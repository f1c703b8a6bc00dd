"""QlikClient: the client's operations run on the calling thread. Thread-safe."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

import requests

from qlikauth.auth.base import Authenticator
from qlikauth.client import ops
from qlikauth.client.api import ClientApi, SyncDriver
from qlikauth.client.requests_auth import RequestsAuth
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
from qlikauth.engine.sync import EngineConnection
from qlikauth.http.drivers import drive
from qlikauth.http.transport import HttpTransport, mount_site_tls
from qlikauth.http.values import HttpRequest
from qlikauth.site import Site

__all__ = ["QlikClient"]

T = TypeVar("T")


class QlikClient(ClientApi, SyncDriver):
    """A Qlik Sense site, an authenticator, and the one proxy session they make. Thread-safe.

    The client logs in lazily and once (however many threads ask at the same time), caches
    the :class:`~qlikauth.credentials.Credentials`, and hands the same ones to REST calls,
    the engine connector and the tempcontent downloader. ``logout_on_close`` defaults to
    ``authenticator.creates_session``: sessions qlikauth made are ended on :meth:`close`,
    sessions brought from elsewhere are left alone. ``session_timeout`` is the virtual
    proxy's inactivity timeout in seconds when known (the credentials' own expiry is used
    otherwise).
    """

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
        self._lock = threading.RLock()
        self._http: requests.Session | None = None

    @property
    def transport(self) -> HttpTransport:
        """The kept-alive HTTP transport every request of this client goes through."""
        return self._transport

    @property
    def http(self) -> requests.Session:
        """A ``requests.Session`` carrying this session (:class:`RequestsAuth`).

        It uses the site's own TLS on the site's ports (the client certificate on the
        trusted ones) and ignores ``REQUESTS_CA_BUNDLE`` and proxy variables.
        """
        with self._lock:
            if self._http is None:
                session = requests.Session()
                session.trust_env = False
                mount_site_tls(session, self.site)
                session.auth = RequestsAuth(self)
                self._http = session
            return self._http

    def _run(self, op: Op[T]) -> T:
        return drive(op, self._perform)

    def _perform(self, step: Step) -> Any:
        state = self._state
        match step:
            case HttpRequest():
                response = self._transport.send(step)
                if response.status < 300:
                    state.touch()
                return response
            case Login(stale):
                with self._lock:
                    return drive(ops.login_op(state, stale), self._perform)
            case Exclusive(op):
                with self._lock:
                    return drive(op, self._perform)
            case Blocking(fn) | Invoke(fn):
                return fn()
            case OpenEngine(credentials, options):
                return EngineConnection.open(self.site, credentials, **options)
            case Download(credentials, options):
                return download(self._transport, credentials, **options)
        raise TypeError(f"not a client step: {step!r}")

    def close(self) -> None:
        """Close the engine sockets, log out if this client owns the session, close it all."""
        with self._lock:
            if self._http is not None:
                self._http.close()
            try:
                self._run(ops.close_op(self._state))
            finally:
                self._transport.close()

    def __enter__(self) -> QlikClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
