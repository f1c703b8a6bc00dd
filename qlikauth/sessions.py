"""The life of a proxy session, as flows without I/O: how it starts, completes and ends.

Every proxy login starts the same way, on every Qlik Sense release (qlik-protocol.md §10):
one *ordinary* proxied request carries the credential, and the session cookie the proxy
sets on its answer is the session. A ticket is redeemed on the hub
(``GET /{prefix}/hub/?qlikTicket=...``); a header user, a Bearer JWT or an anonymous visit
authenticate on ``GET /{prefix}/qrs/about`` (with an Xrfkey, as QRS requires); an anonymous
session starts on the hub, as a browser's does. Only then,
with the cookie, comes ``GET /{prefix}/qps/csrftoken`` for the websocket CSRF token (a 404
means a release before November 2024, which needs none), and the personal API names the
user. ``csrftoken`` is never asked to authenticate anything: what Qlik documents is that it
hands out the token of a session that exists.

A login that fails after the proxy made a session ends that session again (through QPS
with the site's client certificate, else the personal API), so that failed attempts never
eat the user's five session slots. Flows get transport failures thrown in at the request
that failed (see :func:`qlikauth.http.run_flow`), so this holds for timeouts too. The
proxy may also make a session whose cookie never reaches us:

* the answer comes after the login gave up on it (a timeout): the authenticating request
  carries :func:`end_late_session`, which the transport runs on that late answer;
* the answer is lost (the connection was cut after the proxy acted): only QPS can name the
  session. With the site's client certificate, a login for a known user first asks QPS for
  the user's sessions on the virtual proxy, and after a lost answer ends those that
  appeared since. (Another login of the same user at that very moment would lose its
  session too; it logs in again.) Without the certificate such a session is left to the
  proxy's inactivity timeout.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TypeVar
from urllib.parse import quote

from qlikauth.credentials import Credentials, Route
from qlikauth.errors import (
    ApiError,
    ConfigurationError,
    CredentialsRejectedError,
    LoginRedirectError,
    QlikAuthError,
    SessionLimitError,
    TransportError,
    redact_url,
)
from qlikauth.http.diagnosis import check_login_redirect, session_limit_refusal
from qlikauth.http.values import Flow, HttpRequest, HttpResponse, with_xrfkey
from qlikauth.identity import QlikUser
from qlikauth.site import DEFAULT_COOKIE_NAME, Site

__all__ = [
    "DEFAULT_SESSION_TIMEOUT",
    "TICKET_PARAMETER",
    "complete_session",
    "credential_request",
    "end_late_session",
    "end_session",
    "end_session_quietly",
    "expect_late_answers",
    "hub_request",
    "personal_api_user",
    "session_cookie_from",
    "start_session",
]

log = logging.getLogger("qlikauth.sessions")
T = TypeVar("T")

#: Qlik's default session inactivity timeout; credentials are refreshed before it.
DEFAULT_SESSION_TIMEOUT = 30 * 60.0
#: Qlik's spelling of the query parameter that carries a ticket to the proxy.
TICKET_PARAMETER = "qlikTicket"


def credential_request(site: Site, headers: Mapping[str, str]) -> HttpRequest:
    """The ordinary resource a header user or a Bearer JWT logs in on.

    ``GET /{prefix}/qrs/about`` with an Xrfkey: small, JSON, open to every user, and the
    resource Qlik's own REST SDK starts its sessions on.
    """
    return with_xrfkey(HttpRequest("GET", site.proxy_url("qrs/about"), headers))


def hub_request(site: Site, ticket: str | None = None) -> HttpRequest:
    """The virtual proxy's hub, where browsers redeem tickets and get anonymous sessions."""
    query = {TICKET_PARAMETER: ticket} if ticket is not None else None
    return HttpRequest("GET", site.proxy_url("hub/", query))


