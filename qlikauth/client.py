"""QlikClient and AsyncQlikClient: one site, one authenticator, one proxy session for everything.

The client logs in lazily and once (however many threads or tasks ask at the same time),
caches the :class:`Credentials`, and hands the same ones to REST calls, the engine
connector and the tempcontent downloader. When the session ends (client-side timer, or the
server answers with a login redirect, a 401, a CSRF/websocket 403, ``mustAuthenticate`` or
a session-expired notice) it logs in again once; a second failure raises the specific error.

Every operation is written once, as a generator of *steps* (send this request; give me
credentials; open this engine socket), so the sync and the asyncio client run the same
retry and refresh logic and differ only in how they perform a step.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Generator, Mapping
from dataclasses import dataclass, field
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import requests.auth

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials, Route, WebSocketOptions
from qlikauth.download import DownloadResult, ProgressCallback
from qlikauth.download import download as _download
from qlikauth.engine.aio import AsyncEngineConnection
from qlikauth.engine.objects import AsyncDoc, Doc
from qlikauth.engine.sync import EngineConnection
from qlikauth.errors import (
    AppAlreadyOpenError,
    ConfigurationError,
    CredentialsRejectedError,
    ForeignHostError,
    LoginRedirectError,
    MustAuthenticateError,
    QlikAuthError,
    SessionExpiredError,
    SessionLimitError,
    WebSocketRejectedError,
    redact_url,
)
from qlikauth.http import (
    HttpRequest,
    HttpResponse,
    HttpTransport,
    check_login_redirect,
    check_response,
    mount_site_tls,
    run_flow,
    run_flow_async,
    with_xrfkey,
)
from qlikauth.identity import QlikUser
from qlikauth.qps import user_path, user_sessions_request
from qlikauth.sessions import personal_api_user
from qlikauth.site import Site

__all__ = ["AsyncQlikClient", "QlikClient", "RequestsAuth"]

log = logging.getLogger("qlikauth.client")

T = TypeVar("T")

_LIMIT_USER_RE = re.compile(r"user '([^'\\]+)\\([^']+)'")

#: Errors from the engine connector after which one fresh login is worth a try.
_ENGINE_AUTH_ERRORS = (
    WebSocketRejectedError,
    MustAuthenticateError,
    SessionExpiredError,
    LoginRedirectError,
)


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class _Login:
    """Step: give me usable credentials.

    ``stale`` are credentials the server just refused: replace them unless another thread
    already did. Without ``stale``, log in only if there are none or they have expired.
    """

    stale: Credentials | None = None


@dataclass(frozen=True)
class _Call:
    """Step: run a driver-specific operation (``engine``, ``download``) with credentials."""

    name: str
    credentials: Credentials
    kwargs: Mapping[str, Any] = field(default_factory=dict)


_Step = HttpRequest | _Login | _Call
#: An operation: yields steps, receives their results (or their exceptions), returns T.
_Op = Generator[_Step, Any, T]


def _is_rejection(site: Site, request: HttpRequest, response: HttpResponse) -> bool:
    """Whether ``response`` says the session is not (or no longer) accepted."""
    if response.status == 401:
        return True
    if response.status == 403 and "csrf" in response.text.lower():
        return "xsrf" not in response.text.lower()
    try:
        check_login_redirect(request, response, site=site)
    except LoginRedirectError:
        return True
    return False


def _rejection_error(site: Site, request: HttpRequest, response: HttpResponse) -> QlikAuthError:
    """The specific error for a refusal that a fresh login did not cure."""
    try:
        check_login_redirect(request, response, site=site)
    except LoginRedirectError as exc:
        return exc
    if response.status == 403:
        return CredentialsRejectedError(
            f"{request.method} {redact_url(request.url)} was refused (403 CSRF) even right "
            "after a fresh login",
            url=request.url,
            status=403,
            hint="Send the qlik-csrf-token from GET /{prefix}/qps/csrftoken with the same "
            "session cookie; check that the host is in the virtual proxy's allow list.",
        )
    return CredentialsRejectedError(
        f"{request.method} {redact_url(request.url)} answered {response.status} even right "
        f"after a fresh login: {response.text.strip()[:200]}",
        url=request.url,
        status=response.status,
        hint="The virtual proxy accepts the login but not the session for this resource: "
        "check the user's access rules and the virtual proxy prefix.",
    )


def _authed(
    site: Site,
    build: Callable[[Credentials], HttpRequest],
    rejected: Callable[[HttpRequest, HttpResponse], bool] | None = None,
    credentials: Credentials | None = None,
) -> _Op[HttpResponse]:
    """Send a request with the cached credentials; on a refusal log in once and resend."""
    refused = rejected or (lambda req, resp: _is_rejection(site, req, resp))
    if credentials is None:
        credentials = yield _Login()
    request = build(credentials)
    response: HttpResponse = yield request
    if not refused(request, response):
        return response
    log.info("session refused (%s); logging in again", response.status)
    credentials = yield _Login(stale=credentials)
    request = build(credentials)
    response = yield request
    if refused(request, response):
        raise _rejection_error(site, request, response)
    return response


def _call_with_relogin(
    name: str, kwargs: Mapping[str, Any], retry_on: tuple[type[BaseException], ...]
) -> _Op[Any]:
    """Run a driver call; on one of ``retry_on`` log in once and run it again."""
    credentials: Credentials = yield _Login()
    try:
        return (yield _Call(name, credentials, kwargs))
    except retry_on as exc:
        log.info("%s refused (%s); logging in again", name, type(exc).__name__)
    credentials = yield _Login(stale=credentials)
    return (yield _Call(name, credentials, kwargs))


def _personal_user_request(site: Site) -> Callable[[Credentials], HttpRequest]:
    return lambda c: HttpRequest("GET", site.personal_url("user"), c.http_headers())


def _whoami_op(site: Site) -> _Op[QlikUser]:
    credentials: Credentials = yield _Login()
    if credentials.route is Route.DIRECT:
        if credentials.user is None:
            raise ConfigurationError(
                "direct (certificate) credentials without a user",
                hint="Give the certificate authenticator the user to act as.",
            )
        return credentials.user

    def refused(request: HttpRequest, response: HttpResponse) -> bool:
        return _is_rejection(site, request, response) or (
            response.status == 200 and personal_api_user(response, include_anonymous=True) is None
        )

    response = yield from _authed(site, _personal_user_request(site), refused, credentials)
    user = personal_api_user(response, include_anonymous=True)
    if user is None:
        # Not a refusal of the session (those were handled above): a server error, say.
        check_response(response, what="the personal API (GET qps/user)")
        raise SessionExpiredError(
            f"the personal API answered {response.status} without a user",
            url=response.url,
            hint="The session is not valid on this virtual proxy.",
        )
    return user


def _build_url(site: Site, credentials: Credentials, path: str, params: Mapping[str, str]) -> str:
    """The absolute URL for ``path``: relative to the virtual proxy, or direct to QRS/QPS."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        if not site.owns(path):
            raise ForeignHostError(
                f"refusing to send credentials to {parts.scheme}://{parts.netloc}: it is not "
                f"this site ({site.origin})",
                url=path,
                hint="qlikauth sends credentials only to the site's own host, ports and "
                "scheme; use a plain HTTP client for other hosts.",
            )
        if not params:
            return path
        query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
        return urlunsplit(parts._replace(query=urlencode(query)))
    merged = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged.update(params)
    rel = parts.path.lstrip("/")
    if credentials.route is Route.DIRECT:
        head, _, rest = rel.partition("/")
        if head == "qrs":
            return site.qrs_url(rest, merged)
        if head == "qps":
            return site.qps_url(rest, merged)
        raise ConfigurationError(
            f"the direct (certificate) route reaches only qrs/... and qps/..., not {rel!r}",
            hint="Proxy resources need a proxy session: use an authenticator such as ticket, "
            "session or jwt.",
        )
    return site.proxy_url(rel, merged)


