"""Sending requests for one site over a kept-alive ``requests.Session``.

Kept-alive connections, the site's own TLS contexts on each of its ports (never
``REQUESTS_CA_BUNDLE``), no cookie jar, and no automatic redirects. What a server sends back
is bounded: a whole answer is at most ``max_body`` bytes (after decoding), arrives within
``deadline`` seconds, and is decoded only from the one encoding the request asked for
(gzip). Reads that fail before an answer (a refused or cut connection, a 502/503/504) are
sent again after a short, capped pause; nothing that could act twice (a ``POST``, a login)
is.
"""

from __future__ import annotations

import contextlib
import logging
import random
import ssl
import threading
import time
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from qlikauth.errors import QlikAuthError, TransportError
from qlikauth.http.drivers import run_flow
from qlikauth.http.values import HttpRequest, HttpResponse
from qlikauth.site import Site
from qlikauth.tls.handshake import errors_in, explain_tls_failure

__all__ = [
    "DEFAULT_MAX_BODY",
    "RETRIED_METHODS",
    "RETRIED_STATUSES",
    "HttpStream",
    "HttpTransport",
    "mount_site_tls",
]

log = logging.getLogger("qlikauth.http")

#: The largest answer read whole: far above Qlik's REST answers (a QRS ``app/full`` of
#: thousands of apps is a few MB), far below what would hurt the process.
DEFAULT_MAX_BODY = 64 << 20
#: Methods that change nothing on the server (or, like DELETE, the same thing every time):
#: sent again when the first try got no answer or a temporary refusal.
RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
#: Answers that say "try again later".
RETRIED_STATUSES = frozenset({502, 503, 504})
_READ_SIZE = 1 << 16


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


def _no_answer(exc: QlikAuthError) -> bool:
    """Whether a failure left the request unanswered, so that sending it again is safe for
    a read. A timeout is not: the server may be working on it, and the caller chose how
    long to wait."""
    cause = exc.__cause__
    broken = (
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.ProtocolError,
        ConnectionError,
    )
    not_broken = (
        requests.exceptions.Timeout,
        urllib3.exceptions.TimeoutError,
        TimeoutError,
        requests.exceptions.SSLError,  # a failed handshake: trying again changes nothing
    )
    return isinstance(cause, broken) and not isinstance(cause, not_broken)


def _asked_encodings(request: HttpRequest, default: str) -> set[str]:
    asked = next((v for k, v in request.headers.items() if k.lower() == "accept-encoding"), default)
    return {part.split(";")[0].strip().lower() for part in asked.split(",") if part.strip()}


