"""The proxy's own answers (access refused, Qlik unreachable) and its one log line per request."""

from __future__ import annotations

import logging

from aiohttp import web

from qlikauth.errors import QlikAuthError, redact_url

__all__ = ["failure_reply", "log_request", "reply", "size_of"]

log = logging.getLogger("qlikauth.proxy")


def reply(status: int, message: str, hint: str | None = None) -> web.Response:
    """A plain-text answer that says it comes from the local proxy, not from Qlik."""
    text = f"qlikauth proxy: {message}\n"
    if hint:
        text += f"hint: {hint}\n"
    return web.Response(status=status, text=text, content_type="text/plain")


def size_of(response: web.StreamResponse) -> int:
    """The body size of an answer made whole (the proxy's own), for the log line."""
    body = response.body if isinstance(response, web.Response) else None
    return len(body) if isinstance(body, bytes) else 0


def failure_reply(exc: QlikAuthError, *, what: str) -> web.Response:
    """502 for a failure on the Qlik side (connection, TLS, a login that failed), logged."""
    log.warning("%s: %s%s", what, exc.message, f" (hint: {exc.hint})" if exc.hint else "")
    return reply(502, f"{what}: {exc.message}", exc.hint)


def log_request(
    method: str, path: str, status: int, size: int, seconds: float, extra: str = ""
) -> None:
    """One INFO line per request: method, path (no query: it may hold the access token),
    status, bytes sent to the tool and time taken. Websockets log ``WS``, the close code as
    the bytes relayed both ways once they close, and ``extra`` their close code."""
    path = redact_url(path)
    log.info("%s %s %d %d B %.1f ms%s", method, path, status, size, seconds * 1000.0, extra)
