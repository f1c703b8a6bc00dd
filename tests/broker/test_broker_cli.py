"""``qlikauth broker``: ``--check``, configuration errors, and the real command serving in a
process of its own, with ``-vv`` logs that hold no secret."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from broker_support import SECRET, SECRET_ENV, Stage

from qlikauth.cli import main

pytestmark = pytest.mark.timeout(120)


def test_check_reports_each_part(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    path = stage.config()
    assert main(["broker", "--check", "--config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"ok   configuration: {path}: virtual proxies localhost/ticket")
    assert any(line.startswith("ok   QPS localhost (localhost/ticket):") for line in lines)
    assert any("ntlm validator has no check" in line for line in lines)
    assert any(line.startswith("ok   rate limits: in memory") for line in lines)
    assert main(["broker", "--check", "--json", "--config", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and {c["what"] for c in report["checks"]} >= {"audit log"}


def test_check_fails_for_an_unreachable_node_and_redis(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    path = stage.config(
        virtual_proxies=[{"profile": "emu", "nodes": ["127.0.0.1:1"]}],
        redis_url="redis://127.0.0.1:1/0",
    )
    assert main(["broker", "--check", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL QPS 127.0.0.1 (localhost/ticket):" in out
    assert "FAIL rate limits:" in out
    assert "ok   QPS localhost" in out


def test_configuration_errors_are_one_line_and_exit_4(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    path = stage.config()
    assert main(["broker", "--config", str(path)]) == 4
    err = capsys.readouterr().err
    assert f"the environment variable {SECRET_ENV} is not set" in err
    assert "Traceback" not in err


def test_the_command_serves_until_terminated_and_logs_no_secret(stage: Stage) -> None:
    path = stage.config(answer_time=0.0)
    env = {**os.environ, SECRET_ENV: SECRET}
    child = subprocess.Popen(
        [sys.executable, "-m", "qlikauth", "broker", "--config", str(path), "-vv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        assert ready.startswith("qlikauth broker ready: https://localhost:"), ready
        url = ready.split(": ", 1)[1].strip()
        client = stage.client()
        client.open(url)
        password = stage.info.windows_password("alice")
        assert client.submit("QLIKEMU\\alice", "Wrong-Secret-9").status_code == 401
        answer = client.submit("QLIKEMU\\alice", password)
        assert answer.status_code == 303
        ticket = parse_qs(urlsplit(answer.headers["Location"]).query)["qlikTicket"][0]
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 0
    assert "login of 'QLIKEMU\\\\alice' from 127.0.0.1 on localhost/ticket: success" in err
    assert "urllib3" in err  # -vv logs the libraries too ...
    for secret in (password, "Wrong-Secret-9", ticket, SECRET):
        assert secret not in err + out  # ... masked
