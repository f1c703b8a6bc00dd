"""HTTP for qlikauth: request/response values, the flow drivers, and what the answers mean.

Authenticators describe their logins as generators that yield :class:`HttpRequest` values
and receive :class:`HttpResponse` values (httpx's ``auth_flow`` model); they do no I/O, so
one flow serves :func:`run_flow` (sync) and :func:`run_flow_async` (asyncio), and unit
tests drive it by hand. :class:`HttpTransport` sends requests for one site over a
``requests.Session``: kept-alive connections, the site's own TLS contexts on each of its
ports (never ``REQUESTS_CA_BUNDLE``), and no automatic redirects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import ssl
import string
import threading
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from qlikauth.credentials import SENSITIVE_HEADERS, check_header_value
from qlikauth.errors import (
    ApiError,
    LoginRedirectError,
    QlikAuthError,
    TransportError,
    XrfkeyRejectedError,
    redact_url,
)
from qlikauth.handshake import errors_in, explain_tls_failure
from qlikauth.site import Site

__all__ = [
    "Flow",
    "HttpRequest",
    "HttpResponse",
    "HttpStream",
    "HttpTransport",
    "check_login_redirect",
    "check_response",
    "mount_site_tls",
    "new_xrfkey",
    "run_flow",
    "run_flow_async",
    "session_count_in",
    "session_limit_refusal",
    "with_xrfkey",
]

log = logging.getLogger("qlikauth.http")

T = TypeVar("T")
#: A login (or logout) flow: yields requests, receives responses, returns its result.
Flow = Generator["HttpRequest", "HttpResponse", T]

_XRFKEY_ALPHABET = string.ascii_letters + string.digits
_LOGIN_MARKERS = (
    "internal_windows_authentication",
    "internal_forms_authentication",
    "targetid=",
    "proxyresturi=",
    "login",
)


def new_xrfkey() -> str:
    """A fresh Xrfkey: 16 characters of ``[0-9a-zA-Z]`` from :mod:`secrets`."""
    return "".join(secrets.choice(_XRFKEY_ALPHABET) for _ in range(16))


def _redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: "[secure]" if k.lower() in SENSITIVE_HEADERS else v for k, v in headers.items()}


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request an authenticator or client wants sent. Its repr hides secrets."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def __post_init__(self) -> None:
        for name, value in self.headers.items():
            check_header_value(name, value)

    @classmethod
    def json(
        cls, method: str, url: str, payload: Any, headers: Mapping[str, str] | None = None
    ) -> HttpRequest:
        """A request with a JSON body and ``Content-Type: application/json``."""
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(method, url, merged, json.dumps(payload).encode())

    def with_headers(self, headers: Mapping[str, str]) -> HttpRequest:
        """A copy with ``headers`` added (replacing same-named ones)."""
        merged = {
            k: v for k, v in self.headers.items() if k.lower() not in {h.lower() for h in headers}
        }
        merged.update(headers)
        return HttpRequest(self.method, self.url, merged, self.body)

    def __repr__(self) -> str:
        return (
            f"HttpRequest({self.method} {redact_url(self.url)}, "
            f"headers={_redacted_headers(self.headers)})"
        )


def with_xrfkey(request: HttpRequest, key: str | None = None) -> HttpRequest:
    """Add the same Xrfkey to the query (``xrfkey=``) and the ``X-Qlik-Xrfkey`` header."""
    key = key or new_xrfkey()
    parts = urlsplit(request.url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "xrfkey"
    ]
    query.append(("xrfkey", key))
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return HttpRequest(request.method, url, request.headers, request.body).with_headers(
        {"X-Qlik-Xrfkey": key}
    )


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP response, whole. ``headers`` keeps repeated headers (``Set-Cookie``)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    url: str = ""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def header_list(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    def set_cookies(self) -> dict[str, str]:
        """The cookies this response sets (name to value); deleted cookies map to ``""``."""
        out: dict[str, str] = {}
        for raw in self.header_list("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(raw)
            except CookieError:
                continue
            for name, morsel in jar.items():
                out[name] = morsel.value
        return out

    @property
    def location(self) -> str | None:
        """The ``Location`` header of a redirect."""
        return self.header("Location")

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and self.location is not None

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; an HTML login page or garbage raises a clear error."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            if _looks_like_login_page(self):
                raise LoginRedirectError(
                    "expected JSON but the proxy answered with an HTML login page",
                    hint="The request was not authenticated for this virtual proxy.",
                    url=self.url,
                    status=self.status,
                ) from exc
            kind = self.content_type or "no content type"
            raise ApiError(
                f"expected JSON from {redact_url(self.url)}, got {kind} ({len(self.body)} bytes)",
                status=self.status,
                body=self.text,
                url=self.url,
            ) from exc

    def __repr__(self) -> str:
        return f"HttpResponse({self.status} {redact_url(self.url)}, {len(self.body)} bytes)"


def _looks_like_login_page(response: HttpResponse) -> bool:
    if "html" not in response.content_type and not response.body.lstrip()[:15].lower().startswith(
        (b"<!doctype html", b"<html")
    ):
        return False
    lowered = response.body[:65536].lower()
    return b"<form" in lowered and (
        b'type="password"' in lowered or b'name="pwd"' in lowered or b"login" in lowered
    )


def _is_login_location(location: str) -> bool:
    lowered = location.lower()
    return any(marker in lowered for marker in _LOGIN_MARKERS)


def check_login_redirect(
    request: HttpRequest, response: HttpResponse, *, site: Site | None = None
) -> None:
    """Raise :class:`LoginRedirectError` if ``response`` is a login page or redirect to one.

    Call it where a resource (JSON, a file) was expected. The message says which session
    cookie was sent, for which virtual proxy, and what usually causes this.
    """
    login_page = response.status == 200 and _looks_like_login_page(response)
    login_redirect = response.is_redirect and _is_login_location(response.location or "")
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


_SESSION_COUNT_RE = re.compile(r"SessionCount\W{0,4}(\d+)", re.IGNORECASE)


def session_count_in(text: str) -> int | None:
    """The session count Qlik names in a refusal (``... SessionCount: '5'``), if any."""
    match = _SESSION_COUNT_RE.search(text)
    return int(match.group(1)) if match else None


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


class _SiteTLSAdapter(HTTPAdapter):
    """Uses one SSLContext for every connection, untouched by ``verify`` or environment."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(pool_connections=4, pool_maxsize=32)

    def _cert_reqs(self) -> str:
        return "CERT_NONE" if self._context.verify_mode == ssl.CERT_NONE else "CERT_REQUIRED"

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: object, cert: object = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        parts = urlsplit(request.url or "")
        host_params = {
            "scheme": parts.scheme.lower(),
            "host": parts.hostname,
            "port": parts.port or (443 if parts.scheme == "https" else 80),
        }
        return host_params, {"ssl_context": self._context, "cert_reqs": self._cert_reqs()}

    def cert_verify(self, conn: Any, url: str, verify: object, cert: object) -> None:
        # The context already holds the trust and identity; a CA bundle from the
        # environment (REQUESTS_CA_BUNDLE) must not be loaded into it.
        conn.cert_reqs = self._cert_reqs()
        conn.ca_certs = None
        conn.ca_cert_dir = None


