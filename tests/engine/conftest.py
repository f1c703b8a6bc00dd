"""Fixtures for the engine connector tests (helpers are in ``engine_support``)."""

from __future__ import annotations

import pytest
from engine_support import make_site

from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo


@pytest.fixture
def site(qlik_emulator: EmulatorInfo) -> Site:
    """The shared emulator's default site (empty prefix)."""
    return make_site(qlik_emulator)


@pytest.fixture
def sales_app(qlik_emulator: EmulatorInfo) -> str:
    """The id of the emulator's Sales app."""
    return qlik_emulator.app_id("Sales")
