"""What an authenticator lacks, and how to give it."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import write

from qlikauth.auth.header import HeaderAuth
from qlikauth.config import (
    missing_settings,
    resolve,
)
from qlikauth.errors import ConfigurationError, MissingSettingsError


@pytest.mark.parametrize(
    ("authenticator", "auth", "missing", "advice"),
    [
        ("ntlm", 'user = "CORP\\\\bob"\n', "'password'", 'password = "env:VAR"'),
        ("ntlm", "", "'user', 'password'", "QLIKAUTH_AUTH_USER"),
        ("header", 'header_name = "h"\n', "'user'", "user = ... under"),
    ],
)
def test_a_missing_required_setting_is_named_with_how_to_give_it(
    tmp_path: Path, authenticator: str, auth: str, missing: str, advice: str
) -> None:
    path = write(
        tmp_path / "c.toml",
        f'[profiles.win2]\nserver = "q"\nauthenticator = "{authenticator}"\n'
        f"[profiles.win2.auth]\n{auth}",
    )
    with pytest.raises(MissingSettingsError) as info:
        resolve(config=path, env={})
    message, hint = info.value.message, info.value.hint or ""
    assert f"profile 'win2': the '{authenticator}' authenticator needs the setting" in message
    assert missing in message
    assert "__init__" not in message
    assert "[profiles.win2.auth]" in hint
    assert advice in hint
    if "password" in missing:
        assert 'password = "keyring:NAME"' in hint
    assert "qlikauth " not in hint  # library advice; the command line adds its own
    # Given in the environment instead, it is not missing.
    env = {f"QLIKAUTH_AUTH_{k.upper()}": "CORP\\bob" for k in info.value.settings}
    assert resolve(config=path, env=env).authenticator is not None


def test_missing_settings_lists_required_settings_without_defaults() -> None:
    assert missing_settings("ntlm", {"user": "u"}) == ["password"]
    assert missing_settings("ntlm", {"user": "u", "password": "p"}) == []
    assert missing_settings("header", {}) == ["user"]
    # A name the constructor does not take is the mistake the constructor reports.
    assert missing_settings("header", {"colour": 1}) == []


def test_a_plug_in_with_a_positional_only_parameter_is_named_not_a_type_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qlikauth.auth import base

    class PositionalAuth(HeaderAuth):
        def __init__(self, token: str, /, user: str = "x") -> None:
            super().__init__(user=user)

    known = dict(base.available_authenticators())
    monkeypatch.setattr(base, "available_authenticators", lambda: {**known, "pos": PositionalAuth})
    with pytest.raises(ConfigurationError, match="takes token by position only") as error:
        missing_settings("pos", {"user": "u"})
    assert "Build it in Python" in (error.value.hint or "")
    assert missing_settings("header", {}) == ["user"]  # others are unaffected
