"""Collect garbage after each proxy test, so that a socket or transport a test leaves open
fails that test (warnings are errors), not whichever test the collector happens to run in."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def collected() -> Iterator[None]:
    yield
    gc.collect()
