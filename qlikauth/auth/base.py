"""The authenticator interface, the registry, and the proxy-session bootstrap they share.

An authenticator is a small immutable object whose :meth:`Authenticator.login` is a
generator: it yields :class:`~qlikauth.http.HttpRequest` values, receives each
:class:`~qlikauth.http.HttpResponse`, and returns :class:`~qlikauth.credentials.Credentials`.
It does no I/O, so the sync and asyncio drivers run the same code and tests drive it by
hand. Authenticators are found by name through the entry-point group
``qlikauth.authenticators``; the built-ins register there too.
"""

from __future__ import annotations

import functools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from importlib import metadata
from typing import Any, ClassVar

from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.errors import (
    ApiError,
    ConfigurationError,
    CredentialsRejectedError,
    LoginRedirectError,
    QlikAuthError,
    SessionLimitError,
)
from qlikauth.http import (
    Flow,
    HttpRequest,
    HttpResponse,
    check_login_redirect,
    session_limit_refusal,
)
from qlikauth.qps import delete_session_request
from qlikauth.site import DEFAULT_COOKIE_NAME, Site

__all__ = [
    "ENTRY_POINT_GROUP",
    "Authenticator",
    "available_authenticators",
    "bootstrap_session",
    "create_authenticator",
    "get_authenticator",
    "logout_flow",
    "personal_api_user",
    "session_cookie_from",
]

log = logging.getLogger("qlikauth.auth")

ENTRY_POINT_GROUP = "qlikauth.authenticators"
#: Qlik's default session inactivity timeout; credentials are refreshed before it.
DEFAULT_SESSION_TIMEOUT = 30 * 60.0


class Authenticator(ABC):
    """Turns configuration into :class:`Credentials` through a login flow without I/O.

    Subclasses set ``name`` (the registry name) and implement :meth:`login`. ``creates_session``
    says whether the login makes a new proxy session that qlikauth owns and should end on
    close (the default); it is ``False`` for sessions brought from elsewhere.
    """

    name: ClassVar[str] = ""
    creates_session: ClassVar[bool] = True

    @abstractmethod
    def login(self, site: Site) -> Flow[Credentials]:
        """Yield the requests the login needs and return the credentials."""

    def prepare(self, site: Site) -> Authenticator:
        """Do the blocking work a login needs besides HTTP; return the authenticator to run.

        The default has none and returns ``self``. An authenticator that must talk to
        something else first (``windows`` checks a password with a directory) does it here
        and returns an authenticator whose :meth:`login` flow needs nothing more. Drivers
        call it before each login: ``run_flow(auth.prepare(site).login(site), ...)``;
        :class:`~qlikauth.client.QlikClient` does, in a worker thread on asyncio.
        """
        return self

    def logout(self, site: Site, credentials: Credentials) -> Flow[None]:
        """End the proxy session: ``DELETE /{prefix}/qps/user`` with the session cookie.

        A session that is already gone is not an error.
        """
        return (yield from logout_flow(site, credentials))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def logout_flow(site: Site, credentials: Credentials) -> Flow[None]:
    """End this proxy session, and only it where Qlik allows that.

    With the site's client certificate, QPS deletes the one session
    (``DELETE /qps/{prefix}/session/{id}``). Without it, or if QPS refuses, the personal
    API's logout (``DELETE /{prefix}/qps/user``) is what is left, and Qlik then ends every
    session of the user on that virtual proxy: browser tabs and other scripts included.
    Direct and cookie-less credentials have no proxy session to end.
    """
    if credentials.route is Route.DIRECT or not credentials.cookies:
        return None
    session_id = credentials.session_id
    if site.tls.bundle is not None and session_id:
        answer = yield delete_session_request(site, session_id)
        if answer.status in (200, 204, 404):  # 404: the session had ended already
            return None
        log.info("QPS did not end the session (HTTP %s); logging the user out", answer.status)
    yield HttpRequest("DELETE", site.personal_url("user"), credentials.http_headers())
    return None


def session_cookie_from(response: HttpResponse, site: Site) -> tuple[str, str] | None:
    """The proxy session cookie a response sets, as ``(name, value)``.

    With a configured cookie name only that cookie counts. Otherwise the one
    ``X-Qlik-Session*`` cookie is taken (the name is learned); several candidates are
    ambiguous and raise :class:`ConfigurationError` asking for the name.
    """
    cookies = {k: v for k, v in response.set_cookies().items() if v}
    expected = site.cookie_name
    if expected is not None:
        return (expected, cookies[expected]) if expected in cookies else None
    candidates = [(k, v) for k, v in cookies.items() if k.startswith(DEFAULT_COOKIE_NAME)]
    if len(candidates) > 1:
        raise ConfigurationError(
            f"the proxy set several session cookies ({', '.join(k for k, _ in candidates)})",
            hint="Set the virtual proxy's cookie name (its 'Session cookie header name' in "
            "the QMC) in the site configuration.",
        )
    return candidates[0] if candidates else None


