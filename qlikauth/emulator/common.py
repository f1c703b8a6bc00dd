"""Small pieces every listener shares: Xrfkey, X-Qlik-User, JSON bodies, faults."""

from __future__ import annotations

import asyncio
import json
import random
import re
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from qlikauth.emulator.state import Counters, Faults

__all__ = [
    "XRF_FAILED",
    "check_xrfkey",
    "control_character",
    "fault_middleware",
    "json_response",
    "parse_qlik_user",
    "query_value",
    "read_json",
    "text_response",
]

#: Qlik's answer to a missing or mismatched Xrfkey (qlik-protocol.md §1.3).
XRF_FAILED = "XSRF prevention check failed. Possible XSRF discovered."
_XRF_RE = re.compile(r"^[0-9a-zA-Z]{16}$")
_USER_PART_RE = re.compile(r"^\s*(userdirectory|userid)\s*=\s*(.*?)\s*$", re.IGNORECASE)

#: What no identity (user, directory, attribute name or value) may hold: control characters
#: (CR/LF, tab, NUL, DEL, C1), line and paragraph separators, and format characters such as
#: bidirectional overrides. Qlik documents no rule (INFERRED, the reading that refuses most
#: and that a real name survives: docs/emulator.md): the proxy passes attributes on as
#: ``X-Qlik-Security`` header entries, where a line break would forge a header.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cf"})
#: The zero-width non-joiner and joiner that Persian and Indic names are written with.
_NAME_JOINERS = frozenset({"\u200c", "\u200d"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def control_character(value: str) -> str | None:
    """``U+000D`` for the first character ``value`` may not hold as an identity, or None."""
    for char in value:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES and char not in _NAME_JOINERS:
            return f"U+{ord(char):04X}"
    return None


def text_response(status: int, text: str, **headers: str) -> web.Response:
    """A plain-text response (Qlik answers errors as text)."""
    return web.Response(status=status, text=text, content_type="text/plain", headers=headers)


def json_response(status: int, data: Any) -> web.Response:
    """A JSON response."""
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


def query_value(request: web.Request, name: str) -> str | None:
    """A query parameter matched case-insensitively (Qlik does so for xrfkey and tickets)."""
    wanted = name.lower()
    for key, value in request.query.items():
        if key.lower() == wanted:
            return value
    return None


def check_xrfkey(request: web.Request) -> web.Response | None:
    """None when the Xrfkey query parameter and header agree; else Qlik's 403."""
    query = query_value(request, "xrfkey")
    header = request.headers.get("X-Qlik-Xrfkey")
    if query is None or header is None or query != header or not _XRF_RE.match(query):
        return text_response(403, XRF_FAILED)
    return None


def parse_qlik_user(value: str | None) -> tuple[str, str] | None:
    """(directory, user id) from ``UserDirectory=x; UserId=y`` (URL-encoded, any spacing)."""
    if not value:
        return None
    found: dict[str, str] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        match = _USER_PART_RE.match(part)
        if match is None:
            return None
        found[match.group(1).lower()] = unquote(match.group(2))
    directory, user_id = found.get("userdirectory", ""), found.get("userid", "")
    if not directory.strip() or not user_id.strip():
        return None
    if control_character(directory + user_id):
        return None  # percent-encoded CR/LF, say: no such user
    return directory.strip(), user_id.strip()


async def read_json(request: web.Request) -> tuple[Any, web.Response | None]:
    """The parsed JSON body, or a 400 response saying why it could not be read."""
    try:
        body = await request.read()
        return (json.loads(body) if body else None), None
    except (ValueError, UnicodeDecodeError):
        return None, text_response(400, "The request body is not valid JSON.")


def fault_middleware(faults: Faults, counters: Counters) -> Any:
    """A middleware adding the configured latency and random 503 errors."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_emulator/"):
            return await handler(request)
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000.0)
        # Not a secret: fault injection only needs a fair coin.
        if faults.error_rate > 0 and random.random() < faults.error_rate:  # noqa: S311
            counters.faults_injected += 1
            return text_response(503, "Service unavailable (emulated fault).")
        return await handler(request)

    return middleware
