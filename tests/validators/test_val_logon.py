"""LogonUserValidator: builds everywhere, runs on Windows only, maps Win32 codes."""

from __future__ import annotations

import logging
import sys

import pytest

from qlikauth.errors import AccountRestrictedError, ConfigurationError, InvalidCredentialsError
from qlikauth.validators import LogonUserValidator, Validator
from qlikauth.validators.logon import WIN32_LOGON_ERRORS, logon_failure


def test_constructible_everywhere_and_a_validator() -> None:
    validator = LogonUserValidator(default_domain="CORP")
    assert isinstance(validator, Validator)
    assert validator.name == "logon"


@pytest.mark.skipif(sys.platform == "win32", reason="checks the refusal on other systems")
def test_refuses_to_run_off_windows() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LogonUserValidator().validate("CORP\\alice", "Some-passw0rd!")
    assert caught.value.hint
    assert "LDAP" in caught.value.hint


def test_empty_password_refused_before_windows_is_asked() -> None:
    validator = LogonUserValidator(platform="win32")
    with pytest.raises(InvalidCredentialsError):
        validator.validate("CORP\\alice", "")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1326, None),
        (1331, "disabled"),
        (1327, "restricted"),
        (1328, "logon_hours"),
        (1330, "password_expired"),
        (1907, "must_change_password"),
        (1909, "locked"),
        (1793, "expired"),
        (1329, "workstation"),
    ],
)
def test_win32_codes(code: int, reason: str | None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qlikauth")
    error = logon_failure(code, "CORP\\alice")
    if reason is None:
        assert type(error) is InvalidCredentialsError
        assert str(error) == "invalid credentials"
    else:
        assert isinstance(error, AccountRestrictedError)
        assert error.reason == reason
    assert str(code) in caplog.text
    assert code in WIN32_LOGON_ERRORS


def test_unknown_code_is_invalid_credentials() -> None:
    assert type(logon_failure(5, "alice")) is InvalidCredentialsError


@pytest.mark.skipif(sys.platform != "win32", reason="LogonUserW exists on Windows only")
def test_wrong_password_on_windows() -> None:
    with pytest.raises(InvalidCredentialsError):
        LogonUserValidator(default_domain=".").validate("qlikauth-no-such-user", "Wr0ng!pass")
