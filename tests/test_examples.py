"""Every script in examples/ does its job against the emulator, as a user would run it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qlikauth.testing.emulator import EmulatorInfo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, info: EmulatorInfo, cwd: Path, *args: str) -> str:
    env = {**os.environ, "QLIKAUTH_EMULATOR_INFO": str(info["info_file"])}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_list_apps_with_header_auth(qlik_emulator: EmulatorInfo, tmp_path: Path) -> None:
    out = _run("list_apps_header.py", qlik_emulator, tmp_path)
    listed = {line.split("  ", 1)[1] for line in out.splitlines()}
    assert {app["name"] for app in qlik_emulator["apps"]} <= listed


def test_evaluate(qlik_emulator: EmulatorInfo, tmp_path: Path) -> None:
    out = _run("evaluate.py", qlik_emulator, tmp_path, "Sum(Quantity) * 2 - Sum(Quantity)")
    expression, _, value = out.strip().partition(" = ")
    assert expression == "Sum(Quantity) * 2 - Sum(Quantity)"
    assert float(value) == float(
        _run("evaluate.py", qlik_emulator, tmp_path, "Sum(Quantity)").strip().partition(" = ")[2]
    )
    assert float(value) > 0


@pytest.mark.parametrize(
    ("script", "target"),
    [
        ("export_ticket.py", "sales_ticket.csv"),
        ("export_jwt.py", "sales_jwt.csv"),
        ("export_certificate.py", "sales_direct.csv"),
    ],
)
def test_export_and_download(
    script: str, target: str, qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    out = _run(script, qlik_emulator, tmp_path)
    rows = list(csv.reader((tmp_path / target).read_text().splitlines()))
    assert rows[0][0] == "Region"
    assert len(rows) > 1
    assert f"saved as {target}" in out
