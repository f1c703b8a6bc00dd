"""Sending requests for one site over a kept-alive ``requests.Session``.

Kept-alive connections, the site's own TLS contexts on each of its ports (never
``REQUESTS_CA_BUNDLE``), no cookie jar, and no automatic redirects.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from qlikauth.errors import QlikAuthError, TransportError
from qlikauth.handshake import errors_in, explain_tls_failure
from qlikauth.http.values import HttpRequest, HttpResponse
from qlikauth.site import Site

__all__ = ["HttpStream", "HttpTransport", "mount_site_tls"]

log = logging.getLogger("qlikauth.http")


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
