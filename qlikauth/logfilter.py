"""A logging filter that masks secrets in any library's records: cookies, tickets, tokens.

qlikauth's own log lines never carry secrets. The libraries underneath do at DEBUG level:
``websockets`` prints every upgrade header (``> Cookie: X-Qlik-Session=...``) and urllib3
every request line with its query (``GET /hdr/hub/?qlikTicket=...``). Put
:class:`SecretFilter` on the handler that writes the log (the command line does) to keep
those lines and lose the secrets::

    handler = logging.StreamHandler()
    handler.addFilter(SecretFilter())
"""

from __future__ import annotations

import logging
import re

from qlikauth._redact import QPS_SESSION_PATH, SECRET_QUERY_PARAMETERS
from qlikauth.credentials import SENSITIVE_HEADERS

__all__ = ["SecretFilter", "redact_text"]

_MASK = "[secure]"
_QUERY_RE = re.compile(
    r"(?i)([?&;](?:" + "|".join(map(re.escape, sorted(SECRET_QUERY_PARAMETERS))) + r")=)[^&\s'\"]+"
)
#: A header line as libraries log it (``> Cookie: a=b``, ``Authorization: Bearer x``),
#: including the session cookie header a virtual proxy may name (``X-Qlik-Session-hdr``).
_HEADER_RE = re.compile(
    r"(?im)^([<>]?\s*(?:"
    + "|".join(map(re.escape, sorted(SENSITIVE_HEADERS | {"set-cookie"})))
    + r"|x-qlik-session[\w.-]*)\s*:\s*).+$"
)
_COOKIE_RE = re.compile(r"(?i)((?:^|[\s;,])X-Qlik-Session[\w.-]*=)[^;\s,'\"]+")


def redact_text(text: str) -> str:
    """``text`` with secret header values, query values and session ids masked."""
    text = _HEADER_RE.sub(lambda m: m.group(1) + _MASK, text)
    text = _QUERY_RE.sub(lambda m: m.group(1) + _MASK, text)
    text = QPS_SESSION_PATH.sub(lambda m: m.group(1) + _MASK, text)
    return _COOKIE_RE.sub(lambda m: m.group(1) + _MASK, text)


class SecretFilter(logging.Filter):
    """Masks secrets in every record that passes (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_text is None:
            # Formatted here, once, so that the traceback text is masked too.
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True
