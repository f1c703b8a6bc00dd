"""The client's construction, public methods and steps, written once for both drivers.

Each public method is an :class:`operation`: a function that builds the method's
generator of steps (:mod:`qlikauth.client.ops`). Looked up on a :class:`SyncDriver` it
runs the operation and returns the result; on an :class:`AsyncDriver` it returns a
coroutine. Types follow: ``QlikClient.whoami()`` is a ``QlikUser``,
``AsyncQlikClient.whoami()`` an awaitable ``QlikUser``. :meth:`ClientApi._primitive` says
once what each step means; a driver only knows how to hold its lock, call a function that
may block, and call one on an object of its own kind.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from qlikauth._clock import Clock, wall
from qlikauth._twins import (
    AsyncDriver,
    Operation,
    SyncDriver,
    operation,
    operation_returning,
)
from qlikauth.auth.base import Authenticator
from qlikauth.client import ops
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
from qlikauth.credentials import Credentials, WebSocketOptions
from qlikauth.download import DownloadResult, ProgressCallback, download
from qlikauth.engine.aio import AsyncEngineConnection
from qlikauth.engine.objects import AsyncDoc, Doc
from qlikauth.engine.sync import EngineConnection
from qlikauth.http.transport import HttpTransport
from qlikauth.http.values import HttpRequest, HttpResponse
from qlikauth.identity import QlikUser
from qlikauth.site import Site

__all__ = [
    "AsyncDriver",
    "ClientApi",
    "Operation",
    "SyncDriver",
    "operation",
    "operation_returning",
]


#: What a driver performs: every step comes down to one of these.
Primitive = Exclusive[Any] | Blocking[Any] | Invoke[Any]


class ClientApi:
    """Everything :class:`~qlikauth.client.QlikClient` and its asyncio twin share.

    ``logout_on_close`` defaults to ``authenticator.creates_session``: sessions qlikauth
    made are ended on ``close``, sessions brought from elsewhere are left alone.
    ``session_timeout`` is the virtual proxy's inactivity timeout in seconds when known
    (the credentials' own expiry is used otherwise); the client logs in again ``leeway``
    seconds before either runs out, as ``clock`` tells time (the system's wall clock).
    """

    #: The driver's engine connection class (sync or asyncio).
    _engine_class: ClassVar[type[EngineConnection] | type[AsyncEngineConnection]]

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
        clock: Clock = wall,
    ) -> None:
        self._state = ClientState(
            site,
            authenticator,
            logout_on_close=logout_on_close,
            session_timeout=session_timeout,
            leeway=leeway,
            clock=clock,
        )
        self._transport = transport or HttpTransport(site, timeout=timeout)
        self._lock = self._new_lock()

    @staticmethod
    def _new_lock() -> Any:
        """The lock that logins and logouts hold (a thread's, or an asyncio one)."""
        raise NotImplementedError

    @property
    def transport(self) -> HttpTransport:
        """The kept-alive HTTP transport every request of this client goes through."""
        return self._transport

    def _send(self, request: HttpRequest) -> HttpResponse:
        response = self._transport.send(request)
        if response.status < 300:
            self._state.touch()
        return response

    def _primitive(self, step: Step) -> Primitive:
        """What ``step`` means, as a driver performs it."""
        match step:
            case HttpRequest():
                return Blocking(partial(self._send, step))
            case Login(stale):
                return Exclusive(ops.login_op(self._state, stale))
            case OpenEngine(credentials, options):
                return Invoke(partial(self._engine_class.open, self.site, credentials, **options))
            case Download(credentials, options):
                return Blocking(partial(download, self._transport, credentials, **options))
            case Exclusive() | Blocking() | Invoke():
                return step
        raise TypeError(f"not a client step: {step!r}")

    @property
    def site(self) -> Site:
        """Where Qlik is, and through which virtual proxy."""
        return self._state.site

    @property
    def authenticator(self) -> Authenticator:
        """How this client logs in."""
        return self._state.authenticator

    @property
    def login_count(self) -> int:
        """How many logins this client has run (1 in a healthy session's life)."""
        return self._state.logins

    def __repr__(self) -> str:
        state = "logged in" if self._state.credentials is not None else "not logged in"
        return (
            f"{type(self).__name__}({self.site.origin}/{self.site.prefix}, "
            f"{self.authenticator!r}, {state})"
        )

    def touch(self) -> None:
        """Note that the session was used by traffic that did not pass through this client
        (a local proxy, a tool given the cookie): Qlik restarted its inactivity timer, so
        the client's timer starts again too and does not replace a session in use."""
        self._state.touch()

    @operation
    def credentials(self) -> Op[Credentials]:
        """The current credentials, logging in first if needed."""
        return ops.credentials_op()

    @operation
    def relogin(self, stale: Credentials) -> Op[Credentials]:
        """Replace ``stale`` credentials the server refused (once, however many callers)."""
        return ops.credentials_op(stale)

    @operation
    def whoami(self) -> Op[QlikUser]:
        """The user of this session, through the personal API (the certificate user direct)."""
        return ops.whoami_op(self.site)

    @operation
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Op[HttpResponse]:
        """Send one authenticated request; ``path`` is relative to the virtual proxy.

        ``qrs/about`` goes to ``https://host/{prefix}/qrs/about`` (or, on the direct route, to
        QRS on its port with the client certificate and ``X-Qlik-User``), with an Xrfkey as
        every REST call. Redirects are returned, never followed.
        """
        return ops.request_op(
            self.site, method, path, params=params, json=json, data=data, headers=headers
        )

    @operation
    def get(self, /, path: str, **kwargs: Any) -> Op[HttpResponse]:
        """``request("GET", path, ...)``."""
        return ops.request_op(self.site, "GET", path, **kwargs)

    @operation
    def post(self, /, path: str, **kwargs: Any) -> Op[HttpResponse]:
        """``request("POST", path, ...)``."""
        return ops.request_op(self.site, "POST", path, **kwargs)

    @operation
    def put(self, /, path: str, **kwargs: Any) -> Op[HttpResponse]:
        """``request("PUT", path, ...)``."""
        return ops.request_op(self.site, "PUT", path, **kwargs)

    @operation
    def delete(self, /, path: str, **kwargs: Any) -> Op[HttpResponse]:
        """``request("DELETE", path, ...)``."""
        return ops.request_op(self.site, "DELETE", path, **kwargs)

    @operation
    def websocket_options(
        self, app_id: str | None = None, *, identity: str | None = None, ttl: int | None = None
    ) -> Op[WebSocketOptions]:
        """URL, headers, Origin and TLS for a third-party websocket client, same session."""
        return ops.websocket_options_op(self.site, app_id, identity, ttl)

    @operation_returning(EngineConnection, AsyncEngineConnection)
    def engine(
        self,
        /,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
        **options: Any,
    ) -> Op[Any]:
        """An engine connection with this session (``engineData`` without an app id).

        ``options`` go to the connection's ``open`` (``call_timeout``, ...). The client
        closes connections it opened when it closes.
        """
        return ops.engine_op(
            self._state, {"app_id": app_id, "identity": identity, "ttl": ttl, **options}
        )

    @operation_returning(Doc, AsyncDoc)
    def open_app(self, /, app_id: str, **options: Any) -> Op[Any]:
        """Open an app on a new engine connection and return its ``Doc``.

        The connection closes with the client (or with the doc's connection ``close()``).
        """
        return ops.open_app_op(self._state, app_id, options)

    @operation
    def download(
        self,
        url: str,
        path: Path | str,
        *,
        allow_hosts: Collection[str] = (),
        exporter: QlikUser | None = None,
        progress: bool | None = None,
        callback: ProgressCallback | None = None,
        chunk_size: int = 1 << 20,
        max_bytes: int | None = None,
        deadline: float | None = None,
    ) -> Op[DownloadResult]:
        """Download a ``qUrl`` with this session (see :func:`qlikauth.download.download`).

        A login redirect while the personal API says the session is gone logs in once and
        retries; a refusal of a still-valid session is raised as is (wrong user or prefix).
        ``max_bytes`` and ``deadline`` (seconds) bound the file's size and the download's
        time.
        """
        return ops.download_op(
            self._state,
            url,
            path,
            allow_hosts=allow_hosts,
            exporter=exporter,
            progress=progress,
            callback=callback,
            chunk_size=chunk_size,
            max_bytes=max_bytes,
            deadline=deadline,
        )

    @operation
    def logout(self) -> Op[None]:
        """End the proxy session (the authenticator's logout flow) and forget it."""
        return ops.logout_op(self._state)
