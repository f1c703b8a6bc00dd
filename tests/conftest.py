"""Shared pytest configuration."""

pytest_plugins = ["qlikauth.testing.plugin"]
