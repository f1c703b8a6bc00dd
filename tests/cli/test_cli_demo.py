"""``qlikauth demo``: every authenticator end to end against its own embedded emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlikauth.cli import main
from qlikauth.cli.demo import Step, _report


@pytest.mark.parametrize("release", ["2024-05", "2024-11"])
def test_demo_runs_every_authenticator_on_one_session_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str
) -> None:
    assert main(["demo", "--json", "--release", release, "--keep", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["release"] == release
    steps = {s["authenticator"]: s for s in report["steps"]}
    assert set(steps) == {"header", "jwt", "ticket", "session", "ntlm", "certificate", "existing"}
    for name, step in steps.items():
        assert step["ok"], (name, step["error"])
        assert step["proxy_sessions"] == 1, name
        assert step["value"] == steps["header"]["value"]
        # A number, as `eval --json` gives it; the engine's text beside it.
        assert isinstance(step["value"], float), name
        assert step["text"] and float(step["text"]) == pytest.approx(step["value"])
        csv = tmp_path / "downloads" / f"{name}.csv"
        assert csv.stat().st_size == step["file_size"] > 0
    # The borrowed session is the header one: same session, not a second.
    assert steps["existing"]["session"] == steps["header"]["session"]
    assert steps["certificate"]["user"] == "INTERNAL\\sa_api"
    lines = (tmp_path / "downloads" / "header.csv").read_text().splitlines()
    assert lines[0].startswith("Region,")


def test_report_names_a_failure() -> None:
    info = {"proxy_url": "https://localhost:1"}
    steps = [Step("jwt", "jwt", error="JwtError: signature invalid")]
    text = _report(info, steps)
    assert "FAILED: JwtError: signature invalid" in text
    assert "0 of 1 authenticators worked" in text


@pytest.mark.parametrize(
    "option", ["--profile", "--config", "--server", "--prefix", "--certs", "--timeout"]
)
def test_demo_offers_no_site_options(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    # The demo runs its own emulator: a site option would be silently ignored.
    assert main(["demo", option, "1"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert main([option, "1", "demo"]) == 2
    assert "does not apply to 'demo'" in capsys.readouterr().err
