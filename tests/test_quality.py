"""Quality gates in the test run: ruff (lint and format) and mypy --strict on the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = [p for p in ("qlikauth", "tests", "benchmarks", "examples") if (ROOT / p).exists()]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (extra 'test')")
def test_ruff_lint() -> None:
    result = _run("ruff", "check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (extra 'test')")
def test_ruff_format() -> None:
    result = _run("ruff", "format", "--check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (extra 'test')")
    result = _run(sys.executable, "-m", "mypy", "--strict", "qlikauth")
    assert result.returncode == 0, result.stdout + result.stderr
