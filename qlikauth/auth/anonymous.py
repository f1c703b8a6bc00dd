"""Anonymous access, for virtual proxies that allow it (``anonymousAccessMode`` 1 or 2).

The proxy makes an anonymous session for the first request; the personal API then names
the user ``NONE\\anonymous<GUID>`` (qlik-protocol.md §1.6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from qlikauth.auth.base import DEFAULT_SESSION_TIMEOUT, Authenticator, session_cookie_from
from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.errors import ApiError, CredentialsRejectedError, LoginRedirectError
from qlikauth.http import Flow, HttpRequest, HttpResponse, check_login_redirect
from qlikauth.site import Site

__all__ = ["AnonymousAuth"]


def _refuse(site: Site, request: HttpRequest, response: HttpResponse) -> None:
    where = site.virtual_proxy_label
    hint = (
        f"{where} does not allow anonymous access: set its anonymous access mode to "
        "'Allow anonymous user' in the QMC, or use another authenticator."
    )
    try:
        check_login_redirect(request, response, site=site)
    except LoginRedirectError as exc:
        raise LoginRedirectError(
            f"anonymous login: {exc.message}",
            location=response.location,
            url=request.url,
            status=response.status,
            hint=hint,
        ) from exc
    if response.is_redirect or response.status == 401:
        raise LoginRedirectError(
            f"anonymous login: {where} answered {response.status} instead of a session",
            location=response.location,
            url=request.url,
            status=response.status,
            hint=hint,
        )
    if response.status >= 400 and response.status != 404:
        raise ApiError(
            f"anonymous login: HTTP {response.status} {response.text.strip()[:200]}",
            status=response.status,
            body=response.text,
            url=request.url,
        )


@dataclass(frozen=True)
class AnonymousAuth(Authenticator):
    """Take the anonymous session a virtual proxy offers; no secrets involved."""

    name: ClassVar[str] = "anonymous"

    def login(self, site: Site) -> Flow[Credentials]:
        """Get the anonymous session cookie and CSRF token, then the anonymous user's name."""
        request = HttpRequest("GET", site.personal_url("csrftoken"))
        response = yield request
        _refuse(site, request, response)
        found = session_cookie_from(response, site)
        if found is None:
            raise CredentialsRejectedError(
                f"anonymous login: the proxy set no session cookie "
                f"(it set: {', '.join(sorted(response.set_cookies())) or 'none'})",
                hint="The virtual proxy may not allow anonymous access, or its cookie name "
                "differs from the configured one.",
            )
        name, value = found
        csrf = response.header("qlik-csrf-token") if response.status != 404 else None
        credentials = Credentials(
            route=Route.PROXY, cookies={name: value}, csrf_token=csrf, cookie_name=name
        )
        whoami = HttpRequest("GET", site.personal_url("user"), credentials.http_headers())
        answer = yield whoami
        _refuse(site, whoami, answer)
        data = answer.json()
        directory = data.get("userDirectory") if isinstance(data, dict) else None
        user_id = data.get("userId") if isinstance(data, dict) else None
        if not directory or not user_id:
            raise CredentialsRejectedError(
                "anonymous login: the proxy reports no user for the session",
                hint="The virtual proxy does not allow anonymous access.",
            )
        return credentials.replace(
            user=QlikUser(str(directory), str(user_id)),
            expires_at=time.time() + DEFAULT_SESSION_TIMEOUT,
        )
