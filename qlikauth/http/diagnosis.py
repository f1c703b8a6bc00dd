"""What Qlik's answers mean: login pages and redirects, refusals, the session limit. No I/O."""

from __future__ import annotations

from qlikauth.errors import (
    ApiError,
    LoginRedirectError,
    XrfkeyRejectedError,
    redact_url,
    session_count_in,
)
from qlikauth.http.values import HttpRequest, HttpResponse, looks_like_login_page
from qlikauth.site import Site

__all__ = [
    "check_login_redirect",
    "check_response",
    "is_login_location",
    "session_count_in",
    "session_limit_refusal",
]

_LOGIN_MARKERS = (
    "internal_windows_authentication",
    "internal_forms_authentication",
    "targetid=",
    "proxyresturi=",
    "login",
)


def is_login_location(location: str) -> bool:
    """Whether a redirect's ``Location`` points at a login page or module."""
    lowered = location.lower()
    return any(marker in lowered for marker in _LOGIN_MARKERS)


def check_login_redirect(
    request: HttpRequest, response: HttpResponse, *, site: Site | None = None
) -> None:
    """Raise :class:`LoginRedirectError` if ``response`` is a login page or redirect to one.

    Call it where a resource (JSON, a file) was expected. The message says which session
    cookie was sent, for which virtual proxy, and what usually causes this.
    """
    login_page = response.status == 200 and looks_like_login_page(response)
    login_redirect = response.is_redirect and is_login_location(response.location or "")
    if not (login_page or login_redirect):
        return
    sent_cookie = next((v for k, v in request.headers.items() if k.lower() == "cookie"), None)
    cookie_names = (
        [part.split("=", 1)[0].strip() for part in sent_cookie.split(";")] if sent_cookie else []
    )
    if site is not None:
        where = site.virtual_proxy_label
        expected = site.cookie_name
    else:
        where, expected = "this virtual proxy", None
    if not cookie_names:
        cause = f"no session cookie was sent to {where}"
    elif expected and expected not in cookie_names:
        cause = f"the cookie(s) {', '.join(cookie_names)} were sent, but {where} expects {expected}"
    else:
        cause = (
            f"the session cookie {', '.join(cookie_names)} was sent to {where} but the proxy "
            "does not know it (expired, logged out, or made for another virtual proxy)"
        )
    what = "an HTML login page" if login_page else "a redirect to the login page"
    raise LoginRedirectError(
        f"{request.method} {redact_url(request.url)} was answered with {what}: {cause}",
        location=response.location,
        url=request.url,
        status=response.status,
        hint="Fetch it with the same session cookie, through the same virtual proxy prefix, "
        "as the same user that created it; a header named X-Qlik-Session is not a session.",
    )


def check_response(response: HttpResponse, *, what: str) -> HttpResponse:
    """Return a 2xx response; turn any other into the specific :class:`ApiError`."""
    if 200 <= response.status < 300:
        return response
    text = response.text.strip()
    if response.status == 403 and "xsrf" in text.lower():
        raise XrfkeyRejectedError(
            f"{what} was refused: 403 {text[:200]}",
            status=403,
            body=text,
            url=response.url,
            hint="Send the same 16-character Xrfkey as the xrfkey= query parameter and the "
            "X-Qlik-Xrfkey header (qlikauth does this for you on every QPS/QRS call); an "
            "unescaped '#' in the URL also drops it.",
        )
    raise ApiError(
        f"{what} failed: HTTP {response.status} {text[:300]}",
        status=response.status,
        body=text,
        url=response.url,
        hint=_status_hint(response.status),
    )


def session_limit_refusal(response: HttpResponse) -> tuple[bool, int | None]:
    """Whether ``response`` refuses a session for the per-user limit, and the count it names.

    The proxy answers 403 with a text such as "... SessionCount: '5'" (qlik-protocol.md §5).
    """
    text = response.text
    lowered = text.lower()
    if response.status != 403 or "session" not in lowered:
        return False, None
    if not ("parallel" in lowered or "limit" in lowered or "sessioncount" in lowered):
        return False, None
    return True, session_count_in(text)


def _status_hint(status: int) -> str | None:
    return {
        400: "Qlik rejected the request body or parameters; check names and values.",
        401: "The credentials were not accepted.",
        403: "The identity has no access, or the host is not in the virtual proxy's allow list.",
        404: "Check the virtual proxy prefix and the path; direct ports take no prefix.",
    }.get(status) or (
        "The server failed, not the credentials: try again later, and check the Qlik services "
        "(proxy, repository, engine) and their logs if it goes on."
        if status >= 500
        else None
    )