def start_session(
    site: Site,
    request: HttpRequest,
    *,
    what: str,
    user: QlikUser | None = None,
    include_anonymous: bool = False,
) -> Flow[Credentials]:
    """Send the authenticating ``request``, keep the session it makes, then complete it.

    ``user`` is who the login is for, when known: with the site's client certificate, a
    session the proxy made but whose answer was lost is then found through QPS and ended.
    """
    before = yield from _session_ids(site, user)
    try:
        response = yield replace(request, late_answer=functools.partial(end_late_session, site))
    except TransportError:
        if user is not None and before is not None:
            yield from _end_sessions_since(site, user, before)
        raise
    try:
        check_login_redirect(request, response, site=site)
    except LoginRedirectError as exc:
        raise LoginRedirectError(
            f"{what}: {site.virtual_proxy_label} sent the login to its login page instead of "
            f"accepting it ({request.method} {redact_url(request.url)})",
            location=exc.location,
            url=request.url,
            status=response.status,
            hint="Check the prefix, and that the virtual proxy's authentication method is "
            "the one this login uses (an unknown prefix is read as a page of the default "
            "virtual proxy).",
        ) from None
    # A cookie means the proxy took the credential, whatever the resource itself answered.
    found = session_cookie_from(response, site)
    if found is None:
        stray = _stray_session_cookie(response, site)
        if stray is not None:
            # The proxy made a session under another name: end it, or it holds a slot.
            yield from end_session_quietly(site, _proxy_credentials(*stray))
        _raise_for_login_answer(request, response, site, what, resource="the proxy")
        raise _no_cookie_error(response, site, what, stray)
    return (
        yield from complete_session(
            site, *found, what=what, include_anonymous=include_anonymous, owned=True
        )
    )


def complete_session(
    site: Site,
    cookie_name: str,
    session_id: str,
    *,
    what: str,
    include_anonymous: bool = False,
    owned: bool = True,
) -> Flow[Credentials]:
    """Turn a session cookie into credentials: the CSRF token, then the user.

    ``owned`` says the session was made by this login: a failure from here on ends it.
    """
    credentials = _proxy_credentials(cookie_name, session_id)
    try:
        token = yield from _csrf_token(site, credentials, what)
        credentials = credentials.replace(csrf_token=token)
        whoami = with_xrfkey(
            HttpRequest("GET", site.personal_url("user"), credentials.http_headers())
        )
        answer = yield whoami
        _raise_for_login_answer(whoami, answer, site, what)
        user = personal_api_user(answer, include_anonymous=include_anonymous)
        if user is None:
            raise CredentialsRejectedError(
                f"{what}: the proxy set a session cookie but reports no logged-in user",
                hint="The identity was not accepted on this virtual proxy; check its "
                "authentication method and the user's access.",
            )
    except (QlikAuthError, KeyboardInterrupt):
        if owned:
            yield from end_session_quietly(site, credentials)
        raise
    return credentials.replace(user=user, expires_at=time.time() + DEFAULT_SESSION_TIMEOUT)


def _csrf_token(site: Site, credentials: Credentials, what: str) -> Flow[str | None]:
    request = with_xrfkey(
        HttpRequest("GET", site.personal_url("csrftoken"), credentials.http_headers())
    )
    response = yield request
    if response.status == 404:
        return None  # a release before November 2024: websockets need no token
    _raise_for_login_answer(request, response, site, what)
    if not 200 <= response.status < 300:
        raise ApiError(
            f"{what}: HTTP {response.status} from the CSRF token endpoint",
            status=response.status,
            body=response.text,
            url=request.url,
        )
    return response.header("qlik-csrf-token")


def end_session(site: Site, credentials: Credentials) -> Flow[None]:
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
    if site.tls.bundle is not None and session_id and session_id.strip("."):
        answer = yield _delete_session_request(site, session_id)
        if answer.status in (200, 204, 404):  # 404: the session had ended already
            return None
        log.info("QPS did not end the session (HTTP %s); logging the user out", answer.status)
    yield with_xrfkey(HttpRequest("DELETE", site.personal_url("user"), credentials.http_headers()))
    return None


def end_late_session(site: Site, response: HttpResponse) -> Flow[None]:
    """End the session a login's late answer made (the login had given up on it)."""
    try:
        found = session_cookie_from(response, site) or _stray_session_cookie(response, site)
    except ConfigurationError:
        found = None
    if found is not None:
        yield from end_session_quietly(site, _proxy_credentials(*found))


def expect_late_answers(
    flow: Flow[T], late_answer: Callable[[HttpResponse], Flow[None]]
) -> Flow[T]:
    """Run ``flow`` with ``late_answer`` attached to every request it sends (see
    :attr:`HttpRequest.late_answer`)."""
    try:
        request = next(flow)
        while True:
            try:
                response = yield replace(request, late_answer=late_answer)
            except QlikAuthError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _delete_session_request(site: Site, session_id: str) -> HttpRequest:
    """``DELETE /qps/{prefix}/session/{id}``, the id one path segment whatever it holds
    (a server or a cookie chooses it: ``../user/...`` must not reach another resource)."""
    path = f"session/{quote(session_id, safe='')}"
    return with_xrfkey(HttpRequest("DELETE", site.qps_url(path)))


