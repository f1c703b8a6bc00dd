"""What "now" is, for code that measures expiry, renewal and rate windows.

A clock is a callable that returns seconds as a float. Code that keeps time takes one
(``clock=``), defaulting to the system's, so that a test can hand the emulator and the
client one :class:`~qlikauth.testing.clock.ManualClock` and move time forward instead of
sleeping. Only differences between two readings of the same clock carry meaning, except
for the wall clock, which is compared with expiry times such as a JWT's ``exp``.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "monotonic", "wall"]


class Clock(Protocol):
    """Seconds now, as a float."""

    def __call__(self) -> float: ...


#: The system's wall clock (seconds since the epoch), for comparing with expiry times.
wall: Clock = time.time
#: The system's monotonic clock, for timeouts and windows that must not jump.
monotonic: Clock = time.monotonic
