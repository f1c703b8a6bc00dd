"""The command lines the README and docs show: each parses, and the README's walk-through runs
as written against the emulator and prints what the README says (ports, ticket and paths
aside)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qlikauth.cli import build_parser, main
from qlikauth.errors import UsageError
from qlikauth.testing.emulator import running_emulator

ROOT = Path(__file__).resolve().parents[2]


def console_commands(text: str) -> list[tuple[str, str]]:
    """``(command, output)`` for each ``$ command`` of the ``console`` blocks in ``text``."""
    runs: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:]
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + lines[i].strip()
            i += 1
            output = []
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            runs.append((command, "\n".join(output).strip()))
    return runs


def qlikauth_argvs(command: str) -> list[list[str]]:
    """The argument lists of the ``qlikauth`` commands in a shell pipeline."""
    tokens = shlex.split(command, comments=True)
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in ("|", "&"):
            segments.append([])
        else:
            segments[-1].append(token)
    return [s[1:] for s in segments if s and s[0] == "qlikauth"]


def parses(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code == 0
    except UsageError:
        return False
    return True


@pytest.mark.parametrize(
    "document", ["README.md", "docs/cli.md", "docs/emulator.md", "docs/proxy.md"]
)
def test_every_command_shown_parses(document: str, capsys: pytest.CaptureFixture[str]) -> None:
    commands = [
        argv
        for command, _ in console_commands((ROOT / document).read_text(encoding="utf-8"))
        if "<TAB>" not in command
        for argv in qlikauth_argvs(command)
    ]
    assert commands
    parser = build_parser()
    failed = [argv for argv in commands if not parses(parser, argv)]
    capsys.readouterr()
    assert failed == []


def test_options_go_before_or_after_the_command() -> None:
    # What docs/cli.md says: common options go before or after the command name.
    assert parses(build_parser(), ["--profile", "x", "whoami"])
    assert parses(build_parser(), ["whoami", "--profile", "x"])
    assert not parses(build_parser(), ["whoami", "--no-such-option"])


def test_the_emulator_options_are_documented() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    emulator = subparsers.choices["emulator"]
    own = {o for a in emulator._actions for o in a.option_strings} - {"-h", "--help"}
    assert {"--allow-http", "--config", "--verbose"} <= own
    # The emulator takes none of the client commands' options (they would be ignored).
    assert not own & {"--profile", "--server", "--certs", "--insecure", "--prefix"}
    table = (ROOT / "docs" / "emulator.md").read_text(encoding="utf-8")
    for option in sorted(own):  # named in the first cell of a row of the options table
        assert re.search(rf"^\| [^|\n]*`{option}[ `]", table, flags=re.MULTILINE), option


def _normalised(text: str, home: Path) -> str:
    text = text.replace(str(home), "/home/you")
    text = re.sub(r"localhost:\d+", "localhost:PORT", text)
    return re.sub(r"qlikTicket=[A-Za-z0-9._-]+", "qlikTicket=TICKET", text).strip()


def test_the_readme_walk_through_runs_as_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qlik_emulator_template: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    runs = console_commands(readme)
    assert any("--from-emulator" in command for command, _ in runs)
    # Its commands are bare `qlikauth`: it starts in the set-up's virtual environment.
    assert runs[0][0] == ". .venv/bin/activate"
    home = tmp_path / "home"
    for name in ("QLIKAUTH_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    state = Path(".qlikauth-emulator")  # where `qlikauth emulator` puts it, seen from here
    ran = []
    with running_emulator(state, qlik_emulator_template):
        for command, expected in runs:
            if command == ". .venv/bin/activate":
                continue  # this test runs in the virtual environment already
            if command.startswith(("qlikauth emulator", "kill ", "until [ -f ")):
                continue  # the emulator runs in this test, ready before the first command
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                monkeypatch.setenv(name, value)
                continue
            argv = shlex.split(command)
            assert argv[0] == "qlikauth", command
            if "curl" in command and shutil.which("curl") is None:
                continue
            capfd.readouterr()
            code = main(argv[1:])
            out, err = capfd.readouterr()
            assert code == 0, (command, err)
            assert _normalised(out, home) == _normalised(expected, home), command
            ran.append(argv[1])
    assert ran[:2] == ["profile", "ticket"]
    assert {"doclist", "eval", "export", "session"} <= set(ran)


def test_an_example_without_its_variables_names_the_missing_one(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QLIKAUTH_EMULATOR_INFO", "QLIK_HOST", "QLIK_CERTS")
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "evaluate.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "QLIK_CERTS is not set" in result.stderr
    assert "QLIKAUTH_EMULATOR_INFO" in result.stderr


def test_the_walk_through_emulator_folder_is_ignored_by_git() -> None:
    # It holds private keys (the emulator's CA, the JWT signing key): never to be committed.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".qlikauth-emulator/" in readme
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".qlikauth-emulator/" in lines
    if shutil.which("git") and (ROOT / ".git").exists():
        probe = ".qlikauth-emulator/jwt_key.pem"
        result = subprocess.run(
            ["git", "check-ignore", "-q", probe], cwd=ROOT, capture_output=True, timeout=60
        )
        assert result.returncode == 0
