"""The qlikauth pytest plugin: ``pytest_plugins = ["qlikauth.testing.plugin"]``."""

from __future__ import annotations

from qlikauth.testing.browser import chromium  # noqa: F401 - a fixture
from qlikauth.testing.clock import manual_clock  # noqa: F401 - a fixture
from qlikauth.testing.emulator import *  # noqa: F403 - the fixtures are the plugin
from qlikauth.testing.keyrings import memory_keyring  # noqa: F401 - a fixture
from qlikauth.testing.samba import samba_ad  # noqa: F401 - a fixture
