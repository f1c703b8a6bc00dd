"""Alternating time slices: the benchmarks' way of comparing rows on a noisy machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Tally:
    """Calls made and clock seconds spent in them, for one row."""

    calls: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def per_call(self) -> float:
        return self.seconds / self.calls


def interleaved(
    rows: dict[str, Callable[[], object]],
    seconds: float,
    *,
    clock: Callable[[], float] = time.perf_counter,
    slice_seconds: float = 0.05,
) -> dict[str, Tally]:
    """Run the rows in turn, ``slice_seconds`` each, for about ``seconds`` per row.

    A burst of load from other processes then lands on every row alike. ``clock`` is what a
    slice's cost is counted in: wall time by default, or ``time.thread_time`` for CPU-bound
    rows (time spent waiting for other processes is then left out).
    """
    tallies = {name: Tally() for name in rows}
    deadline = time.perf_counter() + seconds * len(rows)
    while time.perf_counter() < deadline:
        for name, work in rows.items():
            started, stop, done = clock(), time.perf_counter() + slice_seconds, 0
            while True:
                work()
                done += 1
                if time.perf_counter() >= stop:
                    break
            tallies[name].calls += done
            tallies[name].seconds += clock() - started
    return tallies
