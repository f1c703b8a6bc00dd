"""The qlikauth pytest plugin: ``pytest_plugins = ["qlikauth.testing.plugin"]``."""

from __future__ import annotations

from qlikauth.testing.emulator import *  # noqa: F403 - the fixtures are the plugin
