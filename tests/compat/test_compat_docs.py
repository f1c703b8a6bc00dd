"""docs/other-tools.md runs as written, against the emulator in each release mode.

Its recipe files (code blocks whose first line names the file) are written out as they stand
and its console commands run in order in one shell, with the README's ``emu`` profile as the
default profile; each must exit 0 and print what the page shows (ports, ids and the release's
build version and date aside). One line is changed: the ``export`` that gives the direct
recipe "your site's values" gets the emulator's.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

import pytest
from compat_support import ROOT, CompatSite, run_process

from qlikauth.cli import main

DOC = ROOT / "docs" / "other-tools.md"
_FILE_NAME = re.compile(r"(?://|#) ([\w.-]+\.(?:js|py)):")


def recipe_files(text: str) -> dict[str, str]:
    """File name -> content, for the js and python blocks (each names its file first)."""
    files = {}
    for body in re.findall(r"```(?:js|python)\n(.*?)```", text, flags=re.DOTALL):
        named = _FILE_NAME.match(body)
        assert named, f"a recipe must name its file on its first line: {body[:60]!r}"
        files[named.group(1)] = body
    return files


def console_runs(text: str) -> list[tuple[str, str]]:
    """``(command, output)`` for each ``$ command`` of the console blocks."""
    runs = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            runs.append((command, output.strip()))
    return runs


def with_site_values(command: str, values: dict[str, str]) -> str:
    """An ``export`` of only site values, given the emulator's; any other command as is."""
    words = shlex.split(command)
    names = [word.partition("=")[0] for word in words[1:]]
    if words[:1] != ["export"] or not names or not set(names) <= set(values):
        return command
    return "export " + " ".join(f"{name}={shlex.quote(values[name])}" for name in names)


def normalised(text: str) -> str:
    text = re.sub(r"localhost:\d+", "localhost:PORT", text)
    text = re.sub(r"targetId=[0-9a-f-]+", "targetId=ID", text)
    # The release's own About (docs/other-tools.md shows November 2024's).
    text = re.sub(r'"buildVersion": "[^"]*"', '"buildVersion": "VERSION"', text)
    return re.sub(r'"buildDate": "[^"]*"', '"buildDate": "DATE"', text).strip()


def in_one_shell(
    commands: list[str], env: dict[str, str], cwd: Path
) -> tuple[list[tuple[str, int]], str]:
    """Run the commands in order in one bash: each one's output and exit code, and stderr."""
    script = []
    for i, command in enumerate(commands):
        script += [f"printf '\\n@@{i}@@\\n'", command, f"printf '\\n@@{i} %d@@\\n' $?"]
    shell = run_process(["bash", "-c", "\n".join(script)], env, cwd=cwd)
    found = re.findall(r"\n@@(\d+)@@\n(.*?)\n@@\1 (\d+)@@\n", shell.out, flags=re.DOTALL)
    ran = [(out, int(code)) for _, out, code in found]
    assert len(ran) == len(commands), f"the shell stopped after {len(ran)} commands\n{shell.err}"
    return ran, shell.err


def test_the_recipes_run_as_written(
    compat_site: CompatSite,
    node: str,
    curl: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "qlikauth").is_file():
        pytest.skip("the qlikauth command is not installed beside this Python (pip install -e .)")
    text = DOC.read_text(encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    for name, body in recipe_files(text).items():
        (work / name).write_text(body, encoding="utf-8")
    info = compat_site.info
    config_home = tmp_path / "config"
    # The README walk-through's profile, made the same way.
    argv = ["profile", "add", "emu", "--from-emulator", info["info_file"], "--prefix", "hdr"]
    argv += ["--authenticator", "header", "--set", "auth.user=alice"]
    assert main([*argv, "--config", str(config_home / "qlikauth" / "config.toml")]) == 0

    site_values = {
        "QLIK_CERTS": str(info.certs_dir),
        "QLIK_ENGINE_URL": info.engine_url,
        "QLIK_USER": "QLIKEMU\\alice",
    }
    runs = console_runs(text)
    commands = [with_site_values(command, site_values) for command, _ in runs]
    changed = [new for new, (old, _) in zip(commands, runs, strict=True) if new != old]
    assert len(changed) == 1, f"one export of {sorted(site_values)} is expected: {changed}"
    env = {
        **compat_site.environment(),  # NODE_PATH: as `npm install enigma.js ws` beside them
        "XDG_CONFIG_HOME": str(config_home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    outcomes, errors = in_one_shell(commands, env, work)
    for (command, expected), (out, code) in zip(runs, outcomes, strict=True):
        assert code == 0, f"{command}\nexit {code}\n{out}\nthe shell's stderr:\n{errors}"
        assert normalised(out) == normalised(expected), f"{command}\nthe shell's stderr:\n{errors}"
