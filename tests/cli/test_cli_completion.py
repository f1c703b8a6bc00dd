"""``qlikauth completion`` through ``main(argv)``, and the bash script it prints."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from qlikauth.cli import main


def words(capsys: pytest.CaptureFixture[str], *typed: str) -> list[str]:
    assert main(["completion", "words", "--", *typed]) == 0
    return capsys.readouterr().out.split()


def test_candidates_follow_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    top = words(capsys)
    assert {"ticket", "jwt", "doctor", "profile", "--version"} <= set(top)
    assert {"keygen", "mint", "verify", "inspect"} <= set(words(capsys, "jwt"))
    ticket = words(capsys, "ticket")
    assert {"--user", "--directory", "--attr", "--profile", "--json"} <= set(ticket)
    assert "--password" not in ticket


def test_profile_names_are_offered(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "add", "prod", "--server", "q.example.com"]) == 0
    assert main(["profile", "add", "dev", "--server", "d.example.com"]) == 0
    capsys.readouterr()
    assert words(capsys, "ticket", "--profile") == ["dev", "prod"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_script_is_valid_shell(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "complete -o default -F _qlikauth_complete qlikauth" in script
    if shell == "bash":
        result = subprocess.run(
            ["bash", "-n"], input=script, text=True, capture_output=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
