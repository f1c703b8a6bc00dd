"""What Qlik's answers mean to the proxy: a refused session, or a connection that failed.

A refusal is how the proxy learns that the session has ended: a 401, a login redirect or
login page, a CSRF 403, a refused websocket upgrade, or (before November 2024) a websocket
whose first answer says ``mustAuthenticate: true``. The HTTP test is the client's own
(:func:`qlikauth.client.ops.is_rejection`), on the head of a streamed answer.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable

from qlikauth.client.ops import is_rejection
from qlikauth.errors import QlikAuthError, TransportError, redact_url
from qlikauth.http import HttpRequest, HttpResponse
from qlikauth.site import Site
from qlikauth.tls.handshake import errors_in, explain_tls_failure

__all__ = [
    "PEEK_BYTES",
    "explain_failure",
    "must_authenticate",
    "needs_peek",
    "session_refused",
    "websocket_refused",
]

#: How much of an answer's body is read before deciding whether it is a login page.
PEEK_BYTES = 64 * 1024


def needs_peek(status: int, content_type: str) -> bool:
    """Whether the body's head is needed to tell a refusal (a 403's text, an HTML page)."""
    return status == 403 or (status == 200 and "html" in content_type.lower())


def session_refused(
    site: Site,
    method: str,
    url: str,
    cookie: str | None,
    status: int,
    headers: Iterable[tuple[str, str]],
    head: bytes,
) -> bool:
    """Whether this answer refuses the session ``cookie`` was sent with (``head``: the
    first bytes of the body when :func:`needs_peek` asked for them), by the client's rule."""
    request = HttpRequest(method, url, {"Cookie": cookie} if cookie else {})
    return is_rejection(site, request, HttpResponse(status, tuple(headers), head, url))


def websocket_refused(status: int, location: str | None) -> bool:
    """Whether a refused websocket upgrade refuses the session (not the path or the app)."""
    return status in (401, 403) or (status in (301, 302, 303, 307, 308) and location is not None)


def must_authenticate(frame: str) -> bool | None:
    """For ``OnAuthenticationInformation``: whether it says ``mustAuthenticate: true``.

    ``None`` for any other frame. Before November 2024 this is how Qlik refuses a websocket
    whose session has ended: it opens, then answers the first message with this.
    """
    if "OnAuthenticationInformation" not in frame[:200]:
        return None
    try:
        message = json.loads(frame)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") != "OnAuthenticationInformation":
        return None
    params = message.get("params")
    return bool(isinstance(params, dict) and params.get("mustAuthenticate"))


def explain_failure(exc: BaseException, site: Site, url: str) -> QlikAuthError:
    """The qlikauth error for a connection to the site that failed (blocking: a TLS
    diagnosis may open a second connection, so call it in a worker thread)."""
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in errors_in(exc)):
        return explain_tls_failure(exc, host=site.host, port=site.proxy_port, config=site.tls)
    if isinstance(exc, TimeoutError):
        return TransportError(
            f"timed out talking to {site.host}:{site.proxy_port}",
            url=url,
            hint="The server is slow or the port is filtered; check the firewall.",
        )
    return TransportError(
        f"could not talk to {site.host}:{site.proxy_port} for {redact_url(url)}: "
        f"{type(exc).__name__}",
        url=url,
        hint="Check the host name and port, and that this machine can reach them.",
    )