def _rest_request(
    site: Site,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None,
    json_body: Any,
    data: bytes | str | None,
    headers: Mapping[str, str] | None,
) -> Callable[[Credentials], HttpRequest]:
    def build(credentials: Credentials) -> HttpRequest:
        url = _build_url(site, credentials, path, params or {})
        merged = {**(headers or {}), **credentials.http_headers()}
        body = data.encode() if isinstance(data, str) else data
        if json_body is not None:
            request = HttpRequest.json(method.upper(), url, json_body, merged)
        else:
            request = HttpRequest(method.upper(), url, merged, body)
        # Every REST call, as Qlik's own clients do: QRS and QPS always demanded it, and the
        # November 2024 release enforces it on other APIs (/api/hub/...) too.
        return with_xrfkey(request)

    return build


# --------------------------------------------------------------------------- shared state


class _Core:
    """What both clients share: site, authenticator, transport and the cached credentials."""

    def __init__(
        self,
        site: Site,
        authenticator: Authenticator,
        *,
        timeout: float,
        logout_on_close: bool | None,
        session_timeout: float | None,
        leeway: float,
        transport: HttpTransport | None,
    ) -> None:
        self.site = site
        self.authenticator = authenticator
        if site.scheme == "http":
            log.warning(
                "%s is plain http: its session cookie and any credentials cross the network "
                "in clear",
                site.origin,
            )
        self.transport = transport or HttpTransport(site, timeout=timeout)
        self.logout_on_close = (
            authenticator.creates_session if logout_on_close is None else logout_on_close
        )
        self.session_timeout = session_timeout
        self.leeway = leeway
        self.credentials: Credentials | None = None
        self.logins = 0
        self._window: float | None = None
        self._deadline: float | None = None
        self.closed = False

    def needs_login(self, stale: Credentials | None) -> bool:
        if self.closed:
            raise ConfigurationError("this client is closed", hint="Create a new client.")
        if self.credentials is None:
            return True
        if stale is not None and stale is self.credentials:
            return True
        return self._deadline is not None and time.time() >= self._deadline - self.leeway

    def accept(self, credentials: Credentials) -> None:
        now = time.time()
        self.credentials = credentials
        self.logins += 1
        made = "logged in to" if self.authenticator.creates_session else "using a session on"
        log.info("%s %s as %s", made, self.site.origin, credentials.user)
        window = credentials.expires_at - now if credentials.expires_at is not None else None
        if self.session_timeout is not None and credentials.route is Route.PROXY:
            window = self.session_timeout if window is None else min(window, self.session_timeout)
        self._window = window
        self._deadline = now + window if window is not None else None

    def touch(self) -> None:
        """The session was used: the proxy's inactivity timer starts again."""
        credentials = self.credentials
        if (
            self._window is not None
            and credentials is not None
            and credentials.route is Route.PROXY
            and credentials.cookies
        ):
            self._deadline = max(self._deadline or 0.0, time.time() + self._window)

    def user_hint(self) -> QlikUser | None:
        """The user a refused login was for, when the authenticator names one."""
        auth = self.authenticator
        known = getattr(auth, "qlik_user", None)
        if isinstance(known, QlikUser):
            return known
        user, directory = getattr(auth, "user", None), getattr(auth, "directory", None)
        try:
            if isinstance(user, str) and "\\" in user:
                return QlikUser.parse(user)
            if isinstance(user, str) and isinstance(directory, str) and user and directory:
                return QlikUser(directory, user)
        except ConfigurationError:
            return None
        return None

    def session_count_request(self, user: QlikUser) -> HttpRequest | None:
        """``GET /qps/{vp}/user/{dir}/{id}`` on QPS, when the site has a client certificate."""
        if self.site.tls.bundle is None:
            return None
        return user_sessions_request(self.site, user)

    @staticmethod
    def reported(exc: SessionLimitError) -> tuple[QlikUser | None, int | None]:
        """The user and count the proxy's refusal text names, if it names them."""
        user = None
        found = _LIMIT_USER_RE.search(exc.message)
        if found:
            try:
                user = QlikUser(found.group(1), found.group(2))
            except ConfigurationError:
                user = None
        return user, exc.session_count

    def session_limit_error(
        self,
        exc: SessionLimitError,
        user: QlikUser | None,
        count: int | None,
        reported_count: int | None = None,
    ) -> SessionLimitError:
        where = self.site.virtual_proxy_label
        who = str(user) if user is not None else "the user"
        if count is not None:
            counted = f"{who} holds {count} proxy session(s) on {where} (QPS user API)"
            if reported_count is not None and reported_count != count:
                counted += f"; the proxy counts {reported_count} on all virtual proxies together"
        elif reported_count is not None:
            counted = (
                f"{who} holds {reported_count} proxy session(s) as the proxy reports (QPS could "
                "not be asked: that needs the site's client certificate)"
            )
            count = reported_count
        elif user is None:
            counted = "the sessions could not be counted (the authenticator does not name the user)"
        else:
            counted = (
                f"the sessions of {who} could not be counted (counting needs the site's client "
                "certificate for QPS on port "
                f"{self.site.qps_port})"
            )
        path = user_path(user) if user is not None else "user/{directory}/{user}"
        return SessionLimitError(
            f"{exc.message}; {counted}",
            session_count=count,
            user=user,
            hint=f"Free them: DELETE {self.site.qps_url(path)} with the client certificate "
            "ends every session of that "
            "user on this virtual proxy (or log out each script's session: QlikClient.close "
            "does); otherwise wait for the inactivity timeout. Share one QlikClient between "
            "threads so a script holds one session.",
        )


