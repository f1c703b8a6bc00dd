"""Every script in examples/ does its job against the emulator, as a user would run it."""

from __future__ import annotations

import csv
import os
import shutil
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
    (tmp_path / "out").mkdir()
    out = _run(script, qlik_emulator, tmp_path, str(tmp_path / "out" / target))
    rows = list(csv.reader((tmp_path / "out" / target).read_text().splitlines()))
    assert rows[0][0] == "Region"
    assert len(rows) > 1
    assert f"saved as {tmp_path / 'out' / target}" in out


@pytest.mark.parametrize("script", ["export_ticket.py", "export_jwt.py", "export_certificate.py"])
def test_an_export_without_a_target_leaves_the_working_folder_alone(
    script: str, qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    out = _run(script, qlik_emulator, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran
    saved = Path(out.rsplit("saved as ", 1)[1].strip())
    try:
        assert saved.is_absolute()
        assert saved.parent.name.startswith("qlikauth-example-")
        assert csv.reader(saved.read_text().splitlines()).__next__()[0] == "Region"
    finally:
        shutil.rmtree(saved.parent)
