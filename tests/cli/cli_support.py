"""Helpers shared by the command-line tests."""

from __future__ import annotations

import json

import pytest

from qlikauth.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    """Run ``qlikauth ARGV --json``; its exit code and the one JSON object it printed."""
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)
