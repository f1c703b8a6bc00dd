"""RequestsAuth: a QlikClient's session for any ``requests``-based code.

Only URLs the site owns get the session; same-site redirects keep it (the session cookie
goes into the request's cookie jar, scoped to the site's host), and credentials are
stripped before a redirect leaves the site.
"""

from __future__ import annotations

import contextlib
from http.cookiejar import Cookie
from typing import Any, Protocol
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
import requests.auth
from requests.cookies import RequestsCookieJar

from qlikauth.client.ops import is_rejection
from qlikauth.credentials import Credentials, Route
from qlikauth.http.values import HttpRequest, HttpResponse, with_xrfkey
from qlikauth.site import Site

__all__ = ["RequestsAuth", "SessionHolder"]

_MARK = "_qlikauth_credentials"
_JAR = "_qlikauth_jar"
_RETRIED = "_qlikauth_retried"


class SessionHolder(Protocol):
    """What :class:`RequestsAuth` needs of a client: a :class:`~qlikauth.client.QlikClient`."""

    @property
    def site(self) -> Site: ...

    def credentials(self) -> Credentials: ...

    def relogin(self, stale: Credentials) -> Credentials: ...


def _cookie_domain(host: str) -> str:
    # http.cookiejar matches a dotless host such as "localhost" as "localhost.local".
    return host if "." in host or ":" in host else f"{host}.local"


class RequestsAuth(requests.auth.AuthBase):
    """A ``requests`` auth that presents a :class:`QlikClient`'s session to any script.

    Only URLs the site owns get the session cookie, the CSRF token and an Xrfkey (query and
    header, unless the URL already has one); on a login redirect or 401 it logs in again once
    and resends. Credentials are stripped before a redirect leaves the site. TLS trust is
    the caller's: pass ``verify=auth.verify`` (the site's root certificate file).
    """

    def __init__(self, client: SessionHolder) -> None:
        self.client = client

    @property
    def verify(self) -> str | bool:
        """What to pass ``requests`` as ``verify=`` for the site: its root certificate file,
        ``True`` for the system's trust store, ``False`` when verification is turned off.

        A path given per request also keeps ``REQUESTS_CA_BUNDLE`` from replacing it.
        """
        tls = self.client.site.tls
        if not tls.verify:
            return False
        return str(tls.root) if tls.root is not None else True

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
        for name, value in credentials.headers.items():
            request.headers[name] = value
        if credentials.csrf_token is not None:
            request.headers["qlik-csrf-token"] = credentials.csrf_token
        if not any(k.lower() == "xrfkey" for k, _ in parse_qsl(urlsplit(url).query)):
            signed = with_xrfkey(HttpRequest(request.method or "GET", url))
            request.prepare_url(signed.url, None)
            request.headers["X-Qlik-Xrfkey"] = signed.headers["X-Qlik-Xrfkey"]
        # The caller's own cookies (already in the Cookie header) and ours go into one jar
        # scoped to the site's host: requests rebuilds the Cookie header from a request's
        # jar on each same-site redirect, and the jar's domain keeps ours from leaving.
        jar = RequestsCookieJar()
        for name, value in _header_cookies(request.headers.get("Cookie")):
            if name not in credentials.cookies:
                jar.set_cookie(_site_cookie(site, name, value))
        for name, value in credentials.cookies.items():
            jar.set_cookie(_site_cookie(site, name, value))
        request.headers.pop("Cookie", None)
        request.prepare_cookies(jar)
        setattr(request, _MARK, credentials)
        setattr(request, _JAR, jar)

    def _strip(self, request: requests.PreparedRequest) -> None:
        credentials: Credentials | None = getattr(request, _MARK, None)
        names = {"cookie", "qlik-csrf-token", "x-qlik-xrfkey"}
        if credentials is not None:
            names |= {k.lower() for k in credentials.headers}
        for name in list(request.headers):
            if name.lower() in names:
                del request.headers[name]
        jar: RequestsCookieJar | None = getattr(request, _JAR, None)
        if jar is not None and credentials is not None:
            domain = _cookie_domain(self.client.site.host)
            for name in credentials.cookies:
                with contextlib.suppress(KeyError):
                    jar.clear(domain, "/", name)

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
        if not is_rejection(site, probe_request, probe):
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


def _header_cookies(header: str | None) -> list[tuple[str, str]]:
    if not header:
        return []
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if name and sep:
            pairs.append((name, value))
    return pairs


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
