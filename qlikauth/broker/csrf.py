"""The login form's CSRF token: signed, so any instance of the broker can check it.

A token is ``issued.nonce.mac``: the MAC (HMAC-SHA256 with the configured secret) covers
when it was issued, a random nonce, the browser's form cookie and the login it was made
for (``targetId`` and ``proxyRestUri``). So a token cannot be moved to another browser
(the cookie is ``HttpOnly`` and ``SameSite=Strict``: a foreign page can neither read nor
plant it, which stops "log in as the attacker" forgeries) nor to another login, and it
expires. That a token is used only once is checked by the caller against the limit store
(the nonce), the one piece of state the broker's instances share.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["FormTokens", "TokenProblem", "VerifiedToken", "derive_key"]

#: Why a token was refused: none given, not ours (or for another browser or login), or old.
TokenProblem = Literal["missing", "invalid", "stale"]

_COOKIE_BYTES = 24
#: How far ahead of this clock another instance's clock may be.
_CLOCK_SKEW = 60.0


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose from the configured secret (so one secret serves several)."""
    return hmac.new(secret, f"qlikauth-broker/{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose MAC and age were right; ``nonce`` still has to be used only once."""

    nonce: str
    issued: int


class FormTokens:
    """Issues and checks login-form tokens; ``lifetime`` seconds each."""

    def __init__(
        self, secret: bytes, *, lifetime: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = derive_key(secret, "csrf")
        self.lifetime = lifetime
        self._clock = clock

    @staticmethod
    def new_cookie() -> str:
        """A fresh value for the browser's form cookie."""
        return secrets.token_urlsafe(_COOKIE_BYTES)

    @staticmethod
    def is_cookie(value: str | None) -> bool:
        """Whether ``value`` looks like a form cookie this broker sets."""
        return bool(value) and len(value or "") <= 64 and (value or "").isascii()

    def _mac(self, issued: int, nonce: str, cookie: str, binding: str) -> str:
        message = f"v1\n{issued}\n{nonce}\n{cookie}\n{binding}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, cookie: str, binding: str) -> str:
        """A token for the form shown to the browser holding ``cookie``, for ``binding``
        (the login it belongs to)."""
        issued = int(self._clock())
        nonce = secrets.token_urlsafe(16)
        return f"{issued}.{nonce}.{self._mac(issued, nonce, cookie, binding)}"

    def verify(
        self, token: str | None, cookie: str | None, binding: str
    ) -> VerifiedToken | TokenProblem:
        """The token's nonce when it is ours, for this cookie and login, and fresh."""
        if not token or not cookie:
            return "missing"
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(token) > 200:
            return "invalid"
        issued, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(issued, nonce, cookie, binding)):
            return "invalid"
        age = self._clock() - issued
        if age > self.lifetime or age < -_CLOCK_SKEW:
            return "stale"
        return VerifiedToken(nonce, issued)
