"""Rate limits on failed logins, per user name and per client address.

Every login *reserves* one attempt for its user name and its client address before the
directory is asked; a reservation over the limit is refused at once. A wrong password keeps
its reservation (it counts until the window ends); a success forgets the user's failures and
gives the address its attempt back; a login that never reached a verdict (the directory was
down) gives both back. So at most ``per_user`` wrong passwords per window reach the
directory, however many logins run at once and on however many instances share the store:
keep that below the domain's lockout threshold and no one can lock a user out through the
broker.

The counters live in a :class:`LimitStore`: :class:`MemoryStore` for one instance,
:class:`~qlikauth.broker.redis_store.RedisStore` for several. The store also remembers which
login forms were used (the CSRF token's nonce), so that a form cannot be replayed. Keys are
MACs of the user name or address, so the store holds no names that were typed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from qlikauth.broker.csrf import derive_key
from qlikauth.broker.settings import LimitSettings

__all__ = ["LimitStore", "LoginLimiter", "MemoryStore", "RateLimited", "Reservation"]


class LimitStore(Protocol):
    """Counters with an expiry, shared by the broker instances that use the same store."""

    async def reserve(self, key: str, limit: int, window: float) -> bool:
        """Count one more attempt for ``key`` unless it has ``limit`` already; the count
        expires ``window`` seconds after its first attempt."""
        ...

    async def release(self, key: str) -> None:
        """Give one attempt back."""
        ...

    async def clear(self, key: str) -> None:
        """Forget every attempt of ``key``."""
        ...

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key``'s count expires (0 when it has none)."""
        ...

    async def first_use(self, key: str, ttl: float) -> bool:
        """Mark ``key`` used for ``ttl`` seconds; ``False`` when it was used already."""
        ...

    async def close(self) -> None:
        """Let go of connections."""
        ...


@dataclass
class _Count:
    value: int
    expires: float


@dataclass
class MemoryStore:
    """A :class:`LimitStore` in this process's memory: limits for one broker instance.

    Used from one event loop (no locking needed). ``clock`` is monotonic seconds.
    """

    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _counts: dict[str, _Count] = field(default_factory=dict)

    def _live(self, key: str) -> _Count | None:
        count = self._counts.get(key)
        if count is not None and count.expires <= self.clock():
            del self._counts[key]
            return None
        return count

    def _prune(self) -> None:
        if len(self._counts) > self.max_keys:
            now = self.clock()
            for key in [k for k, c in self._counts.items() if c.expires <= now]:
                del self._counts[key]

    async def reserve(self, key: str, limit: int, window: float) -> bool:
        """See :meth:`LimitStore.reserve`."""
        count = self._live(key)
        if count is None:
            self._prune()
            self._counts[key] = _Count(1, self.clock() + window)
            return True
        if count.value >= limit:
            return False
        count.value += 1
        return True

    async def release(self, key: str) -> None:
        """See :meth:`LimitStore.release`."""
        count = self._live(key)
        if count is not None and count.value > 0:
            count.value -= 1

    async def clear(self, key: str) -> None:
        """See :meth:`LimitStore.clear`."""
        self._counts.pop(key, None)

    async def retry_after(self, key: str) -> float:
        """See :meth:`LimitStore.retry_after`."""
        count = self._live(key)
        return max(0.0, count.expires - self.clock()) if count is not None else 0.0

    async def first_use(self, key: str, ttl: float) -> bool:
        """See :meth:`LimitStore.first_use`."""
        if self._live(key) is not None:
            return False
        self._prune()
        self._counts[key] = _Count(1, self.clock() + ttl)
        return True

    async def close(self) -> None:
        """Nothing to let go of."""


@dataclass(frozen=True)
class RateLimited:
    """A login refused before the directory was asked; ``retry_after`` in seconds."""

    scope: str
    retry_after: float


class Reservation:
    """One login's attempt for its user and address; settle it exactly once."""

    def __init__(self, store: LimitStore, user_key: str, address_key: str) -> None:
        self._store = store
        self._user = user_key
        self._address = address_key

    async def failed(self) -> None:
        """A wrong password: both attempts stay counted."""

    async def succeeded(self) -> None:
        """The password was right: the user's failures are forgotten, the address's
        attempt given back (an attacker's own account does not reset the address)."""
        await self._store.clear(self._user)
        await self._store.release(self._address)

    async def undecided(self) -> None:
        """No verdict (the directory was unreachable): both attempts given back."""
        await self._store.release(self._user)
        await self._store.release(self._address)


class LoginLimiter:
    """Applies :class:`~qlikauth.broker.settings.LimitSettings` through a store."""

    def __init__(self, store: LimitStore, settings: LimitSettings, secret: bytes) -> None:
        self.store = store
        self.settings = settings
        self._key = derive_key(secret, "limits")

    def key(self, kind: str, value: str) -> str:
        """The store key for a user name or address (a MAC: no typed name is stored)."""
        digest = hmac.new(self._key, f"{kind}\n{value}".encode(), hashlib.sha256).hexdigest()
        return f"qlikauth:broker:{kind}:{digest[:40]}"

    async def reserve(self, user_key: str, address: str) -> Reservation | RateLimited:
        """Reserve an attempt for ``user_key`` (a case-folded user name) from ``address``."""
        limits = self.settings
        address_key, user = self.key("address", address), self.key("user", user_key)
        if not await self.store.reserve(address_key, limits.per_address, limits.window):
            return RateLimited("address", await self.store.retry_after(address_key))
        if not await self.store.reserve(user, limits.per_user, limits.window):
            await self.store.release(address_key)
            return RateLimited("user", await self.store.retry_after(user))
        return Reservation(self.store, user, address_key)

    async def first_use(self, nonce: str, ttl: float) -> bool:
        """Whether a login form's nonce is used for the first time."""
        return await self.store.first_use(self.key("form", nonce), ttl)
