"""The documented way from a profile to a client type-checks in a user's project.

Each Python block of the docs that calls ``require_authenticator`` is written to a file and
checked with ``mypy --strict``, as a user's project would check it; beside it, the same
client built from ``resolved.authenticator`` (which may be ``None``) must be refused, so the
check is known to bite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import qlikauth

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/client.md", "docs/cli.md")

UNTYPED = """\
from qlikauth.client import QlikClient
from qlikauth.config import resolve

resolved = resolve("prod")
client = QlikClient(resolved.site, resolved.authenticator)
"""


def documented_snippets() -> list[tuple[str, str]]:
    """``(document, code)`` for each Python block that uses ``require_authenticator``."""
    found = []
    for document in DOCUMENTS:
        text = (ROOT / document).read_text(encoding="utf-8")
        for code in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
            if "require_authenticator" in code:
                found.append((document, code))
    return found


def test_the_documented_snippets_pass_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (extra 'test')")
    snippets = documented_snippets()
    assert {document for document, _ in snippets} == set(DOCUMENTS)
    files = []
    for number, (_, code) in enumerate(snippets):
        files.append(tmp_path / f"documented_{number}.py")
        files[-1].write_text(code, encoding="utf-8")
    (tmp_path / "untyped.py").write_text(UNTYPED, encoding="utf-8")
    # qlikauth as an installed package is seen (an editable install is an import hook
    # that mypy does not follow); the user's folder has no mypy configuration of its own.
    env = {**os.environ, "MYPYPATH": str(Path(qlikauth.__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent"]
        + [str(f.name) for f in files]
        + ["untyped.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert errors, result.stdout + result.stderr  # the untyped line must be refused
    assert all(line.startswith("untyped.py:5:") for line in errors), result.stdout
    assert '"Authenticator | None"' in result.stdout
