"""FailureLimiter and RateLimitedValidator, with an in-test clock and validator."""

from __future__ import annotations

import threading

import pytest

from qlikauth.errors import (
    AccountRestrictedError,
    ConfigurationError,
    InvalidCredentialsError,
    TooManyAttemptsError,
    TransportError,
)
from qlikauth.testing.clock import ManualClock
from qlikauth.testing.validators import ValidatorContract
from qlikauth.validators import FailureLimiter, RateLimitedValidator, ValidatedUser, Validator
from qlikauth.validators.base import INVALID_CREDENTIALS, check_password_given, parse_username


class TableValidator:
    """A validator over a fixed table of users; counts how often it was asked."""

    name = "table"

    def __init__(self, users: dict[str, str], *, disabled: frozenset[str] = frozenset()) -> None:
        self._users = users
        self._disabled = disabled
        self.calls = 0

    def validate(self, username: str, password: str) -> ValidatedUser:
        self.calls += 1
        check_password_given(password)
        user = parse_username(username).user
        if self._users.get(user) != password:
            raise InvalidCredentialsError(INVALID_CREDENTIALS)
        if user in self._disabled:
            raise AccountRestrictedError("disabled", reason="disabled")
        return ValidatedUser("TABLE", user, ("Staff",))


class DownValidator:
    name = "down"

    def validate(self, username: str, password: str) -> ValidatedUser:
        raise TransportError("the directory is unreachable")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


def test_locks_after_max_failures_within_window(clock: ManualClock) -> None:
    limiter = FailureLimiter(max_failures=3, window=60, lockout=300, clock=clock)
    for _ in range(2):
        limiter.record_failure("alice")
        limiter.check("alice")
    assert limiter.failures("alice") == 2
    limiter.record_failure("alice")
    with pytest.raises(TooManyAttemptsError) as caught:
        limiter.check("alice")
    assert caught.value.retry_after == pytest.approx(300)
    limiter.check("bob")


def test_lock_ends_after_lockout(clock: ManualClock) -> None:
    limiter = FailureLimiter(max_failures=1, window=60, lockout=300, clock=clock)
    limiter.record_failure("alice")
    clock.advance(299)
    with pytest.raises(TooManyAttemptsError) as caught:
        limiter.check("alice")
    assert caught.value.retry_after == pytest.approx(1)
    clock.advance(1)
    limiter.check("alice")
    assert limiter.failures("alice") == 0


def test_old_failures_leave_the_window(clock: ManualClock) -> None:
    limiter = FailureLimiter(max_failures=2, window=60, lockout=300, clock=clock)
    limiter.record_failure("alice")
    clock.advance(61)
    limiter.record_failure("alice")
    limiter.check("alice")
    assert limiter.failures("alice") == 1


def test_success_forgets_failures(clock: ManualClock) -> None:
    limiter = FailureLimiter(max_failures=2, clock=clock)
    limiter.record_failure("alice")
    limiter.record_success("alice")
    limiter.record_failure("alice")
    limiter.check("alice")  # one failure since the success: not locked
    assert limiter.failures("alice") == 1


