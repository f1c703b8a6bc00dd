"""Ctrl-C in every phase of a long ``export``/``download``, in a real child process on a
terminal, against an emulator made slow by its own faults.

The child's stderr is a pseudo-terminal, so it shows its phase spinner; the test sends
SIGINT once the phase it wants is named there. The emulator's ``latency_ms`` fault holds
each HTTP request (the login, the websocket upgrade, the download) and a large generated app
keeps the engine busy exporting. Each run must exit 130, leave no file (no partial one
either) and leave the proxy with the sessions it had: the profile's one cached session,
which the next command reuses.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import qps_sessions, run_json, user_of

from qlikauth import QlikClient
from qlikauth.config import ConfigFile, resolve
from qlikauth.testing.emulator import EmulatorInfo

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

#: Held on every HTTP request while a phase is to be interrupted: long enough that the test
#: (which acts as soon as the phase is named) always interrupts the phase itself.
LATENCY_MS = 5000
#: Rows of the generated app: its export keeps the engine busy for seconds.
LARGE_ROWS = 1_000_000
#: How long a stuck child may take before the test gives up on it (a guard against a hang,
#: not a measurement: a passing run exits long before).
GIVE_UP = 120.0
#: The module's emulator (the ``emu`` fixture) holds a large generated app.
EMULATOR_OVERRIDES = {"large_app_rows": LARGE_ROWS}


def interrupt_when(argv: list[str], phase: str, cwd: Path) -> tuple[int, str]:
    """Run ``qlikauth ARGV`` with stderr on a terminal; SIGINT once ``phase`` is shown.

    Returns the exit code and what the child wrote on its terminal.
    """
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "qlikauth", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=cwd,
        env=os.environ.copy(),
    )
    os.close(follower)
    seen = b""
    sent = False
    try:
        give_up = time.monotonic() + GIVE_UP
        while child.poll() is None and time.monotonic() < give_up:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                with contextlib.suppress(OSError):  # EIO once the child has gone
                    seen += os.read(leader, 4096)
            if not sent and phase.encode() in seen:
                child.send_signal(signal.SIGINT)
                sent = True
        if child.poll() is None:
            child.kill()
        code = child.wait()
        with contextlib.suppress(OSError):
            while select.select([leader], [], [], 0.05)[0]:
                chunk = os.read(leader, 4096)
                if not chunk:
                    break
                seen += chunk
    finally:
        os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert sent, f"the phase {phase!r} was never shown:\n{text}"
    return code, text


def export_argv(app: str, target: Path) -> list[str]:
    return ["export", app, "--dims", "OrderId", "--measures", "Sum(Amount)", "-o", str(target)]


def assert_session_kept(
    emu: EmulatorInfo, profile: Path, capsys: pytest.CaptureFixture[str], before: int
) -> None:
    """The proxy holds the sessions it had, and the next command reuses the cached one."""
    user = user_of(profile)
    assert qps_sessions(emu, user) == before
    code, whoami = run_json(capsys, "whoami")
    assert code == 0, whoami
    assert whoami["reused"] is True
    assert qps_sessions(emu, user) == before


def test_ctrl_c_while_logging_in(
    profile: Path, emu: EmulatorInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "sales.csv"
    target.parent.mkdir()
    before = qps_sessions(emu, user_of(profile))
    emu.set_faults(latency_ms=LATENCY_MS)
    # -vv shows urllib3 dialling the proxy: the login request itself is then on its way (the
    # QPS listing taken before it, to find a session whose answer is lost, is over).
    proxy = f"connection (1): {emu.host}:{emu['ports']['proxy']}"
    code, shown = interrupt_when(["-vv", *export_argv("Sales", target)], proxy, tmp_path)
    emu.set_faults(latency_ms=0)
    assert code == 130, shown
    assert "interrupted" in shown
    # At DEBUG the test environment's deliberately broken example plug-in shows its own.
    tracebacks = shown.split("Traceback")[1:]
    assert [t for t in tracebacks if "qlikauth_plugin_example" not in t] == [], shown
    assert list(target.parent.iterdir()) == []
    # The login the proxy went on serving made a session: the client awaited its answer
    # (saying so at once) and ended it.
    assert "unfinished login" in shown
    time.sleep(LATENCY_MS / 1000)  # any login the proxy still held has finished by now
    assert qps_sessions(emu, user_of(profile)) == before
    # Nothing was cached: the next command logs in anew.
    code, whoami = run_json(capsys, "whoami")
    assert code == 0, whoami
    assert whoami["reused"] is False


@pytest.mark.parametrize(
    ("app", "phase", "slow"),
    [
        ("Sales", "opening Sales", True),  # the engine websocket's upgrade is held
        ("Large", "exporting", False),  # the engine is busy with a million rows
        ("Sales", "downloading", True),  # the tempcontent request is held
    ],
)
def test_ctrl_c_in_each_phase_of_an_export(
    profile: Path,
    emu: EmulatorInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    app: str,
    phase: str,
    slow: bool,
) -> None:
    code, _ = run_json(capsys, "login")
    assert code == 0
    before = qps_sessions(emu, user_of(profile))
    assert before == 1
    target = tmp_path / "out" / "export.csv"
    target.parent.mkdir()
    if slow:
        emu.set_faults(latency_ms=LATENCY_MS)
    code, shown = interrupt_when(export_argv(app, target), phase, tmp_path)
    emu.set_faults(latency_ms=0)
    assert code == 130, shown
    assert "Traceback" not in shown
    assert list(target.parent.iterdir()) == []
    assert_session_kept(emu, profile, capsys, before)


def test_ctrl_c_while_downloading_a_qurl(
    profile: Path, emu: EmulatorInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_json(capsys, "login")
    assert code == 0
    resolved = resolve(None, config=ConfigFile.load(str(profile)))
    assert resolved.authenticator is not None
    with QlikClient(resolved.site, resolved.authenticator) as client:  # another tool's export
        doc = client.open_app(emu.app_id("Sales"))
        url = doc.create_hypercube(["Region"], ["Sum(Amount)"]).export_data("CSV_C")
    before = qps_sessions(emu, user_of(profile))
    out = tmp_path / "out"
    out.mkdir()
    emu.set_faults(latency_ms=LATENCY_MS)
    code, shown = interrupt_when(
        ["download", url, "-o", str(out / "f.csv")], "downloading", tmp_path
    )
    emu.set_faults(latency_ms=0)
    assert code == 130, shown
    assert list(out.iterdir()) == []
    assert_session_kept(emu, profile, capsys, before)
