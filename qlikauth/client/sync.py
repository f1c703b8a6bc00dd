"""QlikClient: the client's operations run on the calling thread. Thread-safe."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

import requests

from qlikauth.client import ops
from qlikauth.client.api import ClientApi, SyncDriver
from qlikauth.client.requests_auth import RequestsAuth
from qlikauth.client.steps import Blocking, Exclusive, Invoke, Op, Step
from qlikauth.engine.sync import EngineConnection
from qlikauth.http.drivers import drive
from qlikauth.http.transport import mount_site_tls

__all__ = ["QlikClient"]

T = TypeVar("T")


class QlikClient(ClientApi, SyncDriver):
    """A Qlik Sense site, an authenticator, and the one proxy session they make. Thread-safe.

    The client logs in lazily and once (however many threads ask at the same time), caches
    the :class:`~qlikauth.credentials.Credentials`, and hands the same ones to REST calls,
    the engine connector and the tempcontent downloader. The settings are
    :class:`~qlikauth.client.api.ClientApi`'s.
    """

    _engine_class = EngineConnection
    _new_lock = staticmethod(threading.RLock)
    _http: requests.Session | None = None

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
        match self._primitive(step):
            case Exclusive(op):
                with self._lock:
                    return drive(op, self._perform)
            case Blocking(fn) | Invoke(fn):
                return fn()

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