def _count_from(response: HttpResponse) -> int | None:
    if not 200 <= response.status < 300:
        return None
    try:
        data = response.json()
    except QlikAuthError:
        return None
    return len(data) if isinstance(data, list) else None


# --------------------------------------------------------------------------- sync client


class QlikClient:
    """A Qlik Sense site, an authenticator, and the one proxy session they make. Thread-safe.

    ``logout_on_close`` defaults to ``authenticator.creates_session``: sessions qlikauth
    made are ended on :meth:`close`, sessions brought from elsewhere are left alone.
    ``session_timeout`` is the virtual proxy's inactivity timeout in seconds when known
    (the credentials' own expiry is used otherwise).
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
        self._core = _Core(
            site,
            authenticator,
            timeout=timeout,
            logout_on_close=logout_on_close,
            session_timeout=session_timeout,
            leeway=leeway,
            transport=transport,
        )
        self._lock = threading.RLock()
        self._engines: list[EngineConnection] = []
        self._http: requests.Session | None = None

    # -- properties -----------------------------------------------------------------

    @property
    def site(self) -> Site:
        """Where Qlik is, and through which virtual proxy."""
        return self._core.site

    @property
    def authenticator(self) -> Authenticator:
        """How this client logs in."""
        return self._core.authenticator

    @property
    def transport(self) -> HttpTransport:
        """The kept-alive HTTP transport every request of this client goes through."""
        return self._core.transport

    @property
    def login_count(self) -> int:
        """How many logins this client has run (1 in a healthy session's life)."""
        return self._core.logins

    def __repr__(self) -> str:
        state = "logged in" if self._core.credentials is not None else "not logged in"
        return f"QlikClient({self.site.origin}/{self.site.prefix}, {self.authenticator!r}, {state})"

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

    # -- the driver -----------------------------------------------------------------

    def _run(self, op: _Op[T]) -> T:
        result: Any = None
        error: BaseException | None = None
        try:
            while True:
                step = op.throw(error) if error is not None else op.send(result)
                result, error = None, None
                try:
                    result = self._perform(step)
                except QlikAuthError as exc:
                    error = exc
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            op.close()

    def _perform(self, step: _Step) -> Any:
        if isinstance(step, HttpRequest):
            response = self.transport.send(step)
            if response.status < 300:
                self._core.touch()
            return response
        if isinstance(step, _Login):
            return self._ensure(step.stale)
        if step.name == "engine":
            return self._open_engine(step.credentials, **step.kwargs)
        if step.name == "download":
            result = _download(self.transport, step.credentials, **step.kwargs)
            self._core.touch()
            return result
        raise AssertionError(step.name)

    def _ensure(self, stale: Credentials | None) -> Credentials:
        with self._lock:
            core = self._core
            if stale is None and any(not c.closed for c in self._engines):
                # Engine traffic keeps the proxy session alive without passing through
                # here: an open socket must not make the timer log its session out.
                core.touch()
            if not core.needs_login(stale):
                assert core.credentials is not None
                return core.credentials
            old = core.credentials
            if old is not None and core.authenticator.creates_session:
                self._logout_quietly(old)
            core.credentials = None
            try:
                prepared = core.authenticator.prepare(core.site)
                credentials = run_flow(prepared.login(core.site), self.transport)
            except SessionLimitError as exc:
                raise self._explain_limit(exc) from exc
            core.accept(credentials)
            return credentials

    def _explain_limit(self, exc: SessionLimitError) -> SessionLimitError:
        core = self._core
        reported_user, reported_count = core.reported(exc)
        user = core.user_hint() or reported_user
        count = None
        request = core.session_count_request(user) if user is not None else None
        if request is not None:
            try:
                count = _count_from(self.transport.send(request))
            except QlikAuthError as err:
                log.info("could not count sessions: %s", err.message)
        return core.session_limit_error(exc, user, count, reported_count)

    def _logout_quietly(self, credentials: Credentials) -> None:
        try:
            run_flow(self.authenticator.logout(self.site, credentials), self.transport)
        except QlikAuthError as exc:
            log.info("logout of the previous session failed: %s", exc.message)

    def _open_engine(self, credentials: Credentials, **kwargs: Any) -> EngineConnection:
        try:
            connection = EngineConnection.open(self.site, credentials, **kwargs)
        except SessionLimitError as exc:
            raise self._explain_limit(exc) from exc
        with self._lock:
            self._engines = [c for c in self._engines if not c.closed]
            self._engines.append(connection)
        return connection

    # -- public API -----------------------------------------------------------------

    def credentials(self) -> Credentials:
        """The current credentials, logging in first if needed."""
        return self._run(_login_op())

    def relogin(self, stale: Credentials) -> Credentials:
        """Replace ``stale`` credentials the server refused (once, however many callers)."""
        return self._ensure(stale)

    def login(self) -> Credentials:
        """Log in now (normally done lazily by the first call)."""
        return self.credentials()

    def whoami(self) -> QlikUser:
        """The user of this session, through the personal API (the certificate user direct)."""
        return self._run(_whoami_op(self.site))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send one authenticated request; ``path`` is relative to the virtual proxy.

        ``qrs/about`` goes to ``https://host/{prefix}/qrs/about`` with an Xrfkey (or, on the
        direct route, to QRS on its port with the client certificate and ``X-Qlik-User``).
        Redirects are returned, never followed.
        """
        build = _rest_request(
            self.site, method, path, params=params, json_body=json, data=data, headers=headers
        )
        return self._run(_authed(self.site, build))

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("GET", path, ...)``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("POST", path, ...)``."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("PUT", path, ...)``."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("DELETE", path, ...)``."""
        return self.request("DELETE", path, **kwargs)

    def websocket_options(
        self, app_id: str | None = None, *, identity: str | None = None, ttl: int | None = None
    ) -> WebSocketOptions:
        """URL, headers, Origin and TLS for a third-party websocket client, same session."""
        return self.credentials().websocket_options(self.site, app_id, identity=identity, ttl=ttl)

    def engine(
        self,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
        **options: Any,
    ) -> EngineConnection:
        """An engine connection with this session (``engineData`` without an app id).

        ``options`` go to :meth:`EngineConnection.open` (``call_timeout``, ...). The client
        closes connections it opened when it closes.
        """
        kwargs = {"app_id": app_id, "identity": identity, "ttl": ttl, **options}
        return cast(
            EngineConnection,
            self._run(_call_with_relogin("engine", kwargs, _ENGINE_AUTH_ERRORS)),
        )

    def open_app(self, app_id: str, **options: Any) -> Doc:
        """Open an app on a new engine connection and return its ``Doc``.

        The connection closes with the client (or with ``doc``'s connection ``close()``).
        """
        connection = self.engine(app_id, **options)
        try:
            try:
                return connection.open_doc(app_id)
            except AppAlreadyOpenError:
                # Same user, same app: the engine attached this socket to the session that
                # already has the app open (qlik-protocol.md §3.4).
                return connection.get_active_doc()
        except BaseException:
            connection.close()
            raise

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
    ) -> DownloadResult:
        """Download a ``qUrl`` with this session (see :func:`qlikauth.download.download`).

        A login redirect while the personal API says the session is gone logs in once and
        retries; a refusal of a still-valid session is raised as is (wrong user or prefix).
        """
        kwargs = {
            "url": url,
            "path": path,
            "allow_hosts": allow_hosts,
            "exporter": exporter,
            "progress": progress,
            "callback": callback,
            "chunk_size": chunk_size,
        }
        return self._run(_download_op(kwargs))

    def logout(self) -> None:
        """End the proxy session (the authenticator's logout flow) and forget it."""
        with self._lock:
            credentials = self._core.credentials
            self._core.credentials = None
            if credentials is not None:
                run_flow(self.authenticator.logout(self.site, credentials), self.transport)

    def close(self) -> None:
        """Log out if this client owns the session, then close the connections."""
        with self._lock:
            if self._core.closed:
                return
            credentials = self._core.credentials
            self._core.credentials = None
            engines, self._engines = self._engines, []
            if self._http is not None:
                self._http.close()
            try:
                for connection in engines:
                    connection.close()
                if credentials is not None and self._core.logout_on_close:
                    self._logout_quietly(credentials)
            finally:
                self._core.closed = True
                self.transport.close()

    def __enter__(self) -> QlikClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _login_op() -> _Op[Credentials]:
    return cast(Credentials, (yield _Login()))


