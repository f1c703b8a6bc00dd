"""Point 4: turning TLS verification off warns loudly wherever the setting came from, and
whatever the warnings filter says (``PYTHONWARNINGS=ignore`` silences Python's warning, not
this one).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from reliability_support import new_user

from qlikauth.cli import main
from qlikauth.cli._context import INSECURE_WARNING, insecure_warning
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.tls.contexts import InsecureTlsWarning


def _profile(info: EmulatorInfo, path: Path, *, verify: bool) -> None:
    path.write_text(
        '[profiles.emu]\nserver = "localhost"\nprefix = "hdr"\n'
        f'cookie_name = "{info.cookie_name("hdr")}"\nproxy_port = {info["ports"]["proxy"]}\n'
        f'authenticator = "header"\nverify = {"true" if verify else "false"}\n'
        f'root = "{info.root}"\n[profiles.emu.auth]\nuser = "{new_user()}"\n',
        encoding="utf-8",
    )


def _whoami_ignoring_warnings(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as PYTHONWARNINGS=ignore does
        assert main(argv) == 0
    return capsys.readouterr().err


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return path


def test_insecure_on_the_command_line_warns_under_any_filter(
    qlik_emulator: EmulatorInfo, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile(qlik_emulator, config, verify=True)
    err = _whoami_ignoring_warnings(["whoami", "--insecure"], capsys)
    assert "NOT verified" in err


def test_verify_false_in_a_profile_warns_as_loudly(
    qlik_emulator: EmulatorInfo, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile(qlik_emulator, config, verify=False)
    err = _whoami_ignoring_warnings(["whoami"], capsys)
    assert "NOT verified" in err
    assert "profile 'emu': key 'verify'" in err  # where the setting came from
    assert err.count("NOT verified") == 1  # once, however often the command resolves


def test_the_line_is_the_same_whichever_source_turned_verification_off(
    qlik_emulator: EmulatorInfo, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile(qlik_emulator, config, verify=False)
    from_profile = _whoami_ignoring_warnings(["whoami"], capsys)
    _profile(qlik_emulator, config, verify=True)
    from_option = _whoami_ignoring_warnings(["whoami", "--insecure"], capsys)
    lines = [
        next(line for line in err.splitlines() if "NOT verified" in line)
        for err in (from_profile, from_option)
    ]
    assert lines == [insecure_warning(f"{config}: profile 'emu': key 'verify'"), INSECURE_WARNING]


def test_python_s_own_warning_is_not_repeated_after_the_line(
    qlik_emulator: EmulatorInfo, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile(qlik_emulator, config, verify=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["whoami"]) == 0
    assert "NOT verified" in capsys.readouterr().err
    assert not [w for w in caught if issubclass(w.category, InsecureTlsWarning)]
