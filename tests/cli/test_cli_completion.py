"""``qlikauth completion`` through ``main(argv)``, and the bash script it prints."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

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


def _fish(script: str, *commands: str, env: dict[str, str]) -> str:
    """Run ``commands`` in a fish that sourced ``script``; what they print."""
    program = "; ".join(commands)
    result = subprocess.run(
        ["fish", "--no-config", "-c", f"source {shlex.quote(script)}; {program}"],
        text=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(
    shutil.which("fish") is None, reason="fish is not installed (.ci/run installs it)"
)
def test_fish_completes_commands_sub_commands_and_profiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", "add", "prod", "--server", "q.example.com"]) == 0
    assert main(["completion", "fish"]) == 0
    script = tmp_path / "qlikauth.fish"
    script.write_text(capsys.readouterr().out, encoding="utf-8")
    check = subprocess.run(
        ["fish", "--no-execute", str(script)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
    # The installed qlikauth answers the script's questions, as in a user's shell.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    env["HOME"] = str(tmp_path)
    assert _fish(str(script), "complete -C 'qlikauth sess'", env=env).split() == ["session"]
    jwt = {
        line.split("\t")[0]
        for line in _fish(str(script), "complete -C 'qlikauth jwt '", env=env).splitlines()
    }
    assert {"inspect", "keygen", "mint", "verify"} <= jwt
    profiles = _fish(str(script), "complete -C 'qlikauth ticket --profile '", env=env)
    assert profiles.split() == ["prod"]