def bootstrap_session(
    site: Site,
    headers: Mapping[str, str],
    *,
    query: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
    what: str = "login",
    include_anonymous: bool = False,
) -> Flow[Credentials]:
    """Turn one authenticated proxy request into a session: cookie + CSRF token + user.

    ``GET /{prefix}/qps/csrftoken`` with ``headers`` (a Bearer JWT, a header user, ...) and
    optional ``query`` (a ``qlikTicket``) makes the proxy set the session cookie and hand out
    the websocket CSRF token (204; 404 on releases before November 2024, which need none).
    Then the personal API (``GET /{prefix}/qps/user``) names the user. Every later request
    carries only the cookie.
    """
    request_headers = dict(headers)
    if cookies:
        request_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    request = HttpRequest("GET", site.personal_url("csrftoken", query), request_headers)
    response = yield request
    _raise_for_login_answer(request, response, site, what)
    csrf_token = response.header("qlik-csrf-token") if response.status != 404 else None
    found = session_cookie_from(response, site)
    known = site.cookie_name
    if found is None and cookies and known is not None and known in cookies:
        found = (known, cookies[known])
    if found is None:
        set_names = sorted(response.set_cookies())
        expected = site.cookie_name or "X-Qlik-Session*"
        raise ConfigurationError(
            f"{what}: the proxy accepted the request but set no session cookie named "
            f"{expected} (it set: {', '.join(set_names) or 'none'})",
            hint="Check the virtual proxy's 'Session cookie header name' in the QMC and "
            "configure the same name (over plain http Qlik adds '-HTTP').",
        )
    cookie_name, session_id = found
    credentials = Credentials(
        route=Route.PROXY,
        cookies={cookie_name: session_id},
        csrf_token=csrf_token,
        cookie_name=cookie_name,
    )
    whoami = HttpRequest("GET", site.personal_url("user"), credentials.http_headers())
    answer = yield whoami
    _raise_for_login_answer(whoami, answer, site, what)
    user = personal_api_user(answer, include_anonymous=include_anonymous)
    if user is None:
        raise CredentialsRejectedError(
            f"{what}: the proxy set a session cookie but reports no logged-in user",
            hint="The identity was not accepted on this virtual proxy; check its "
            "authentication method and the user's access.",
        )
    return credentials.replace(user=user, expires_at=time.time() + DEFAULT_SESSION_TIMEOUT)


def personal_api_user(
    response: HttpResponse, *, include_anonymous: bool = False
) -> QlikUser | None:
    """The user a personal API ``GET /qps/user`` answer names, or ``None``.

    Qlik answers an anonymous session with ``"session": "inactive"`` next to the anonymous
    user's name: a login does not count that as logged in; ``include_anonymous`` does (the
    session is known to the proxy).
    """
    if response.status != 200:
        return None
    try:
        data = response.json()
    except QlikAuthError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("session") == "inactive" and not include_anonymous:
        return None
    directory, user_id = data.get("userDirectory"), data.get("userId")
    if not directory or not user_id:
        return None
    try:
        return QlikUser(str(directory), str(user_id))
    except ConfigurationError:
        return None


def _raise_for_login_answer(
    request: HttpRequest, response: HttpResponse, site: Site, what: str
) -> None:
    check_login_redirect(request, response, site=site)
    if response.is_redirect:
        raise LoginRedirectError(
            f"{what}: the proxy redirected instead of answering",
            location=response.location,
            url=request.url,
            status=response.status,
            hint="The virtual proxy did not accept these credentials; check the prefix "
            "and the virtual proxy's authentication method.",
        )
    if response.status == 401:
        raise CredentialsRejectedError(
            f"{what}: the proxy answered 401: {response.text.strip()[:300]}",
            url=request.url,
            status=401,
            hint="The credentials were refused; the proxy's text above says which check failed.",
        )
    refused, count = session_limit_refusal(response)
    if refused:
        raise SessionLimitError(
            f"{what}: the proxy refused a new session: {response.text.strip()[:300]}",
            session_count=count,
            hint="The user holds too many proxy sessions; log out unused ones "
            "(qlikauth session list/delete) or reuse one session.",
        )
    if response.status >= 400 and response.status != 404:
        raise ApiError(
            f"{what}: HTTP {response.status} from {request.method} the personal API: "
            f"{response.text.strip()[:300]}",
            status=response.status,
            body=response.text,
            url=request.url,
        )


@functools.cache
def available_authenticators() -> Mapping[str, type[Authenticator]]:
    """Every authenticator registered under ``qlikauth.authenticators``, by name.

    A plug-in that fails to load is logged and skipped, so one broken plug-in does not
    break the others.
    """
    found: dict[str, type[Authenticator]] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry_point.load()
        except Exception as exc:  # third-party code may fail in any way
            # One line for users; the traceback only for whoever debugs the plug-in.
            log.warning(
                "could not load authenticator plug-in %r: %s: %s",
                entry_point.value,
                type(exc).__name__,
                exc,
            )
            log.debug("plug-in %r traceback", entry_point.value, exc_info=True)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Authenticator)):
            log.warning("plug-in %r is not an Authenticator subclass; skipped", entry_point.value)
            continue
        found[entry_point.name] = cls
    return found


def get_authenticator(name: str) -> type[Authenticator]:
    """The authenticator class registered as ``name``."""
    registry = available_authenticators()
    try:
        return registry[name]
    except KeyError:
        raise ConfigurationError(
            f"no authenticator named {name!r}",
            hint=f"Known: {', '.join(sorted(registry)) or 'none'}. Plug-ins register under "
            f"the entry-point group {ENTRY_POINT_GROUP!r}.",
        ) from None


def create_authenticator(name: str, **settings: Any) -> Authenticator:
    """Create the authenticator ``name`` from keyword settings."""
    cls = get_authenticator(name)
    try:
        return cls(**settings)
    except TypeError as exc:
        raise ConfigurationError(
            f"bad settings for the {name!r} authenticator: {exc}",
            hint=f"See help(qlikauth.{cls.__name__}) for its settings.",
        ) from exc
