"""Every client operation, written once as a generator of steps (no I/O).

The retry and refresh rules live here, so the sync and the asyncio client follow the same
ones: a request refused as unauthenticated (a login redirect, a 401, a CSRF 403) logs in
once and is sent again; an engine socket refused for authentication, or a download refused
because the session ended, the same; a second refusal raises the specific error.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from qlikauth.client.state import ClientState, EngineHandle, count_from
from qlikauth.client.steps import (
    Blocking,
    Download,
    Exclusive,
    Invoke,
    Login,
    Op,
    OpenEngine,
)
from qlikauth.credentials import Credentials, Route, WebSocketOptions
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
from qlikauth.http.diagnosis import check_login_redirect, check_response
from qlikauth.http.values import HttpRequest, HttpResponse, with_xrfkey
from qlikauth.identity import QlikUser
from qlikauth.sessions import personal_api_user
from qlikauth.site import Site

__all__ = [
    "authed",
    "build_url",
    "close_op",
    "credentials_op",
    "download_op",
    "engine_op",
    "is_rejection",
    "login_op",
    "logout_op",
    "open_app_op",
    "request_op",
    "rest_request",
    "websocket_options_op",
    "whoami_op",
]

log = logging.getLogger("qlikauth.client")

#: Errors from the engine connector after which one fresh login is worth a try.
_ENGINE_AUTH_ERRORS = (
    WebSocketRejectedError,
    MustAuthenticateError,
    SessionExpiredError,
    LoginRedirectError,
)

# --------------------------------------------------------------------------- the session


def login_op(state: ClientState, stale: Credentials | None) -> Op[Credentials]:
    """What the driver runs for a :class:`Login` step, holding the client's lock."""
    if stale is None and state.engines_open():
        # Engine traffic keeps the proxy session alive without passing through here: an
        # open socket must not make the timer log its session out.
        state.touch()
    if not state.needs_login(stale):
        assert state.credentials is not None
        return state.credentials
    old = state.credentials
    if old is not None and state.authenticator.creates_session:
        yield from _logout_quietly(state, old)
    state.credentials = None
    try:
        # prepare() may block (a directory check): the asyncio driver runs it in a thread.
        prepared = yield Blocking(functools.partial(state.authenticator.prepare, state.site))
        credentials: Credentials = yield from prepared.login(state.site)
    except SessionLimitError as exc:
        raise (yield from explain_limit(state, exc)) from exc
    state.accept(credentials)
    return credentials


def credentials_op(stale: Credentials | None = None) -> Op[Credentials]:
    """The current credentials, logging in first if needed (or replacing ``stale`` ones)."""
    credentials: Credentials = yield Login(stale)
    return credentials


def explain_limit(state: ClientState, exc: SessionLimitError) -> Op[SessionLimitError]:
    """The refusal with the user's session count (asked from QPS when possible)."""
    reported_user, reported_count = state.reported(exc)
    user = state.user_hint() or reported_user
    count = None
    request = state.session_count_request(user) if user is not None else None
    if request is not None:
        try:
            count = count_from((yield request))
        except QlikAuthError as err:
            log.info("could not count sessions: %s", err.message)
    return state.session_limit_error(exc, user, count, reported_count)


def _logout_quietly(state: ClientState, credentials: Credentials) -> Op[None]:
    try:
        yield from state.authenticator.logout(state.site, credentials)
    except QlikAuthError as exc:
        log.info("logout of the previous session failed: %s", exc.message)


def logout_op(state: ClientState) -> Op[None]:
    """End the proxy session (the authenticator's logout flow) and forget it."""

    def locked() -> Op[None]:
        credentials, state.credentials = state.credentials, None
        if credentials is not None:
            yield from state.authenticator.logout(state.site, credentials)

    yield Exclusive(locked())


def close_op(state: ClientState) -> Op[None]:
    """Close the engine sockets, log out if the client owns the session, then mark it closed.

    The driver closes its transport afterwards.
    """

    def locked() -> Op[None]:
        if state.closed:
            return
        credentials, state.credentials = state.credentials, None
        try:
            for connection in state.take_engines():
                yield Invoke(connection.close)
            if credentials is not None and state.logout_on_close:
                yield from _logout_quietly(state, credentials)
        finally:
            state.closed = True

    yield Exclusive(locked())


# --------------------------------------------------------------------------- REST


def is_rejection(site: Site, request: HttpRequest, response: HttpResponse) -> bool:
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


def authed(
    site: Site,
    build: Callable[[Credentials], HttpRequest],
    rejected: Callable[[HttpRequest, HttpResponse], bool] | None = None,
    credentials: Credentials | None = None,
) -> Op[HttpResponse]:
    """Send a request with the cached credentials; on a refusal log in once and resend."""
    refused = rejected or (lambda req, resp: is_rejection(site, req, resp))
    if credentials is None:
        credentials = yield Login()
    request = build(credentials)
    response: HttpResponse = yield request
    if not refused(request, response):
        return response
    log.info("session refused (%s); logging in again", response.status)
    credentials = yield Login(stale=credentials)
    request = build(credentials)
    response = yield request
    if refused(request, response):
        raise _rejection_error(site, request, response)
    return response


