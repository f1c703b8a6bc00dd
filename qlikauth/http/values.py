"""HTTP requests and responses as values, and the flows that exchange them: no I/O.

Authenticators describe their logins as generators (:data:`Flow`) that yield
:class:`HttpRequest` values and receive :class:`HttpResponse` values (httpx's ``auth_flow``
model); drivers in :mod:`qlikauth.http.drivers` send them. Every QPS, QRS and proxied REST
call carries an Xrfkey (:func:`with_xrfkey`).
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field, replace
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from qlikauth.credentials import SENSITIVE_HEADERS, check_header_value
from qlikauth.errors import ApiError, ConfigurationError, LoginRedirectError, redact_url

__all__ = [
    "Flow",
    "HttpRequest",
    "HttpResponse",
    "Sender",
    "looks_like_login_page",
    "new_xrfkey",
    "with_xrfkey",
]

T = TypeVar("T")
#: A login (or logout) flow: yields requests, receives responses, returns its result.
Flow = Generator["HttpRequest", "HttpResponse", T]

_XRFKEY_ALPHABET = string.ascii_letters + string.digits
_XRFKEY_CHARACTERS = frozenset(_XRFKEY_ALPHABET)


def new_xrfkey() -> str:
    """A fresh Xrfkey: 16 characters of ``[0-9a-zA-Z]`` from :mod:`secrets`."""
    return "".join(secrets.choice(_XRFKEY_ALPHABET) for _ in range(16))


def _redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: "[secure]" if k.lower() in SENSITIVE_HEADERS else v for k, v in headers.items()}


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request an authenticator or client wants sent. Its repr hides secrets.

    ``late_answer`` marks a request whose answer matters even after the caller gave up on
    it (a login that may make a proxy session): if it times out, the transport keeps waiting
    a while and runs this flow on the answer when it comes (to end the session it made).
    Such a request is never sent twice.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    late_answer: Callable[[HttpResponse], Flow[None]] | None = field(default=None, compare=False)

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
        return replace(self, headers=merged)

    def __repr__(self) -> str:
        return (
            f"HttpRequest({self.method} {redact_url(self.url)}, "
            f"headers={_redacted_headers(self.headers)})"
        )


def with_xrfkey(request: HttpRequest, key: str | None = None) -> HttpRequest:
    """Add the same Xrfkey to the query (``xrfkey=``) and the ``X-Qlik-Xrfkey`` header.

    A given ``key`` must be what Qlik accepts: 16 characters of ``[0-9a-zA-Z]``.
    """
    key = key or new_xrfkey()
    if len(key) != 16 or not set(key) <= _XRFKEY_CHARACTERS:
        raise ConfigurationError(
            f"invalid Xrfkey {key!r}: Qlik takes exactly 16 letters and digits",
            hint="Leave the key out: qlikauth makes a fresh one per request.",
        )
    parts = urlsplit(request.url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "xrfkey"
    ]
    query.append(("xrfkey", key))
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return replace(request, url=url).with_headers({"X-Qlik-Xrfkey": key})


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
            if looks_like_login_page(self):
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


def looks_like_login_page(response: HttpResponse) -> bool:
    """Whether a response is an HTML page with a login form (the proxy's login page)."""
    if "html" not in response.content_type and not response.body.lstrip()[:15].lower().startswith(
        (b"<!doctype html", b"<html")
    ):
        return False
    lowered = response.body[:65536].lower()
    return b"<form" in lowered and (
        b'type="password"' in lowered or b'name="pwd"' in lowered or b"login" in lowered
    )


class Sender(Protocol):
    """Anything that sends one :class:`HttpRequest` and returns the whole response."""

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read its response."""
        ...