@pytest.mark.parametrize("settings", [{"max_failures": 0}, {"window": 0}, {"lockout": -1}])
def test_bad_settings(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        FailureLimiter(**settings)  # type: ignore[arg-type]


def test_thread_safe_counting(clock: ManualClock) -> None:
    limiter = FailureLimiter(max_failures=10_000, window=60, clock=clock)
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        for _ in range(200):
            limiter.record_failure("alice")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert limiter.failures("alice") == 1600


def test_stale_keys_are_pruned(clock: ManualClock) -> None:
    limiter = FailureLimiter(max_failures=5, window=10, clock=clock, max_keys=3)
    for name in ("a", "b", "c"):
        limiter.record_failure(name)
    clock.advance(11)
    limiter.record_failure("d")
    assert limiter.failures("d") == 1
    assert len(limiter._records) == 1


def test_wrapper_stops_asking_after_the_limit(clock: ManualClock) -> None:
    inner = TableValidator({"alice": "right-Passw0rd"})
    limited = RateLimitedValidator(inner, FailureLimiter(max_failures=2, clock=clock))
    for name in ("CORP\\alice", "alice@corp.example.com"):
        with pytest.raises(InvalidCredentialsError):
            limited.validate(name, "wrong")
    with pytest.raises(TooManyAttemptsError):
        limited.validate("ALICE", "right-Passw0rd")
    assert inner.calls == 2
    assert limited.name == "table"


def test_wrapper_counts_only_wrong_credentials(clock: ManualClock) -> None:
    inner = TableValidator({"dora": "right-Passw0rd"}, disabled=frozenset({"dora"}))
    limited = RateLimitedValidator(inner, FailureLimiter(max_failures=1, clock=clock))
    for _ in range(3):
        with pytest.raises(AccountRestrictedError):
            limited.validate("dora", "right-Passw0rd")
    down = RateLimitedValidator(DownValidator(), FailureLimiter(max_failures=1, clock=clock))
    for _ in range(3):
        with pytest.raises(TransportError):
            down.validate("alice", "whatever")
    assert inner.calls == 3


def test_wrapper_success_resets(clock: ManualClock) -> None:
    inner = TableValidator({"alice": "right-Passw0rd"})
    limited = RateLimitedValidator(inner, FailureLimiter(max_failures=2, clock=clock))
    with pytest.raises(InvalidCredentialsError):
        limited.validate("alice", "wrong")
    assert limited.validate("alice", "right-Passw0rd").user_id == "alice"
    with pytest.raises(InvalidCredentialsError):
        limited.validate("alice", "wrong")
    assert limited.validate("alice", "right-Passw0rd").groups == ("Staff",)


class TestRateLimitedValidatorContract(ValidatorContract):
    @pytest.fixture
    def validator(self) -> Validator:
        return RateLimitedValidator(TableValidator({"alice": "right-Passw0rd"}))

    @pytest.fixture
    def good_credentials(self) -> tuple[str, str]:
        return "alice", "right-Passw0rd"

    @pytest.fixture
    def bad_credentials(self) -> tuple[str, str]:
        return "alice", "wrong-Passw0rd"


def test_concurrent_logins_cannot_exceed_the_budget(clock: ManualClock) -> None:
    # Eight threads try a stale password at once, while the directory is slow: only
    # max_failures of them may reach it, however they interleave.
    limiter = FailureLimiter(max_failures=3, window=60, clock=clock)
    reached = threading.Semaphore(0)
    release = threading.Event()
    calls: list[str] = []

    class SlowDirectory:
        name = "slow"

        def validate(self, username: str, password: str) -> ValidatedUser:
            calls.append(username)
            reached.release()
            release.wait(10)
            raise InvalidCredentialsError(INVALID_CREDENTIALS)

    validator = RateLimitedValidator(SlowDirectory(), limiter)
    outcomes: list[str] = []

    def login() -> None:
        try:
            validator.validate("CORP\\alice", "stale")
        except TooManyAttemptsError:
            outcomes.append("refused")
        except InvalidCredentialsError:
            outcomes.append("invalid")

    threads = [threading.Thread(target=login) for _ in range(8)]
    for t in threads:
        t.start()
    for _ in range(3):
        assert reached.acquire(timeout=10)  # three are inside the directory, waiting
    deadline = threading.Event()
    for _ in range(1000):  # the other five are refused without reaching it (10 s at most)
        if len(outcomes) >= 5:
            break
        deadline.wait(0.01)
    release.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 3
    assert sorted(outcomes) == ["invalid"] * 3 + ["refused"] * 5
    assert limiter.failures("alice") == 0  # three failures lock the key and clear the count
    with pytest.raises(TooManyAttemptsError):
        limiter.check("alice")
