"""Stop asking the directory after repeated failures for one user.

Active Directory locks an account after a few wrong passwords. A script retrying in a loop
with a stale password would lock out a real person; this limiter refuses further attempts
in memory, before the directory is even asked, and says when to try again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from qlikauth.errors import ConfigurationError, InvalidCredentialsError, TooManyAttemptsError
from qlikauth.validators.base import ValidatedUser, Validator, parse_username

__all__ = ["FailureLimiter", "RateLimitedValidator"]

log = logging.getLogger(__name__)


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    in_flight: int = 0


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
            if record is not None:
                self._refuse_if_locked(key, record, self._clock())

    @contextmanager
    def attempt(self, key: str) -> Iterator[None]:
        """Reserve one try for ``key`` while it runs.

        Refused while ``key`` is locked, and while its recent failures plus the tries under
        way already reach ``max_failures``: concurrent logins with a stale password cannot
        all reach the directory and lock the account there.
        """
        with self._lock:
            now = self._clock()
            record = self._records.setdefault(key, _Record())
            self._refuse_if_locked(key, record, now)
            recent = sum(1 for t in record.failures if now - t < self.window)
            if recent + record.in_flight >= self.max_failures:
                raise TooManyAttemptsError(
                    f"{record.in_flight} login(s) for {key!r} are under way and "
                    f"{recent} failed recently; not starting another",
                    retry_after=1.0,
                    hint="wait for the logins under way; check the password before retrying",
                )
            record.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                record.in_flight -= 1

    def _refuse_if_locked(self, key: str, record: _Record, now: float) -> None:
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
            record = self._records.get(key)
            if record is not None:
                record.failures.clear()
                record.locked_until = 0.0

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
            if rec.in_flight == 0
            and rec.locked_until <= now
            and all(now - t >= self.window for t in rec.failures)
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
        with self.limiter.attempt(key):
            try:
                user = self.validator.validate(username, password)
            except InvalidCredentialsError:
                self.limiter.record_failure(key)
                raise
        self.limiter.record_success(key)
        return user
