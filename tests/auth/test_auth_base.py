"""The authenticator registry."""

from __future__ import annotations

import pytest

from qlikauth import ConfigurationError
from qlikauth.auth.base import create_authenticator, get_authenticator


def test_unknown_authenticator_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="no authenticator named 'nope'") as info:
        get_authenticator("nope")
    assert "qlikauth.authenticators" in str(info.value)
    with pytest.raises(ConfigurationError):
        create_authenticator("nope")