def whoami_op(site: Site) -> Op[QlikUser]:
    """The user of this session, through the personal API (the certificate user direct)."""
    credentials: Credentials = yield Login()
    if credentials.route is Route.DIRECT:
        if credentials.user is None:
            raise ConfigurationError(
                "direct (certificate) credentials without a user",
                hint="Give the certificate authenticator the user to act as.",
            )
        return credentials.user

    def refused(request: HttpRequest, response: HttpResponse) -> bool:
        return is_rejection(site, request, response) or (
            response.status == 200 and personal_api_user(response, include_anonymous=True) is None
        )

    def whoami(c: Credentials) -> HttpRequest:
        return HttpRequest("GET", site.personal_url("user"), c.http_headers())

    response = yield from authed(site, whoami, refused, credentials)
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


def build_url(site: Site, credentials: Credentials, path: str, params: Mapping[str, str]) -> str:
    """The absolute URL for ``path``: relative to the virtual proxy, or direct to QRS/QPS."""
    try:
        parts = urlsplit(path)
    except ValueError:
        raise ConfigurationError(
            f"cannot read {path!r} as a path or URL",
            hint="Give a path relative to the virtual proxy, e.g. qrs/about.",
        ) from None
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
        try:
            return urlunsplit(parts._replace(query=urlencode(query)))
        except UnicodeEncodeError:
            raise ConfigurationError(
                "a query parameter holds a lone surrogate, which is not text",
                hint="Pass parameters as text as it was sent.",
            ) from None
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


def rest_request(
    site: Site,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    data: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Callable[[Credentials], HttpRequest]:
    """How to build one REST request for whatever credentials are current."""

    def build(credentials: Credentials) -> HttpRequest:
        url = build_url(site, credentials, path, params or {})
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


def request_op(
    site: Site,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    json: Any = None,
    data: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Op[HttpResponse]:
    """One authenticated REST request (see ``QlikClient.request``)."""
    build = rest_request(
        site, method, path, params=params, json_body=json, data=data, headers=headers
    )
    return (yield from authed(site, build))


# --------------------------------------------------------------------------- engine and files


def websocket_options_op(
    site: Site, app_id: str | None, identity: str | None, ttl: int | None
) -> Op[WebSocketOptions]:
    """URL, headers, Origin and TLS for a third-party websocket client, same session."""
    credentials: Credentials = yield Login()
    return credentials.websocket_options(site, app_id, identity=identity, ttl=ttl)


def _open_engine(
    state: ClientState, credentials: Credentials, options: Mapping[str, Any]
) -> Op[Any]:
    try:
        connection: EngineHandle = yield OpenEngine(credentials, options)
    except SessionLimitError as exc:
        raise (yield from explain_limit(state, exc)) from exc
    state.remember_engine(connection)
    return connection


def engine_op(state: ClientState, options: Mapping[str, Any]) -> Op[Any]:
    """An engine connection with this session; one fresh login if the socket is refused."""
    credentials: Credentials = yield Login()
    try:
        return (yield from _open_engine(state, credentials, options))
    except _ENGINE_AUTH_ERRORS as exc:
        log.info("engine refused (%s); logging in again", type(exc).__name__)
    credentials = yield Login(stale=credentials)
    return (yield from _open_engine(state, credentials, options))


def open_app_op(state: ClientState, app_id: str, options: Mapping[str, Any]) -> Op[Any]:
    """Open ``app_id`` on a new engine connection; its ``Doc`` (or ``AsyncDoc``)."""
    connection = yield from engine_op(state, {"app_id": app_id, **options})
    try:
        try:
            return (yield Invoke(functools.partial(connection.open_doc, app_id)))
        except AppAlreadyOpenError:
            # Same user, same app: the engine attached this socket to the session that
            # already has the app open (qlik-protocol.md §3.4).
            return (yield Invoke(connection.get_active_doc))
    except QlikAuthError:
        yield Invoke(connection.close)
        raise


def download_op(
    state: ClientState,
    url: str,
    path: Path | str,
    *,
    allow_hosts: Collection[str],
    exporter: QlikUser | None,
    progress: bool | None,
    callback: Any,
    chunk_size: int,
    max_bytes: int | None = None,
    deadline: float | None = None,
) -> Op[Any]:
    """Download a ``qUrl`` with this session; log in once if the session had ended.

    A login redirect while the personal API says the session is gone logs in once and
    retries; a refusal of a still-valid session is raised as is (wrong user or prefix).
    """
    options = {
        "url": url,
        "path": path,
        "allow_hosts": allow_hosts,
        "exporter": exporter,
        "progress": progress,
        "callback": callback,
        "chunk_size": chunk_size,
        "max_bytes": max_bytes,
        "deadline": deadline,
    }
    credentials: Credentials = yield Login()
    try:
        result = yield Download(credentials, options)
    except LoginRedirectError as exc:
        if exc.session_valid is not False:
            raise
        log.info("download refused with an ended session; logging in again")
        credentials = yield Login(stale=credentials)
        result = yield Download(credentials, options)
    state.touch()
    return result
