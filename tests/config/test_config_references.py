"""Secret references: keyring:NAME and env:VAR, and which settings are secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlikauth.config import is_secret_key, resolve_secret
from qlikauth.errors import ConfigurationError
from qlikauth.testing.keyrings import MemoryKeyring


def test_env_reference(tmp_path: Path) -> None:
    assert resolve_secret("env:PW", env={"PW": "x1"}) == "x1"
    with pytest.raises(ConfigurationError, match="PW is not set"):
        resolve_secret("env:PW", env={}, where="somewhere")
    with pytest.raises(ConfigurationError, match="not an environment variable name"):
        resolve_secret("env:1-2", env={})


def test_keyring_reference(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("qlikauth", "prod-pw", "from-keyring")
    assert resolve_secret("keyring:prod-pw", env={}) == "from-keyring"
    with pytest.raises(ConfigurationError, match="no secret named 'other'") as info:
        resolve_secret("keyring:other", env={})
    assert "keyring set qlikauth other" in (info.value.hint or "")


def test_a_session_id_is_a_secret_setting() -> None:
    assert is_secret_key("session_id")
    assert is_secret_key("csrf_token")
    assert not is_secret_key("user")
