"""Point 7: ``jwt verify`` and ``jwt inspect`` agree on a token without ``exp``; a server name
with CR/LF is called what it is. (What a cut download reports is in
``test_bounded_answers.py``.)
"""

from __future__ import annotations

import time
from pathlib import Path

import jwt as pyjwt
import pytest

from qlikauth.cli import main
from qlikauth.errors import JwtError
from qlikauth.jwt import NO_EXP_PROBLEM, inspect_jwt, make_jwt_keypair, verify_jwt


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    make_jwt_keypair(tmp_path / "key.pem", tmp_path / "cert.pem")
    return tmp_path / "key.pem", tmp_path / "cert.pem"


def _token(key: Path, **claims: object) -> str:
    return pyjwt.encode(
        {"userId": "alice", "userDirectory": "CORP", **claims}, key.read_bytes(), "RS256"
    )


def test_verify_and_inspect_agree_on_a_token_without_exp(
    keypair: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, cert = keypair
    monkeypatch.setenv("TOKEN", _token(key))
    verify = main(["jwt", "verify", "--token-env", "TOKEN", "--cert", str(cert)])
    verified = capsys.readouterr()
    inspect = main(["jwt", "inspect", "--token-env", "TOKEN"])
    inspected = capsys.readouterr()
    assert verify != 0 and inspect != 0
    assert "never expires" in verified.err and "never expires" in inspected.out
    assert "valid" not in verified.out


def test_the_library_checks_agree_too(keypair: tuple[Path, Path]) -> None:
    key, cert = keypair
    forever = _token(key)
    assert NO_EXP_PROBLEM in inspect_jwt(forever).problems
    with pytest.raises(JwtError, match="never expires"):
        verify_jwt(forever, cert)
    assert verify_jwt(forever, cert, require_exp=False)["userId"] == "alice"
    good = _token(key, exp=int(time.time()) + 60)
    assert inspect_jwt(good).ok
    assert verify_jwt(good, cert)["userId"] == "alice"


def test_a_server_name_with_a_line_break_is_named_for_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(tmp_path / "none.toml"))
    code = main(["whoami", "--server", "qlik.corp\r\nHost: evil:443"])
    err = capsys.readouterr().err
    assert code == 4
    assert "control character" in err
    assert "contains a port" not in err
