"""``eval``/``export``/``download`` failures and repeated failed logins, through
``main(argv)`` against an emulator of this module's own (the tests count sessions on it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import qps_sessions, run_json, write_profile

from qlikauth.cli import main
from qlikauth.testing.emulator import EmulatorInfo, running_emulator


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
    monkeypatch.delenv("QLIKAUTH_PROFILE", raising=False)


@pytest.fixture(scope="module")
def emu(
    tmp_path_factory: pytest.TempPathFactory, qlik_emulator_template: Path
) -> Iterator[EmulatorInfo]:
    pytest.importorskip("aiohttp", reason="the emulator needs the 'server' extra (aiohttp)")
    with running_emulator(tmp_path_factory.mktemp("emu-engine"), qlik_emulator_template) as info:
        yield info


@pytest.fixture
def profile(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
) -> Path:
    user = "e" + request.node.name.removeprefix("test_").replace("_", "")[:40]
    path = write_profile(tmp_path / "config.toml", emu, user)
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    return path


@pytest.mark.parametrize(
    ("expression", "named"),
    [("Sum(Amount", "')' expected"), ("Sum(Amout)", "Amout")],
)
def test_eval_of_a_wrong_expression_fails(
    profile: Path, capsys: pytest.CaptureFixture[str], expression: str, named: str
) -> None:
    code, error = run_json(capsys, "eval", "Sales", expression)
    assert code == 1
    assert error["ok"] is False
    assert error["error"] == "ExpressionError"
    assert named in str(error["message"])
    assert error["hint"]
    assert main(["eval", "Sales", expression]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert named in captured.err
    assert "Traceback" not in captured.err


def test_export_of_an_unknown_dimension_fails_and_writes_nothing(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "by-region.csv"
    target.parent.mkdir()
    argv = ["export", "Sales", "--dims", "Regoin", "--measures", "Sum(Amount)", "-o", str(target)]
    code, error = run_json(capsys, *argv)
    assert code == 1
    assert error["error"] == "ExpressionError"
    assert "Regoin" in str(error["message"])
    assert list(target.parent.iterdir()) == []
    argv[3] = "Region"
    assert main(argv) == 0
    assert target.read_text(encoding="utf-8-sig").startswith("Region,")


def test_repeated_whoami_with_a_wrong_cookie_name_leaks_no_session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = "ewrongcookie"
    path = write_profile(tmp_path / "c.toml", emu, user, cookie_name="X-Qlik-Session")
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    before = qps_sessions(emu, f"QLIKEMU\\{user}")
    for _ in range(7):  # the emulator's limit is five sessions per user
        code, error = run_json(capsys, "whoami")
        assert code == 4, error
        assert error["error"] != "SessionLimitError"
        assert "X-Qlik-Session-hdr" in str(error["message"])
        assert qps_sessions(emu, f"QLIKEMU\\{user}") == before
    assert before == 0
