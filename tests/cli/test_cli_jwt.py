"""``qlikauth jwt keygen|mint|verify|inspect`` through ``main(argv)``."""

from __future__ import annotations

import io
import stat
import time
from pathlib import Path

import jwt as pyjwt
import pytest
import requests
from cli_support import run_json

from qlikauth.cli import main
from qlikauth.testing.emulator import EmulatorInfo


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_keygen_mint_verify_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "jwt"
    code, made = run_json(capsys, "jwt", "keygen", "--out", str(out))
    assert code == 0
    key, cert = Path(str(made["key"])), Path(str(made["certificate"]))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert str(made["certificate_pem"]).startswith("-----BEGIN CERTIFICATE-----")
    assert made["qmc"] == {
        "Authentication method": "JWT",
        "JWT certificate": f"the whole text of {cert} (printed below)",
        "JWT attribute for user ID": "userId",
        "JWT attribute for user directory": "userDirectory",
    }
    assert main(["jwt", "keygen", "--out", str(out)]) == 4  # no silent overwrite
    capsys.readouterr()

    code, minted = run_json(
        capsys,
        "jwt",
        "mint",
        "--user",
        "alice",
        "--directory",
        "CORP",
        "--key",
        str(key),
        "--group",
        "Sales",
        "--claim",
        "email=alice@corp.example",
        "--claim",
        "level=3",
        "--lifetime",
        "120",
    )
    assert code == 0
    token = str(minted["token"])
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["userId"] == "alice"
    assert claims["userDirectory"] == "CORP"
    assert claims["groups"] == ["Sales"]
    assert claims["email"] == "alice@corp.example"
    assert claims["level"] == 3
    assert claims["exp"] - claims["iat"] == 120
    assert pyjwt.get_unverified_header(token)["alg"] == "RS256"

    stdin(monkeypatch, token + "\n")
    code, verified = run_json(capsys, "jwt", "verify", "--cert", str(cert))
    assert code == 0
    assert verified["user"] == "CORP\\alice"

    monkeypatch.setenv("MY_TOKEN", token)
    code, inspected = run_json(capsys, "jwt", "inspect", "--token-env", "MY_TOKEN")
    assert code == 0
    assert inspected["problems"] == []
    assert inspected["header"] == {"alg": "RS256", "typ": "JWT"}

    # Another key's certificate does not verify the token: authentication exit code.
    other = tmp_path / "other"
    assert main(["jwt", "keygen", "--out", str(other)]) == 0
    capsys.readouterr()
    stdin(monkeypatch, token)
    code, error = run_json(capsys, "jwt", "verify", "--cert", str(other / "jwt_cert.pem"))
    assert code == 3
    assert error["error"] == "JwtError"
    assert "signature" in str(error["message"])


def test_inspect_flags_what_the_proxy_rejects(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    past = int(time.time()) - 3600
    token = pyjwt.encode({"sub": "x", "exp": past}, "shared-secret-of-32-bytes-length!", "HS256")
    stdin(monkeypatch, token)
    code, found = run_json(capsys, "jwt", "inspect")
    assert code == 1
    problems = " | ".join(str(p) for p in found["problems"])  # type: ignore[attr-defined]
    assert "algorithm 'HS256'" in problems
    assert "expired" in problems
    assert "'userId'" in problems
    assert "'userDirectory'" in problems
    stdin(monkeypatch, token)
    assert main(["jwt", "inspect", "--user-claim", "sub"]) == 1
    text = capsys.readouterr().out
    assert "'userId'" not in text
    assert "exp:" in text


def test_inspect_garbage_and_empty_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, "not-a-token")
    code, found = run_json(capsys, "jwt", "inspect")
    assert code == 1
    assert found["problems"] == ["not a signed JWT (header.payload.signature)"]
    stdin(monkeypatch, "")
    assert main(["jwt", "inspect"]) == 4
    assert "no token" in capsys.readouterr().err
    assert main(["jwt", "inspect", "--token-env", "QLIKAUTH_TEST_UNSET_VAR"]) == 4


def test_mint_needs_key_user_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jwt", "mint", "--user", "alice"]) == 4
    err = capsys.readouterr().err
    assert "--directory" in err
    assert "--key" in err


def test_mint_with_profile_defaults_is_accepted_by_the_emulator(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qlik_emulator: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vp = qlik_emulator.virtual_proxy("jwt")
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.j]\nserver = "localhost"\nprefix = "jwt"\nauthenticator = "jwt"\n'
        f'[profiles.j.auth]\nkey = "{vp["jwt_private_key"]}"\nuser = "cli-alice"\n'
        'directory = "QLIKEMU"\nuser_claim = "userId"\nlifetime = 60\n',
        encoding="utf-8",
    )
    code, minted = run_json(capsys, "jwt", "mint", "--user", "cli-bob")  # option beats profile
    assert code == 0
    claims = minted["claims"]
    assert isinstance(claims, dict)
    assert (claims["userId"], claims["userDirectory"]) == ("cli-bob", "QLIKEMU")
    # A Bearer JWT logs in on an ordinary resource (csrftoken takes only a session cookie).
    key = "0123456789abcdef"
    answer = requests.get(
        f"{qlik_emulator.proxy_url}/jwt/qrs/about",
        params={"xrfkey": key},
        headers={"Authorization": f"Bearer {minted['token']}", "X-Qlik-Xrfkey": key},
        verify=str(qlik_emulator.root),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.cookies.get("X-Qlik-Session-jwt")

    stdin(monkeypatch, str(minted["token"]))
    code, verified = run_json(capsys, "jwt", "verify", "--cert", vp["jwt_certificate"])
    assert code == 0
    assert verified["user"] == "QLIKEMU\\cli-bob"


def test_inspect_uses_the_profile_claim_names_without_reading_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text(
        '[profiles.j]\nauthenticator = "jwt"\n[profiles.j.auth]\nkey = "keyring:nothing"\n'
        'passphrase = "env:QLIKAUTH_TEST_UNSET_PASSPHRASE"\nuser_claim = "sub"\n'
        'directory_claim = "dir"\n',
        encoding="utf-8",
    )
    token = pyjwt.encode(
        {"sub": "alice", "dir": "CORP", "exp": int(time.time()) + 60},
        "shared-secret-of-32-bytes-length!",
        "HS256",
    )
    stdin(monkeypatch, token)
    code, found = run_json(capsys, "jwt", "inspect")
    assert code == 1
    assert found["problems"] == [
        "algorithm 'HS256' is not accepted: Qlik needs RS256, RS384, RS512"
    ]
    assert main(["jwt", "mint", "--user", "x", "--directory", "y"]) == 4  # mint needs them
    err = capsys.readouterr().err
    assert "key 'auth.key'" in err  # the first secret it could not read, named
    assert "keyring" in err
