"""Secrets stay out of DEBUG logs, whichever library writes the line."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pytest

from qlikauth.cli import main
from qlikauth.client import QlikClient
from qlikauth.logfilter import SecretFilter, redact_text
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.emulator_info import site_from_emulator

SESSION = "3f2b9c1e-5d4a-4e8b-9a7c-112233445566"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"> Cookie: X-Qlik-Session-hdr={SESSION}", SESSION),
        (f"< Set-Cookie: X-Qlik-Session={SESSION}; Path=/; Secure", SESSION),
        ("> Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9"),
        ("> qlik-csrf-token: Zm9vYmFyYmF6", "Zm9vYmFyYmF6"),
        ('"GET /ticket/hub/?qlikTicket=ZRNBTdq6YPVjWm5i HTTP/1.1" 302 0', "ZRNBTdq6YPVjWm5i"),
        ("> GET /hdr/app/engineData?QLIK-CSRF-TOKEN=foPmKh2nl1_x&x=1 HTTP/1.1", "foPmKh2nl1_x"),
        (f"sending cookies a=1; X-Qlik-Session-jwt={SESSION}", SESSION),
        (f'"DELETE /qps/hdr/session/{SESSION}?xrfkey=abc HTTP/1.1" 200 157', SESSION),
    ],
)
def test_secrets_are_masked_and_the_line_kept(line: str, secret: str) -> None:
    masked = redact_text(line)
    assert secret not in masked
    assert "[secure]" in masked
    assert masked.split()[0] == line.split()[0]  # still the same kind of line


def test_lines_without_secrets_are_untouched() -> None:
    text = (
        "> GET /hdr/app/engineData?reloadUri=x HTTP/1.1\n> Host: localhost:443\n= connection open"
    )
    assert redact_text(text) == text


def test_the_filter_masks_arguments_and_tracebacks() -> None:
    try:
        raise RuntimeError(f"refused cookie X-Qlik-Session={SESSION}")
    except RuntimeError:
        record = logging.LogRecord(
            "urllib3", logging.DEBUG, __file__, 1, "> %s: %s", ("Cookie", SESSION), sys.exc_info()
        )
    assert SecretFilter().filter(record) is True
    formatted = logging.Formatter().format(record)
    assert SESSION not in formatted
    assert "> Cookie: [secure]" in formatted
    assert "RuntimeError: refused cookie X-Qlik-Session=[secure]" in formatted


def test_engine_socket_debug_logs_hide_the_session(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    from qlikauth.auth.header import HeaderAuth

    caplog.set_level(logging.DEBUG)
    site = site_from_emulator(qlik_emulator.raw, "hdr")
    with QlikClient(site, HeaderAuth(user="logfilter-engine")) as client:
        credentials = client.credentials()
        with client.engine() as engine:
            assert engine.global_.engine_version()
    # What qlikauth's loggers pass on (urllib3 logs URLs unmasked unless a SecretFilter sits
    # on the handler, as on the command line).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("qlikauth"))
    assert re.search(r"Cookie: \[secure\]", ours)  # websockets did log the upgrade
    assert "/session/[secure]" in ours  # and the logout through QPS was logged
    assert credentials.session_id not in ours
    assert (credentials.csrf_token or "-") not in ours


def test_cli_very_verbose_output_hides_every_library_secret(
    qlik_emulator: EmulatorInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ports = qlik_emulator["ports"]
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.t]\nserver = "localhost"\nprefix = "ticket"\n'
        f'cookie_name = "{qlik_emulator.cookie_name("ticket")}"\n'
        f'certs = "{qlik_emulator.certs_dir}"\nproxy_port = {ports["proxy"]}\n'
        f'qps_port = {ports["qps"]}\nauthenticator = "ticket"\n'
        '[profiles.t.auth]\nuser = "logfilter-cli"\ndirectory = "CORP"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(config))
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
    app = qlik_emulator.app_id("Sales")
    assert main(["eval", app, "Sum(Amount)", "--profile", "t", "-vv"]) == 0
    err = capsys.readouterr().err
    assert main(["cookie", "--profile", "t"]) == 0
    session_id = capsys.readouterr().out.strip().rpartition("=")[2]
    assert main(["logout", "--profile", "t"]) == 0
    assert "qlikTicket=[secure]" in err  # urllib3 logged the ticket redemption...
    assert "Cookie: [secure]" in err  # ...and websockets the upgrade headers
    assert session_id and session_id not in err
    assert not re.search(r"qlikTicket=(?!\[secure\])", err)
