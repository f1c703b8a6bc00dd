"""Masking secrets in URLs and text: tickets, CSRF tokens, keys and proxy session ids."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["QPS_SESSION_PATH", "SECRET_QUERY_PARAMETERS", "redact_url"]

#: Query parameters whose values are secrets and never reach a message or a log.
SECRET_QUERY_PARAMETERS = frozenset(
    {"qlikticket", "x-qlik-ticket", "qlik-csrf-token", "xrfkey", "access_token", "token"}
)


#: A proxy session id in a QPS path (``/qps/{prefix}/session/{id}``) is a live credential.
#: Group 1 is what stays; the id ends at ``/``, ``?``, white space or a quote, so the same
#: pattern finds it in a URL path and in free text such as a log line.
QPS_SESSION_PATH = re.compile(r"(/qps/(?:[^/\s]+/)?session/)[^/?\s'\"]+")


def redact_url(url: str) -> str:
    """Return ``url`` with secret query values (tickets, CSRF tokens, keys) masked and any
    ``user:password@`` dropped."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    pairs = [
        (k, "[secure]" if k.lower() in SECRET_QUERY_PARAMETERS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = QPS_SESSION_PATH.sub(r"\1[secure]", parts.path)
    return urlunsplit((parts.scheme, netloc, path, urlencode(pairs, safe="[]"), parts.fragment))
