"""Shared pytest configuration."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["qlikauth.testing.plugin"]

#: Variables that make TLS trust something other than what a test names (``requests`` lets
#: the first two override ``verify``; OpenSSL reads the last two).
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees this machine's qlikauth settings or CA bundle variables; a test that
    needs one sets it."""
    for name in list(os.environ):
        if name.startswith("QLIKAUTH_") or name in CA_BUNDLE_VARIABLES:
            monkeypatch.delenv(name)
