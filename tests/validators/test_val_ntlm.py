"""NtlmValidator against the emulator's Windows (NTLM/Negotiate) virtual proxy."""

from __future__ import annotations

import logging

import pytest

from qlikauth.credentials import QlikUser
from qlikauth.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidCredentialsError,
    TooManyAttemptsError,
)
from qlikauth.http import HttpRequest, HttpTransport
from qlikauth.qps import QpsClient
from qlikauth.site import Site
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.validators import ValidatorContract
from qlikauth.validators import FailureLimiter, RateLimitedValidator, ValidatedUser, Validator
from qlikauth.validators.ntlm import NtlmValidator

pytest.importorskip("spnego", reason="NTLM needs pyspnego (the 'windows' extra)")


def windows_site(info: EmulatorInfo) -> Site:
    return emulator_site(info, "")


def sessions_of(info: EmulatorInfo, user: QlikUser) -> int:
    qps = QpsClient(windows_site(info))
    try:
        return len(qps.user_sessions(user))
    finally:
        qps.close()


class TestNtlmValidatorContract(ValidatorContract):
    @pytest.fixture
    def validator(self, qlik_emulator: EmulatorInfo) -> Validator:
        return NtlmValidator(windows_site(qlik_emulator))

    @pytest.fixture
    def good_credentials(self, qlik_emulator: EmulatorInfo) -> tuple[str, str]:
        return "QLIKEMU\\carol", qlik_emulator.windows_password("carol")

    @pytest.fixture
    def bad_credentials(self, qlik_emulator: EmulatorInfo) -> tuple[str, str]:
        return "QLIKEMU\\carol", qlik_emulator.windows_password("carol") + "x"


@pytest.mark.parametrize("protocol", ["negotiate", "ntlm"])
def test_right_password_names_the_user_and_leaves_no_session(
    qlik_emulator: EmulatorInfo, protocol: str
) -> None:
    validator = NtlmValidator(windows_site(qlik_emulator), protocol=protocol)  # type: ignore[arg-type]
    before = sessions_of(qlik_emulator, QlikUser("QLIKEMU", "dave"))
    user = validator.validate("QLIKEMU\\dave", qlik_emulator.windows_password("dave"))
    assert user == ValidatedUser("QLIKEMU", "dave")
    assert sessions_of(qlik_emulator, QlikUser("QLIKEMU", "dave")) == before


def test_wrong_password_is_invalid_credentials_and_nothing_more(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-Ntlm-Password-7"
    validator = NtlmValidator(windows_site(qlik_emulator))
    with pytest.raises(InvalidCredentialsError) as caught:
        validator.validate("QLIKEMU\\carol", wrong)
    assert caught.value.message == "invalid credentials"
    # The detail is in the log for the administrator; the password is nowhere.
    assert "QLIKEMU\\\\carol" in caplog.text or "QLIKEMU\\carol" in caplog.text
    assert wrong not in caplog.text
    assert wrong not in str(caught.value) + repr(caught.value)


def test_bare_name_with_default_domain_and_upn(qlik_emulator: EmulatorInfo) -> None:
    site = windows_site(qlik_emulator)
    password = qlik_emulator.windows_password("carol")
    bare = NtlmValidator(site, default_domain="QLIKEMU").validate("carol", password)
    assert (bare.directory, bare.user_id) == ("QLIKEMU", "carol")
    with pytest.raises(ConfigurationError, match="no domain"):
        NtlmValidator(site).validate("carol", password)


def test_session_is_kept_for_the_ntlm_path(qlik_emulator: EmulatorInfo) -> None:
    site = windows_site(qlik_emulator)
    validator = NtlmValidator(site)
    credentials = validator.session("QLIKEMU\\carol", qlik_emulator.windows_password("carol"))
    assert credentials.user == QlikUser("QLIKEMU", "carol")
    with HttpTransport(site) as transport:
        me = transport.send(
            HttpRequest("GET", site.personal_url("user"), credentials.http_headers())
        )
        assert me.json()["userId"] == "carol"
        transport.send(HttpRequest("DELETE", site.personal_url("user"), credentials.http_headers()))


def test_rate_limited_after_repeated_wrong_passwords(qlik_emulator: EmulatorInfo) -> None:
    limiter = FailureLimiter(max_failures=2, window=60, lockout=60)
    validator = RateLimitedValidator(NtlmValidator(windows_site(qlik_emulator)), limiter)
    for _ in range(2):
        with pytest.raises(InvalidCredentialsError):
            validator.validate("QLIKEMU\\dave", "not-daves-password")
    with pytest.raises(TooManyAttemptsError):
        validator.validate("QLIKEMU\\dave", qlik_emulator.windows_password("dave"))


def test_not_a_windows_virtual_proxy(qlik_emulator: EmulatorInfo) -> None:
    validator = NtlmValidator(emulator_site(qlik_emulator, "ticket"))
    with pytest.raises(AuthenticationError) as caught:
        validator.validate("QLIKEMU\\carol", qlik_emulator.windows_password("carol"))
    # Not "wrong password": the check could not run at all, and says where it stopped.
    assert not isinstance(caught.value, InvalidCredentialsError)
    assert "Windows authentication module" in str(caught.value)


def test_bad_protocol() -> None:
    with pytest.raises(ConfigurationError):
        NtlmValidator(Site("qlik.example.com"), protocol="kerberos")  # type: ignore[arg-type]