def _user_sessions_request(site: Site, user: QlikUser) -> HttpRequest:
    path = f"user/{quote(user.directory, safe='')}/{quote(user.user_id, safe='')}"
    return with_xrfkey(HttpRequest("GET", site.qps_url(path), {"Accept": "application/json"}))


def _session_ids(site: Site, user: QlikUser | None) -> Flow[frozenset[str] | None]:
    """The ids of ``user``'s sessions on the virtual proxy per QPS; ``None`` if unknown."""
    if user is None or site.tls.bundle is None:
        return None
    try:
        answer = yield _user_sessions_request(site, user)
        data = answer.json() if answer.status == 200 else None
    except QlikAuthError as exc:
        log.info("QPS could not list the user's sessions before the login: %s", exc.message)
        return None
    if not isinstance(data, list):
        return None
    return frozenset(_ids_in(data))


def _ids_in(items: Iterable[object]) -> Iterable[str]:
    for item in items:
        if isinstance(item, dict):
            found = next((v for k, v in item.items() if k.lower() == "sessionid"), None)
            if isinstance(found, str) and found:
                yield found


def _end_sessions_since(site: Site, user: QlikUser, before: frozenset[str]) -> Flow[None]:
    """End ``user``'s sessions on the virtual proxy that QPS did not list ``before``."""
    now = yield from _session_ids(site, user)
    for session_id in sorted(i for i in (now or frozenset()) - before if i.strip(".")):
        log.info("ending a proxy session of %s that a login whose answer was lost made", user)
        try:
            yield _delete_session_request(site, session_id)
        except QlikAuthError as exc:
            log.info("could not end it: %s", exc.message)


def end_session_quietly(site: Site, credentials: Credentials) -> Flow[None]:
    """End a session a failed login made; a failure to do so is logged, not raised."""
    try:
        yield from end_session(site, credentials)
    except QlikAuthError as exc:
        log.info("could not end the failed login's proxy session: %s", exc.message)
    else:
        log.info("ended the proxy session of a failed login")


def _proxy_credentials(cookie_name: str, session_id: str) -> Credentials:
    return Credentials(
        route=Route.PROXY, cookies={cookie_name: session_id}, cookie_name=cookie_name
    )


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


def _stray_session_cookie(response: HttpResponse, site: Site) -> tuple[str, str] | None:
    """The one session cookie a response set under a name other than the configured one."""
    if site.cookie_name is None:
        return None
    others = [
        (k, v)
        for k, v in response.set_cookies().items()
        if v and k.startswith(DEFAULT_COOKIE_NAME) and k != site.cookie_name
    ]
    return others[0] if len(others) == 1 else None


def _no_cookie_error(
    response: HttpResponse, site: Site, what: str, stray: tuple[str, str] | None
) -> QlikAuthError:
    if response.status == 404:
        return ApiError(
            f"{what}: the proxy answered 404 and set no session cookie",
            status=404,
            body=response.text,
            url=response.url,
            hint=f"Check the virtual proxy prefix ({site.prefix or 'none'}): an unknown "
            "prefix is read as a path of the default virtual proxy.",
        )
    set_names = sorted(response.set_cookies())
    expected = site.cookie_name or "X-Qlik-Session*"
    hint = (
        "Check the virtual proxy's 'Session cookie header name' in the QMC and configure the "
        "same name (over plain http Qlik adds '-HTTP')."
    )
    if stray is not None:
        hint = (
            f"The proxy named its session cookie {stray[0]}: configure that name (the "
            "virtual proxy's 'Session cookie header name' in the QMC). The session it made "
            "was ended again."
        )
    return ConfigurationError(
        f"{what}: the proxy accepted the request but set no session cookie named "
        f"{expected} (it set: {', '.join(set_names) or 'none'})",
        hint=hint,
    )


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
    request: HttpRequest,
    response: HttpResponse,
    site: Site,
    what: str,
    *,
    resource: str = "the personal API",
) -> None:
    """Raise the specific error for an answer that refuses the login (a 404 passes)."""
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
            f"{what}: HTTP {response.status} from {request.method} {resource}: "
            f"{response.text.strip()[:300]}",
            status=response.status,
            body=response.text,
            url=request.url,
        )