def _download_op(kwargs: Mapping[str, Any]) -> _Op[DownloadResult]:
    credentials: Credentials = yield _Login()
    try:
        return cast(DownloadResult, (yield _Call("download", credentials, kwargs)))
    except LoginRedirectError as exc:
        if exc.session_valid is not False:
            raise
        log.info("download refused with an ended session; logging in again")
    credentials = yield _Login(stale=credentials)
    return cast(DownloadResult, (yield _Call("download", credentials, kwargs)))


# --------------------------------------------------------------------------- asyncio client


class AsyncQlikClient:
    """The asyncio twin of :class:`QlikClient`: same logic, steps awaited on the loop.

    Logins run with :func:`~qlikauth.http.run_flow_async`; one login serves every task.
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
        self._core = _Core(
            site,
            authenticator,
            timeout=timeout,
            logout_on_close=logout_on_close,
            session_timeout=session_timeout,
            leeway=leeway,
            transport=transport,
        )
        self._lock = asyncio.Lock()
        self._engines: list[AsyncEngineConnection] = []

    @property
    def site(self) -> Site:
        """Where Qlik is, and through which virtual proxy."""
        return self._core.site

    @property
    def authenticator(self) -> Authenticator:
        """How this client logs in."""
        return self._core.authenticator

    @property
    def transport(self) -> HttpTransport:
        """The kept-alive HTTP transport every request of this client goes through."""
        return self._core.transport

    @property
    def login_count(self) -> int:
        """How many logins this client has run."""
        return self._core.logins

    def __repr__(self) -> str:
        state = "logged in" if self._core.credentials is not None else "not logged in"
        return (
            f"AsyncQlikClient({self.site.origin}/{self.site.prefix}, "
            f"{self.authenticator!r}, {state})"
        )

    async def _run(self, op: _Op[T]) -> T:
        result: Any = None
        error: BaseException | None = None
        try:
            while True:
                step = op.throw(error) if error is not None else op.send(result)
                result, error = None, None
                try:
                    result = await self._perform(step)
                except QlikAuthError as exc:
                    error = exc
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            op.close()

    async def _perform(self, step: _Step) -> Any:
        if isinstance(step, HttpRequest):
            response = await asyncio.to_thread(self.transport.send, step)
            if response.status < 300:
                self._core.touch()
            return response
        if isinstance(step, _Login):
            return await self._ensure(step.stale)
        if step.name == "engine":
            return await self._open_engine(step.credentials, **step.kwargs)
        if step.name == "download":
            result = await asyncio.to_thread(
                _download, self.transport, step.credentials, **step.kwargs
            )
            self._core.touch()
            return result
        raise AssertionError(step.name)

    async def _ensure(self, stale: Credentials | None) -> Credentials:
        async with self._lock:
            core = self._core
            if stale is None and any(not c.closed for c in self._engines):
                core.touch()  # an open engine socket keeps the session in use (see above)
            if not core.needs_login(stale):
                assert core.credentials is not None
                return core.credentials
            old = core.credentials
            if old is not None and core.authenticator.creates_session:
                await self._logout_quietly(old)
            core.credentials = None
            try:
                # prepare() may block (a directory check): keep it off the event loop.
                prepared = await asyncio.to_thread(core.authenticator.prepare, core.site)
                credentials = await run_flow_async(prepared.login(core.site), self.transport)
            except SessionLimitError as exc:
                raise (await self._explain_limit(exc)) from exc
            core.accept(credentials)
            return credentials

    async def _explain_limit(self, exc: SessionLimitError) -> SessionLimitError:
        core = self._core
        reported_user, reported_count = core.reported(exc)
        user = core.user_hint() or reported_user
        count = None
        request = core.session_count_request(user) if user is not None else None
        if request is not None:
            try:
                count = _count_from(await asyncio.to_thread(self.transport.send, request))
            except QlikAuthError as err:
                log.info("could not count sessions: %s", err.message)
        return core.session_limit_error(exc, user, count, reported_count)

    async def _logout_quietly(self, credentials: Credentials) -> None:
        try:
            await run_flow_async(self.authenticator.logout(self.site, credentials), self.transport)
        except QlikAuthError as exc:
            log.info("logout of the previous session failed: %s", exc.message)

    async def _open_engine(self, credentials: Credentials, **kwargs: Any) -> AsyncEngineConnection:
        try:
            connection = await AsyncEngineConnection.open(self.site, credentials, **kwargs)
        except SessionLimitError as exc:
            raise (await self._explain_limit(exc)) from exc
        self._engines = [c for c in self._engines if not c.closed]
        self._engines.append(connection)
        return connection

    async def credentials(self) -> Credentials:
        """The current credentials, logging in first if needed."""
        return await self._run(_login_op())

    async def relogin(self, stale: Credentials) -> Credentials:
        """Replace ``stale`` credentials the server refused (once, however many callers)."""
        return await self._ensure(stale)

    async def login(self) -> Credentials:
        """Log in now (normally done lazily by the first call)."""
        return await self.credentials()

    async def whoami(self) -> QlikUser:
        """The user of this session, through the personal API (the certificate user direct)."""
        return await self._run(_whoami_op(self.site))

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send one authenticated request; see :meth:`QlikClient.request`."""
        build = _rest_request(
            self.site, method, path, params=params, json_body=json, data=data, headers=headers
        )
        return await self._run(_authed(self.site, build))

    async def get(self, path: str, **kwargs: Any) -> HttpResponse:
        """``await request("GET", path, ...)``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> HttpResponse:
        """``await request("POST", path, ...)``."""
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> HttpResponse:
        """``await request("PUT", path, ...)``."""
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        """``await request("DELETE", path, ...)``."""
        return await self.request("DELETE", path, **kwargs)

    async def websocket_options(
        self, app_id: str | None = None, *, identity: str | None = None, ttl: int | None = None
    ) -> WebSocketOptions:
        """URL, headers, Origin and TLS for a third-party websocket client, same session."""
        credentials = await self.credentials()
        return credentials.websocket_options(self.site, app_id, identity=identity, ttl=ttl)

    async def engine(
        self,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
        **options: Any,
    ) -> AsyncEngineConnection:
        """An asyncio engine connection with this session; see :meth:`QlikClient.engine`."""
        kwargs = {"app_id": app_id, "identity": identity, "ttl": ttl, **options}
        return cast(
            AsyncEngineConnection,
            await self._run(_call_with_relogin("engine", kwargs, _ENGINE_AUTH_ERRORS)),
        )

    async def open_app(self, app_id: str, **options: Any) -> AsyncDoc:
        """Open an app on a new engine connection and return its ``AsyncDoc``."""
        connection = await self.engine(app_id, **options)
        try:
            try:
                return await connection.open_doc(app_id)
            except AppAlreadyOpenError:
                return await connection.get_active_doc()
        except BaseException:
            await connection.close()
            raise

    async def download(
        self,
        url: str,
        path: Path | str,
        *,
        allow_hosts: Collection[str] = (),
        exporter: QlikUser | None = None,
        progress: bool | None = None,
        callback: ProgressCallback | None = None,
        chunk_size: int = 1 << 20,
    ) -> DownloadResult:
        """Download a ``qUrl`` with this session (the file streams in a worker thread)."""
        kwargs = {
            "url": url,
            "path": path,
            "allow_hosts": allow_hosts,
            "exporter": exporter,
            "progress": progress,
            "callback": callback,
            "chunk_size": chunk_size,
        }
        return await self._run(_download_op(kwargs))

    async def logout(self) -> None:
        """End the proxy session and forget it."""
        async with self._lock:
            credentials = self._core.credentials
            self._core.credentials = None
            if credentials is not None:
                await run_flow_async(
                    self.authenticator.logout(self.site, credentials), self.transport
                )

    async def close(self) -> None:
        """Log out if this client owns the session, then close the connections."""
        async with self._lock:
            if self._core.closed:
                return
            credentials = self._core.credentials
            self._core.credentials = None
            engines, self._engines = self._engines, []
            try:
                for connection in engines:
                    await connection.close()
                if credentials is not None and self._core.logout_on_close:
                    await self._logout_quietly(credentials)
            finally:
                self._core.closed = True
                self.transport.close()

    async def __aenter__(self) -> AsyncQlikClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --------------------------------------------------------------------------- requests


_MARK = "_qlikauth_credentials"
_RETRIED = "_qlikauth_retried"


def _cookie_domain(host: str) -> str:
    # http.cookiejar matches a dotless host such as "localhost" as "localhost.local".
    return host if "." in host or ":" in host else f"{host}.local"


class RequestsAuth(requests.auth.AuthBase):
    """A ``requests`` auth that presents a :class:`QlikClient`'s session to any script.

    Only URLs the site owns get the session cookie, the CSRF token and an Xrfkey (query and
    header, unless the URL already has one); on a login redirect or 401 it logs in again once
    and resends. Credentials are stripped before a redirect leaves the site. TLS trust is
    the caller's: pass ``verify=`` the site's ``root.pem``.
    """

    def __init__(self, client: QlikClient) -> None:
        self.client = client

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        site = self.client.site
        if not request.url or not site.owns(request.url):
            return request
        credentials = self.client.credentials()
        if credentials.route is Route.DIRECT:
            port = urlsplit(request.url).port
            if port not in (site.qrs_port, site.qps_port, site.engine_port):
                return request  # X-Qlik-User means something only on the trusted ports
        self._apply(request, credentials)
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _apply(self, request: requests.PreparedRequest, credentials: Credentials) -> None:
        site = self.client.site
        url = request.url or ""
        ours = dict(credentials.cookies)
        existing = request.headers.get("Cookie")
        kept = []
        if existing:
            for part in existing.split(";"):
                name = part.split("=", 1)[0].strip()
                if name and name not in ours:
                    kept.append(part.strip())
        cookie = credentials.cookie_header()
        if cookie is not None:
            request.headers["Cookie"] = "; ".join([*kept, cookie])
        for name, value in credentials.headers.items():
            request.headers[name] = value
        if credentials.csrf_token is not None:
            request.headers["qlik-csrf-token"] = credentials.csrf_token
        if not any(k.lower() == "xrfkey" for k, _ in parse_qsl(urlsplit(url).query)):
            signed = with_xrfkey(HttpRequest(request.method or "GET", url))
            request.prepare_url(signed.url, None)
            request.headers["X-Qlik-Xrfkey"] = signed.headers["X-Qlik-Xrfkey"]
        # Same-site redirects: requests rebuilds the Cookie header from this jar, and the
        # jar's domain rules keep the session cookie from leaving the site's host.
        jar = getattr(request, "_cookies", None)
        if jar is not None:
            for name, value in ours.items():
                jar.set_cookie(_site_cookie(site, name, value))
        setattr(request, _MARK, credentials)

    def _strip(self, request: requests.PreparedRequest) -> None:
        credentials: Credentials | None = getattr(request, _MARK, None)
        names = {"cookie", "qlik-csrf-token", "x-qlik-xrfkey"}
        if credentials is not None:
            names |= {k.lower() for k in credentials.headers}
        for name in list(request.headers):
            if name.lower() in names:
                del request.headers[name]
        jar = getattr(request, "_cookies", None)
        if jar is not None and credentials is not None:
            for name in credentials.cookies:
                for cookie in list(jar):
                    if cookie.name == name:
                        jar.clear(cookie.domain, cookie.path, cookie.name)

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        site = self.client.site
        request = response.request
        location = response.headers.get("Location")
        if response.is_redirect and location:
            target = urljoin(response.url, location)
            if not site.owns(target):
                self._strip(request)
        used: Credentials | None = getattr(request, _MARK, None)
        if used is None or getattr(request, _RETRIED, False):
            return response
        body = b""
        if "html" in response.headers.get("Content-Type", "").lower():
            body = response.content
        probe = HttpResponse(
            response.status_code, tuple(response.headers.items()), body, response.url
        )
        probe_request = HttpRequest(
            request.method or "GET", request.url or "", {"Cookie": used.cookie_header() or ""}
        )
        if not _is_rejection(site, probe_request, probe):
            return response
        fresh = self.client.relogin(used)
        _ = response.content
        response.close()
        retry = request.copy()
        self._apply(retry, fresh)
        setattr(retry, _RETRIED, True)
        connection = response.connection
        new = connection.send(retry, **kwargs)
        new.history.append(response)
        new.request = retry
        return new


def _site_cookie(site: Site, name: str, value: str) -> Cookie:
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=_cookie_domain(site.host),
        domain_specified=False,
        domain_initial_dot=False,
        path="/",
        path_specified=True,
        secure=site.scheme == "https",
        expires=None,
        discard=True,
        comment=None,
        comment_url=None,
        rest={},
    )
