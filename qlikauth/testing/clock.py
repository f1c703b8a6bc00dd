"""A clock for tests of expiry, renewal and rate windows: time moves when the test says.

Give the same :class:`ManualClock` to the emulator (``qlik_emulator_factory(clock=...)``)
and to the client (``QlikClient(..., clock=...)``), then :meth:`~ManualClock.advance` it
past a timeout instead of sleeping through it. It starts at the wall-clock time, so that
expiry times taken from the real clock (a JWT's ``exp``) compare as they would.
"""

from __future__ import annotations

import threading
import time

import pytest

__all__ = ["ManualClock", "manual_clock"]


class ManualClock:
    """Seconds that stand still until :meth:`advance` moves them (thread-safe)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"

    def advance(self, seconds: float) -> float:
        """Move time by ``seconds`` (back when negative, as a wall clock set back); returns
        the new reading."""
        with self._lock:
            self._now += seconds
            return self._now


@pytest.fixture
def manual_clock() -> ManualClock:
    """A :class:`ManualClock` of the test's own, started at the wall-clock time."""
    return ManualClock()
