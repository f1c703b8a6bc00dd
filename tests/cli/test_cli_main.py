"""The command line's entry points and conventions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qlikauth import ConfigurationError, SessionLimitError, TlsError, TransportError, __version__
from qlikauth.cli import build_parser, main
from qlikauth.cli._common import exit_code_for


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"qlikauth {__version__}"


def test_help_lists_the_command_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for group in ("certs", "emulator"):
        assert group in out
    assert "Exit codes" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_exit_codes_follow_the_error_kind() -> None:
    assert exit_code_for(ConfigurationError("x")) == 4
    assert exit_code_for(TlsError("x")) == 4
    assert exit_code_for(SessionLimitError("x")) == 3
    assert exit_code_for(TransportError("x")) == 1


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qlikauth", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"qlikauth {__version__}"


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, subparser in sub.choices.items():  # type: ignore[attr-defined]
        assert subparser.format_help(), name


@pytest.mark.parametrize("group", ["certs", "jwt", "profile", "session"])
def test_a_group_without_a_sub_command_shows_its_help(
    group: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([group]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"qlikauth {group}" in captured.err


def test_every_command_module_is_registered() -> None:
    import pkgutil

    import qlikauth.cli

    modules = {
        m.name for m in pkgutil.iter_modules(qlikauth.cli.__path__) if not m.name.startswith("_")
    }
    assert modules == set(qlikauth.cli._GROUPS)