def mount_site_tls(session: requests.Session, site: Site) -> None:
    """Make ``session`` use the site's own TLS on each of its HTTPS ports.

    The proxy and the authentication module get the server trust (unless the site is plain
    http); QPS, QRS and the engine port also the client certificate, when the site has one.
    ``REQUESTS_CA_BUNDLE`` and ``verify=`` no longer change what is trusted there.
    """
    if site.scheme == "https":
        _mount(session, site, site.proxy_port, trusted_zone=False)
        _mount(session, site, site.auth_port, trusted_zone=False)
    if site.tls.bundle is not None:
        for port in (site.qps_port, site.qrs_port, site.engine_port):
            _mount(session, site, port, trusted_zone=True)


def _mount(session: requests.Session, site: Site, port: int, *, trusted_zone: bool) -> None:
    tls = site.tls
    adapter = _SiteTLSAdapter(tls.client_context() if trusted_zone else tls.server_context())
    host = f"[{site.host}]" if ":" in site.host else site.host
    session.mount(f"https://{host.lower()}:{port}/", adapter)
    if port == 443:
        session.mount(f"https://{host.lower()}/", adapter)


class HttpStream:
    """A response whose body is read in chunks (downloads). Close it, or use ``with``."""

    def __init__(self, response: requests.Response, transport: HttpTransport) -> None:
        self._response = response
        self._transport = transport
        self.status = response.status_code
        self.headers = tuple(response.raw.headers.items())
        self.url = response.url

    def head(self, peek: int = 0) -> HttpResponse:
        """The status and headers as an :class:`HttpResponse` (reading up to ``peek`` bytes)."""
        body = self._response.raw.read(peek) if peek else b""
        return HttpResponse(self.status, self.headers, body, self.url)

    def iter_bytes(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The body in chunks of at most ``chunk_size`` bytes."""
        with self._transport._translate(self.url):
            yield from self._response.iter_content(chunk_size)

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> HttpStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpTransport:
    """Sends :class:`HttpRequest` values for one site over a kept-alive ``requests.Session``.

    The proxy and the internal authentication module are reached with the site's server
    trust; QPS, QRS and the direct engine port with its client certificate as well.
    Redirects are never followed. Thread-safe.
    """

    def __init__(
        self, site: Site, *, timeout: float = 30.0, session: requests.Session | None = None
    ) -> None:
        self.site = site
        self.timeout = timeout
        self._session = session or requests.Session()
        # No netrc, no environment proxies or CA bundles: what is sent is what we chose.
        self._session.trust_env = False
        # Credentials travel explicitly in each request: a cookie jar would replay one
        # flow's session cookie into another's requests (a reused ticket would "work").
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._mounted: set[int] = set()
        self._lock = threading.Lock()

    def _mount_for(self, url: str) -> None:
        # Lazily, port by port: a site without a client certificate must still reach its
        # proxy, and fails only when it calls a trusted port.
        parts = urlsplit(url)
        if not self.site.owns(url) or parts.scheme not in ("https", "wss"):
            return
        port = parts.port or 443
        with self._lock:
            if port in self._mounted:
                return
            site = self.site
            trusted_zone = port in (site.qps_port, site.qrs_port, site.engine_port)
            _mount(self._session, site, port, trusted_zone=trusted_zone)
            self._mounted.add(port)

    @contextlib.contextmanager
    def _translate(self, url: str) -> Iterator[None]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            yield
        except QlikAuthError:
            raise
        except requests.exceptions.SSLError as exc:
            # explain_tls_failure finds the ssl error inside requests' and urllib3's wrappers.
            raise explain_tls_failure(exc, host=host, port=port, config=self.site.tls) from exc
        except requests.exceptions.Timeout as exc:
            raise TransportError(
                f"timed out talking to {host}:{port}",
                url=url,
                hint="The server is slow or the port is filtered; raise the timeout or "
                "check the firewall.",
            ) from exc
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            OSError,
        ) as exc:
            refusal = self._tls_refusal(exc, port)
            if refusal is not None:
                raise explain_tls_failure(
                    refusal, host=host, port=port, config=self.site.tls
                ) from exc
            raise TransportError(
                f"could not talk to {host}:{port}: {type(exc).__name__}",
                url=url,
                hint="Check the host name and port, and that this machine can reach them "
                "(ports 4242/4243/4747 are often open only inside the network).",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"HTTP request failed: {type(exc).__name__}", url=url) from exc

    def _tls_refusal(self, exc: BaseException, port: int) -> BaseException | None:
        """The TLS-level cause of a failure on a mutual-TLS port, if TLS ended it.

        With TLS 1.3 a server refuses the client certificate after the client has finished
        its side of the handshake, so the refusal surfaces as a reset or an EOF on the first
        read, not as a handshake error.
        """
        if port not in (self.site.qps_port, self.site.qrs_port, self.site.engine_port):
            return None
        refusals = ssl.SSLError | ConnectionResetError | BrokenPipeError
        return next((e for e in errors_in(exc) if isinstance(e, refusals)), None)

    def _send(self, request: HttpRequest, *, stream: bool) -> requests.Response:
        self._mount_for(request.url)
        log.debug("-> %r", request)
        with self._translate(request.url):
            return self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
                timeout=self.timeout,
                stream=stream,
            )

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request and read the whole response."""
        raw = self._send(request, stream=False)
        response = HttpResponse(
            raw.status_code, tuple(raw.raw.headers.items()), raw.content, request.url
        )
        log.debug("<- %r", response)
        return response

    def open_stream(self, request: HttpRequest) -> HttpStream:
        """Send one request and return the response unread, to stream its body."""
        return HttpStream(self._send(request, stream=True), self)

    def close(self) -> None:
        """Close every kept-alive connection."""
        self._session.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_flow(flow: Flow[T], transport: HttpTransport) -> T:
    """Drive a flow synchronously: send each request it yields, return what it returns.

    A request that fails (a timeout, a refused connection) is thrown into the flow where
    it yielded that request, so the flow can clean up (end a session it made) and re-raise.
    """
    try:
        request = next(flow)
        while True:
            try:
                response = transport.send(request)
            except QlikAuthError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()


async def run_flow_async(flow: Flow[T], transport: HttpTransport) -> T:
    """Drive a flow on asyncio: the same flow, each request sent in a worker thread."""
    try:
        request = next(flow)
        while True:
            try:
                response = await asyncio.to_thread(transport.send, request)
            except QlikAuthError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()
