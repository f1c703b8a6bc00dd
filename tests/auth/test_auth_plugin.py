"""A third-party authenticator registered through the entry point, end to end.

Needs the example plug-in installed: ``pip install -e tests/plugin_example``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib import metadata

import pytest

from qlikauth import ConfigurationError, QlikUser, Site
from qlikauth.auth.base import (
    ENTRY_POINT_GROUP,
    Authenticator,
    available_authenticators,
    create_authenticator,
)
from qlikauth.http import HttpTransport, run_flow
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

_INSTALLED = any(
    ep.name == "example-email-header" for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
)
pytestmark = pytest.mark.skipif(
    not _INSTALLED,
    reason="the example plug-in is not installed: pip install -e tests/plugin_example",
)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    available_authenticators.cache_clear()
    yield
    available_authenticators.cache_clear()


def test_created_by_name_and_logs_in(qlik_emulator: EmulatorInfo) -> None:
    auth = create_authenticator("example-email-header", email="plugin_user@corp.example")
    assert type(auth).__module__ == "qlikauth_plugin_example"
    site = emulator_site(qlik_emulator, "hdr")
    with HttpTransport(site) as transport:
        credentials = run_flow(auth.login(site), transport)
        try:
            assert credentials.user == QlikUser("QLIKEMU", "plugin_user")
            assert credentials.session_id
        finally:
            run_flow(auth.logout(site, credentials), transport)


def test_bad_settings_name_the_plug_in() -> None:
    with pytest.raises(ConfigurationError, match="example-email-header"):
        create_authenticator("example-email-header", mail="x@y")


def test_broken_plug_ins_are_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="qlikauth.auth"):
        registry = available_authenticators()
    assert "example-email-header" in registry
    assert "header" in registry
    assert "example-broken" not in registry
    assert "example-not-an-authenticator" not in registry
    logged = caplog.text
    assert "qlikauth_plugin_example.broken:BrokenAuth" in logged
    assert "broken on purpose" in logged
    assert "NOT_AN_AUTHENTICATOR" in logged
    assert "Traceback" not in logged  # one line each; the traceback is logged at DEBUG
    with pytest.raises(ConfigurationError, match="example-email-header"):
        create_authenticator("example-broken")


class TestPluginContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return create_authenticator("example-email-header", email="plugin_contract@corp.example")

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "hdr")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "plugin_contract")
