"""What the sync and asyncio drivers share about the websocket: options and error translation.

The upgrade is the proxy's moment to say no, and each way it says no means something
different: 403 is the Cross-Site WebSocket Hijacking check, a 302 is the login page, a TLS
alert is a certificate problem. :func:`connect_error` turns each into the specific error.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    SecurityError,
)
from websockets.version import version as websockets_version

from qlikauth._version import __version__
from qlikauth.errors import (
    ApiError,
    ConfigurationError,
    CredentialsRejectedError,
    HandshakeError,
    LoginRedirectError,
    QlikAuthError,
    TransportError,
    WebSocketRejectedError,
    redact_url,
)
from qlikauth.logfilter import SecretFilter

if TYPE_CHECKING:
    from qlikauth.credentials import Credentials
    from qlikauth.site import Site
    from qlikauth.tls.contexts import TlsConfig

__all__ = ["ConnectOptions", "close_details", "connect_error", "options_for"]

logger = logging.getLogger(__name__)
#: What ``websockets`` logs about engine sockets (at DEBUG: every upgrade header, so the
#: session cookie), with secrets masked before any handler sees the record.
websocket_logger = logging.getLogger("qlikauth.engine.websocket")
websocket_logger.addFilter(SecretFilter())

#: The largest engine message read: a data page is at most 10,000 cells (a few MB of
#: JSON); 32 MiB leaves room for big layouts and scripts and bounds what one message costs.
DEFAULT_MAX_MESSAGE_SIZE = 32 * 2**20
DEFAULT_OPEN_TIMEOUT = 30.0
USER_AGENT = f"qlikauth/{__version__} websockets/{websockets_version}"
_REDIRECTS = frozenset({300, 301, 302, 303, 307, 308})


@dataclass(frozen=True)
class ConnectOptions:
    """Everything needed to open one engine websocket (no secret in its repr)."""

    url: str = field(repr=False)
    ssl: ssl.SSLContext | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    origin: str | None = None
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    tls: TlsConfig | None = field(default=None, repr=False)
    user_agent: str | None = USER_AGENT

    @property
    def safe_url(self) -> str:
        """The URL with secrets (CSRF token, ticket) masked."""
        return redact_url(self.url)

    @property
    def host(self) -> str:
        """The host dialled."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The port dialled."""
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "wss" else 80)

    def what_was_sent(self) -> str:
        """A secret-free summary of the upgrade's credentials, for error messages."""
        names = {k.lower() for k in self.headers}
        query = {k.lower() for k, _ in parse_qsl(urlsplit(self.url).query)}
        sent = [
            f"session cookie: {'yes' if 'cookie' in names else 'no'}",
            f"qlik-csrf-token in the URL: {'yes' if 'qlik-csrf-token' in query else 'no'}",
            f"Origin: {self.origin or 'none'}",
            f"Authorization header: {'yes' if 'authorization' in names else 'no'}",
        ]
        if "x-qlik-user" in names:
            sent.append("X-Qlik-User: yes")
        return "; ".join(sent)


