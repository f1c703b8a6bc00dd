"""Saving keeps the user's file: comments, order and layout; only changed tables change."""

from __future__ import annotations

import tomllib

from qlikauth.config import (
    toml_assignment,
)


def test_toml_assignment_is_valid_toml() -> None:
    values = {
        "password": "env:EMU_PW",
        "user": "CORP\\bob",
        "quote": 'say "hi"\n',
        "port": 4243,
        "verify": False,
        "groups": ["Sales", "EU"],
        "claims": {"a": 1},
        "bad key": "x",
    }
    text = "\n".join(toml_assignment(k, v) for k, v in values.items())
    assert 'password = "env:EMU_PW"' in text
    assert tomllib.loads(text) == values