class HttpStream:
    """A response whose body is read in chunks (downloads). Close it, or use ``with``.

    The body comes as the server sent it: nothing is decoded.
    """

    def __init__(self, response: requests.Response, transport: HttpTransport) -> None:
        self._response = response
        self._transport = transport
        self.status = response.status_code
        self.headers = tuple(response.raw.headers.items())
        self.url = response.url

    def head(self, peek: int = 0) -> HttpResponse:
        """The status and headers as an :class:`HttpResponse` (reading up to ``peek`` bytes)."""
        body = b""
        if peek:
            with self._transport._translate(self.url):
                body = self._response.raw.read(peek, decode_content=False)
        return HttpResponse(self.status, self.headers, body, self.url)

    def iter_bytes(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The body in chunks of at most ``chunk_size`` bytes, each as soon as it arrived."""
        raw = self._response.raw
        with self._transport._translate(self.url):
            while chunk := raw.read1(chunk_size, decode_content=False):
                yield chunk

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> HttpStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LateExchange:
    """One request sent on a worker thread, so that its caller may stop waiting for it.

    If the caller gives up (a timeout), the worker goes on waiting for the answer, up to
    the transport's ``late_grace``, and hands it to the request's ``late_answer`` flow.
    """

    def __init__(self, transport: HttpTransport, request: HttpRequest) -> None:
        self._transport = transport
        self.request = request
        self.answered = threading.Event()
        self.settled = threading.Event()
        self.response: HttpResponse | None = None
        self.error: QlikAuthError | None = None
        self._lock = threading.Lock()
        self._abandoned = False
        threading.Thread(target=self._run, name="qlikauth-late-answer", daemon=True).start()

    def _run(self) -> None:
        transport = self._transport
        try:
            try:
                self.response = transport._exchange(
                    self.request, read_timeout=transport.timeout + transport.late_grace
                )
            except QlikAuthError as exc:
                self.error = exc
            with self._lock:
                abandoned = self._abandoned
                self.answered.set()
            if abandoned and self.response is not None and self.request.late_answer:
                log.info("a login answered after it was given up; cleaning up after it")
                try:
                    run_flow(self.request.late_answer(self.response), transport)
                except QlikAuthError as exc:
                    log.info("could not clean up after a late answer: %s", exc.message)
        finally:
            self.settled.set()

    def abandon(self) -> bool:
        """Give up waiting; ``False`` if the answer came in the meantime."""
        with self._lock:
            if self.answered.is_set():
                return False
            self._abandoned = True
            return True


class HttpTransport:
    """Sends :class:`HttpRequest` values for one site over a kept-alive ``requests.Session``.

    The proxy and the internal authentication module are reached with the site's server
    trust; QPS, QRS and the direct engine port with its client certificate as well.
    Redirects are never followed. ``timeout`` bounds the connection and each read;
    ``deadline`` a whole answer (default four times ``timeout``); ``max_body`` its size.
    ``retries`` is how often a read (GET, HEAD, OPTIONS, DELETE) that got no answer, or a
    502/503/504, is sent again, after pauses that double from ``backoff`` up to
    ``max_backoff`` seconds. ``late_grace`` is how long the answer of a timed-out login
    is still awaited, to end the session it made; :meth:`close` waits for those. Thread-safe.
    """

    def __init__(
        self,
        site: Site,
        *,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        deadline: float | None = None,
        retries: int = 3,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        late_grace: float | None = None,
    ) -> None:
        self.site = site
        self.timeout = timeout
        self.max_body = max_body
        self._deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._late_grace = late_grace
        self._session = session or requests.Session()
        # No netrc, no environment proxies or CA bundles: what is sent is what we chose.
        self._session.trust_env = False
        # The one encoding this transport decodes; others are not asked for.
        self._session.headers["Accept-Encoding"] = "gzip"
        # Credentials travel explicitly in each request: a cookie jar would replay one
        # flow's session cookie into another's requests (a reused ticket would "work").
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._mounted: set[int] = set()
        self._lock = threading.Lock()
        self._late: list[_LateExchange] = []

    @property
    def deadline(self) -> float:
        """Seconds for a whole answer, from sending the request to its last byte."""
        return self._deadline if self._deadline is not None else 4 * self.timeout

    @property
    def late_grace(self) -> float:
        """Seconds a timed-out login's answer is still awaited (default: ``timeout``)."""
        return self._late_grace if self._late_grace is not None else self.timeout

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
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise TransportError(
                f"timed out talking to {host}:{port}",
                url=url,
                hint="The server is slow or the port is filtered; raise the timeout or "
                "check the firewall.",
            ) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise TransportError(
                f"the answer from {host}:{port} could not be decoded ({type(exc).__name__})",
                url=url,
                hint="The server sent a body that is not what its Content-Encoding says.",
            ) from exc
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,
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

    def _send(
        self, request: HttpRequest, *, stream: bool, read_timeout: float | None = None
    ) -> requests.Response:
        self._mount_for(request.url)
        log.debug("-> %r", request)
        with self._translate(request.url):
            return self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
                timeout=(self.timeout, read_timeout or self.timeout),
                stream=stream,
            )

    def _read_body(self, raw: requests.Response, request: HttpRequest, until: float) -> bytes:
        """The whole body, decoded only from an encoding the request asked for, bounded."""
        encoding = (raw.headers.get("Content-Encoding") or "identity").strip().lower()
        asked = _asked_encodings(request, str(self._session.headers["Accept-Encoding"]))
        decode = encoding in asked and "," not in encoding
        if not decode and encoding != "identity":
            log.warning(
                "%s answered with Content-Encoding %r, which was not asked for: not decoded",
                urlsplit(request.url).hostname,
                encoding,
            )
        where = urlsplit(request.url)
        chunks: list[bytes] = []
        size = 0
        with self._translate(request.url):
            try:
                while chunk := raw.raw.read1(_READ_SIZE, decode_content=decode):
                    size += len(chunk)
                    if size > self.max_body:
                        raise TransportError(
                            f"the answer from {where.hostname}:{where.port or 443} is larger "
                            f"than {self.max_body} bytes; it was not read further",
                            url=request.url,
                            hint="Qlik's answers are far smaller: the server misbehaves, or "
                            "raise max_body for a very large repository listing.",
                        )
                    if time.monotonic() > until:
                        raise TransportError(
                            f"the answer from {where.hostname}:{where.port or 443} did not "
                            f"arrive whole within {self.deadline:g} s",
                            url=request.url,
                            hint="The server sends very slowly; raise the deadline (or the "
                            "timeout, which it follows) if that is expected.",
                        )
                    chunks.append(chunk)
            except BaseException:
                raw.close()  # the rest is unread: the connection cannot be reused
                raise
        # Read to the end: urllib3 has put the connection back into the pool.
        return b"".join(chunks)

    def _exchange(self, request: HttpRequest, *, read_timeout: float | None = None) -> HttpResponse:
        until = time.monotonic() + max(self.deadline, read_timeout or 0.0)
        raw = self._send(request, stream=True, read_timeout=read_timeout)
        body = self._read_body(raw, request, until)
        response = HttpResponse(raw.status_code, tuple(raw.raw.headers.items()), body, request.url)
        log.debug("<- %r", response)
        return response

    def _pause(self, attempt: int, response: HttpResponse | None) -> None:
        pause = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311
        after = response.header("Retry-After") if response is not None else None
        if after and after.strip().isdigit():
            pause = min(self.max_backoff, float(after))
        time.sleep(pause)

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request and read the whole response (bounded; reads retried)."""
        if request.late_answer is not None:
            return self._send_late(request)
        attempts = 1 + (self.retries if request.method.upper() in RETRIED_METHODS else 0)
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response = self._exchange(request)
            except TransportError as exc:
                if last or not _no_answer(exc):
                    raise
                log.info("no answer (%s); trying again", exc.message)
                self._pause(attempt, None)
                continue
            if response.status in RETRIED_STATUSES and not last:
                log.info("HTTP %s from %r; trying again", response.status, request)
                self._pause(attempt, response)
                continue
            return response
        raise AssertionError("unreachable")

    def _send_late(self, request: HttpRequest) -> HttpResponse:
        exchange = _LateExchange(self, request)
        try:
            answered = exchange.answered.wait(self.timeout)
        except BaseException:
            # Ctrl-C: the login may still make a session; its worker ends it on close().
            if exchange.abandon():
                with self._lock:
                    self._late.append(exchange)
            raise
        if answered or not exchange.abandon():
            if exchange.error is not None:
                raise exchange.error
            assert exchange.response is not None
            return exchange.response
        with self._lock:
            self._late = [e for e in self._late if not e.settled.is_set()]
            self._late.append(exchange)
        parts = urlsplit(request.url)
        raise TransportError(
            f"timed out talking to {parts.hostname}:{parts.port or 443} "
            f"(no answer within {self.timeout:g} s)",
            url=request.url,
            hint="The server is slow or the port is filtered; raise the timeout. A late "
            f"answer is still awaited for {self.late_grace:g} s, to end the session it makes.",
        )

    def open_stream(self, request: HttpRequest) -> HttpStream:
        """Send one request and return the response unread, to stream its body."""
        return HttpStream(self._send(request, stream=True), self)

    def close(self) -> None:
        """Wait (up to ``late_grace``) for late logins to be cleaned up, then close every
        kept-alive connection."""
        with self._lock:
            late, self._late = self._late, []
        late = [exchange for exchange in late if not exchange.settled.is_set()]
        if late:
            log.warning(
                "waiting up to %g s for the answer to an unfinished login, to end the session "
                "it makes (Ctrl-C to stop waiting and leave it to expire)",
                self.timeout + self.late_grace,
            )
        ends = time.monotonic() + self.timeout + self.late_grace
        for exchange in late:
            exchange.settled.wait(max(0.0, ends - time.monotonic()))
        self._session.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