def options_for(
    site: Site,
    credentials: Credentials,
    app_id: str | None = None,
    *,
    identity: str | None = None,
    ttl: int | None = None,
    timeout: float | None = DEFAULT_OPEN_TIMEOUT,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
) -> ConnectOptions:
    """The upgrade for ``credentials`` on ``site``: URL, TLS (``wss://`` only), headers, Origin."""
    upgrade = credentials.websocket_options(site, app_id, identity=identity, ttl=ttl)
    return ConnectOptions(
        url=upgrade.url,
        ssl=upgrade.ssl_context,
        headers=upgrade.headers,
        origin=upgrade.origin,
        open_timeout=timeout,
        max_message_size=max_message_size,
        tls=site.tls,
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _explain_tls(exc: BaseException, options: ConnectOptions) -> QlikAuthError:
    from qlikauth.tls.handshake import explain_tls_failure

    # Hand over the socket-level error, not the websockets wrapper: reading attributes of
    # ConnectionClosed (its deprecated ``reason``) warns.
    chain = _chain(exc)
    root = next((e for e in chain if isinstance(e, ssl.SSLError)), None) or next(
        (e for e in chain if isinstance(e, OSError | EOFError)), exc
    )
    return explain_tls_failure(root, host=options.host, port=options.port, config=options.tls)


def _status_error(exc: InvalidStatus, options: ConnectOptions) -> QlikAuthError:
    response = exc.response
    status = response.status_code
    url = options.safe_url
    sent = options.what_was_sent()
    hint: str | None
    if status == 403:
        names = {k.lower() for k in options.headers}
        query = {k.lower() for k, _ in parse_qsl(urlsplit(options.url).query)}
        if "authorization" in names:
            hint = (
                "do not send Authorization on the upgrade: since November 2024 the proxy "
                "refuses it (Cross-Site WebSocket Hijacking check); exchange it for a session "
                "cookie and a qlik-csrf-token first"
            )
        elif "qlik-csrf-token" not in query and "x-qlik-user" not in names:
            hint = (
                "the CSRF token is missing: get it from GET /{prefix}/qps/csrftoken with the "
                "session cookie and send it as ?qlik-csrf-token= (QSEoW November 2024+)"
            )
        elif "x-qlik-user" in names:
            hint = (
                "the engine refused the identity: check the X-Qlik-User header and that the "
                "client certificate is the site's"
            )
        else:
            hint = (
                "the CSRF token may be invalid or belong to another session or virtual proxy, "
                "or the Origin is not in the virtual proxy's host allow list (host names, "
                "not IPs)"
            )
        return WebSocketRejectedError(
            f"the websocket upgrade to {url} was refused with 403 Forbidden ({sent})",
            hint=hint,
            url=options.url,
            status=status,
        )
    if status in _REDIRECTS:
        location = response.headers.get("Location")
        return LoginRedirectError(
            f"the websocket upgrade to {url} was redirected ({status}) to "
            f"{redact_url(location) if location else 'an unnamed location'}, "
            f"most likely a login page ({sent})",
            location=location,
            hint=(
                "the upgrade carried no valid session for this virtual proxy: log in first and "
                "send the session cookie named for this prefix"
            ),
            url=options.url,
            status=status,
        )
    if status == 401:
        return CredentialsRejectedError(
            f"the websocket upgrade to {url} was refused with 401 ({sent})",
            hint="the credentials were not accepted; log in again",
            url=options.url,
            status=status,
        )
    body = response.body.decode("utf-8", "replace") if response.body else ""
    hint = None
    if status == 404:
        hint = (
            "check the virtual proxy prefix and the app id; the direct engine port takes no prefix"
        )
    return ApiError(
        f"the websocket upgrade to {url} failed with HTTP {status}",
        status=status,
        body=body,
        hint=hint,
        url=options.url,
    )


def connect_error(exc: BaseException, options: ConnectOptions) -> QlikAuthError:
    """The qlikauth error for a failed websocket connect (raise it ``from exc``)."""
    if isinstance(exc, QlikAuthError):
        return exc
    where = f"{options.host}:{options.port}"
    chain = _chain(exc)
    if isinstance(exc, InvalidStatus):
        return _status_error(exc, options)
    if isinstance(exc, InvalidURI):
        return ConfigurationError(f"not a websocket URL: {options.safe_url}")
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return _explain_tls(exc, options)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return TransportError(
            f"connection refused by {where}",
            hint="is the server running, and is this the right port (proxy 443, engine 4747)?",
            url=options.url,
        )
    if any(isinstance(e, socket.gaierror) for e in chain):
        return TransportError(
            f"cannot resolve host {options.host!r}",
            hint="check the host name (the one the server certificate names)",
            url=options.url,
        )
    if any(isinstance(e, TimeoutError) for e in chain):
        return TransportError(
            f"timed out opening the websocket to {where}",
            hint="the server did not answer in time; check firewalls and the port",
            url=options.url,
        )
    if options.ssl is not None and any(
        isinstance(e, ConnectionResetError | BrokenPipeError | EOFError) for e in chain
    ):
        # With TLS 1.3 a refused client certificate shows up as a reset after the handshake.
        return _explain_tls(exc, options)
    if options.ssl is not None and isinstance(exc, ConnectionClosed):
        return HandshakeError(
            f"{where} closed the connection after the TLS handshake, before answering the "
            "websocket upgrade",
            hint=(
                "ports that require a client certificate (engine 4747) close like this when "
                "none was sent or it is not signed by the site's root: connect with the "
                "site's client certificate (client.pem and client_key.pem, or client.pfx)"
            ),
            url=options.url,
        )
    if isinstance(exc, SecurityError | InvalidHandshake | OSError | ConnectionClosed):
        return TransportError(
            f"the websocket to {where} could not be opened: {type(exc).__name__}: {exc}",
            url=options.url,
        )
    return TransportError(
        f"the websocket to {where} could not be opened: {type(exc).__name__}", url=options.url
    )


def close_details(exc: BaseException | None) -> tuple[int | None, str]:
    """The close code and reason the server sent, from a ``ConnectionClosed``."""
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return exc.rcvd.code, exc.rcvd.reason
    return None, ""


def run_listener(callback: Callable[[], object] | Callable[[], None]) -> object:
    """Run a listener; log what it raises so one bad listener cannot stop the reader."""
    try:
        return callback()
    except Exception:
        logger.exception("an engine listener raised")
        return None
