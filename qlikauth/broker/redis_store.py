"""The rate-limit store in Redis, shared by every broker instance that names it.

Each operation is one atomic command or server-side script, so two instances that count
the same user at the same moment cannot both slip under the limit. A Redis that cannot be
reached refuses logins (:class:`~qlikauth.errors.TransportError`) rather than letting them
through uncounted. The client is ``redis`` (extra ``broker``), imported only here.
"""

from __future__ import annotations

import math
from typing import Any

from qlikauth.errors import ConfigurationError, TransportError, redact_url

__all__ = ["RedisStore"]

# INCR, with the window starting at the first attempt; over the limit, undo and refuse.
_RESERVE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return n
"""
# DECR, never below zero and never on a key that has expired.
_RELEASE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def _milliseconds(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class RedisStore:
    """A :class:`~qlikauth.broker.limits.LimitStore` in Redis at ``url``."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        try:
            import redis.asyncio as redis_asyncio
            import redis.exceptions
        except ImportError as exc:
            raise ConfigurationError(
                "redis_url is set, but the redis package is not installed",
                hint="pip install 'qlikauth[broker]'",
            ) from exc
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._where = redact_url(url)
        try:
            self._client: Any = redis_asyncio.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        except ValueError as exc:
            raise ConfigurationError(f"bad redis_url {self._where}: {exc}") from exc
        self._reserve = self._client.register_script(_RESERVE)
        self._release = self._client.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r})"

    async def _call(self, what: str, operation: Any) -> Any:
        try:
            return await operation
        except self._errors as exc:
            raise TransportError(
                f"the rate-limit store {self._where} failed ({what}): {exc}",
                hint="check that Redis runs and redis_url names it; logins are refused "
                "while the limits cannot be counted",
            ) from exc

    async def reserve(self, key: str, limit: int, window: float) -> bool:
        """See :meth:`~qlikauth.broker.limits.LimitStore.reserve`."""
        count = await self._call(
            "reserve", self._reserve(keys=[key], args=[limit, _milliseconds(window)])
        )
        return int(count) > 0

    async def release(self, key: str) -> None:
        """See :meth:`~qlikauth.broker.limits.LimitStore.release`."""
        await self._call("release", self._release(keys=[key]))

    async def clear(self, key: str) -> None:
        """See :meth:`~qlikauth.broker.limits.LimitStore.clear`."""
        await self._call("clear", self._client.delete(key))

    async def retry_after(self, key: str) -> float:
        """See :meth:`~qlikauth.broker.limits.LimitStore.retry_after`."""
        left = int(await self._call("retry_after", self._client.pttl(key)))
        return left / 1000 if left > 0 else 0.0

    async def first_use(self, key: str, ttl: float) -> bool:
        """See :meth:`~qlikauth.broker.limits.LimitStore.first_use`."""
        done = await self._call(
            "first_use", self._client.set(key, b"1", nx=True, px=_milliseconds(ttl))
        )
        return bool(done)

    async def ping(self) -> None:
        """Reach Redis (for ``--check``)."""
        await self._call("ping", self._client.ping())

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
