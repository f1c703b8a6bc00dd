"""Stop asking the directory after repeated failures for one user.

Active Directory locks an account after a few wrong passwords. A script retrying in a loop
with a stale password would lock out a real person; this limiter refuses further attempts
in memory, before the directory is even asked, and says when to try again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qlikauth.errors import ConfigurationError, InvalidCredentialsError, TooManyAttemptsError
from qlikauth.validators.base import ValidatedUser, Validator, parse_username

__all__ = ["FailureLimiter", "RateLimitedValidator"]

log = logging.getLogger(__name__)


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class FailureLimiter:
    """Counts failures per key; after ``max_failures`` within ``window`` seconds, refuses
    every attempt for ``lockout`` seconds.

    Thread-safe. ``clock`` (seconds, monotonic) can be replaced in tests. Keep
    ``max_failures`` below the domain's lockout threshold so qlikauth stops first.
    """

    def __init__(
        self,
        *,
        max_failures: int = 3,
        window: float = 300.0,
        lockout: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if max_failures < 1:
            raise ConfigurationError("max_failures must be at least 1")
        if window <= 0 or lockout <= 0:
            raise ConfigurationError("window and lockout must be positive numbers of seconds")
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_keys = max_keys
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Raise :class:`~qlikauth.errors.TooManyAttemptsError` while ``key`` is locked."""
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return
            now = self._clock()
            if record.locked_until > now:
                retry_after = record.locked_until - now
                raise TooManyAttemptsError(
                    f"too many failed logins for {key!r}; not trying again for "
                    f"{retry_after:.0f} s, to protect the account from a lockout",
                    retry_after=retry_after,
                    hint="check the password (for example the one in the keyring) before retrying",
                )

    def record_failure(self, key: str) -> None:
        """Count a failure; lock ``key`` when it reaches the limit within the window."""
        with self._lock:
            now = self._clock()
            record = self._records.setdefault(key, _Record())
            record.failures = [t for t in record.failures if now - t < self.window]
            record.failures.append(now)
            if len(record.failures) >= self.max_failures:
                record.locked_until = now + self.lockout
                record.failures.clear()
                log.warning(
                    "login for %r failed %d times within %.0f s; refusing for %.0f s",
                    key,
                    self.max_failures,
                    self.window,
                    self.lockout,
                )
            if len(self._records) > self.max_keys:
                self._prune(now)

    def record_success(self, key: str) -> None:
        """Forget the failures of ``key``."""
        with self._lock:
            self._records.pop(key, None)

    def failures(self, key: str) -> int:
        """How many failures of ``key`` count now."""
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return 0
            now = self._clock()
            return sum(1 for t in record.failures if now - t < self.window)

    def _prune(self, now: float) -> None:
        stale = [
            key
            for key, rec in self._records.items()
            if rec.locked_until <= now and all(now - t >= self.window for t in rec.failures)
        ]
        for key in stale:
            del self._records[key]


class RateLimitedValidator:
    """A validator that consults a :class:`FailureLimiter` before the wrapped one.

    Only wrong user names or passwords count as failures; an unreachable directory or a
    disabled account does not. The key is the user part of the name, case-folded, so
    ``CORP\\alice`` and ``alice@corp.example.com`` share one budget.
    """

    def __init__(self, validator: Validator, limiter: FailureLimiter | None = None) -> None:
        self.validator = validator
        self.limiter = limiter or FailureLimiter()
        self.name = validator.name

    def validate(self, username: str, password: str) -> ValidatedUser:
        """Refuse when the user is locked here; else ask the wrapped validator and count."""
        key = parse_username(username).key
        self.limiter.check(key)
        try:
            user = self.validator.validate(username, password)
        except InvalidCredentialsError:
            self.limiter.record_failure(key)
            raise
        self.limiter.record_success(key)
        return user
