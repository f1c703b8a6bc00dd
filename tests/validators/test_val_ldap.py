"""LdapValidator against a real Samba Active Directory domain controller on loopback."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from qlikauth.errors import (
    AccountRestrictedError,
    CertificateChainError,
    CertificateFileError,
    ConfigurationError,
    HostnameMismatchError,
    InvalidCredentialsError,
    TlsError,
    TooManyAttemptsError,
    TransportError,
)
from qlikauth.pki import make_test_pki
from qlikauth.testing.samba import SambaDomainController
from qlikauth.testing.validators import ValidatorContract, exception_texts
from qlikauth.tls import InsecureTlsWarning
from qlikauth.validators import FailureLimiter, LdapValidator, RateLimitedValidator, Validator

# The first test also waits for the session's domain controller to be provisioned: about
# 10 s on an idle machine, several times that on a loaded one.
pytestmark = [pytest.mark.samba, pytest.mark.timeout(300)]

RESTRICTED = ["dora", "pete", "mike", "ada", "lucy"]


def make_validator(dc: SambaDomainController, **options: object) -> LdapValidator:
    settings: dict[str, object] = {"ca_file": dc.ca_file, "tls_server_name": dc.server_name}
    settings.update(options)
    return LdapValidator(dc.ldaps_url, **settings)  # type: ignore[arg-type]


class TestLdapValidatorContract(ValidatorContract):
    @pytest.fixture
    def validator(self, samba_ad: SambaDomainController) -> Validator:
        return make_validator(samba_ad)

    @pytest.fixture
    def good_credentials(self, samba_ad: SambaDomainController) -> tuple[str, str]:
        alice = samba_ad.user("alice")
        return alice.upn, alice.password

    @pytest.fixture
    def bad_credentials(self, samba_ad: SambaDomainController) -> tuple[str, str]:
        alice = samba_ad.user("alice")
        return alice.upn, alice.password + "x"


def test_the_bound_account_is_who_logs_on_not_the_name_as_typed(
    samba_ad: SambaDomainController,
) -> None:
    # asmith logs on as anna.smith@REALM: the ticket must name the account the directory
    # bound (asmith), whatever name was typed.
    asmith = samba_ad.user("asmith")
    logon = f"anna.smith@{samba_ad.dns_domain}"
    assert make_validator(samba_ad).validate(logon, asmith.password).user_id == "asmith"
    by_account = make_validator(samba_ad).validate("CORP\\asmith", asmith.password)
    assert by_account.user_id == "asmith"


def test_alice_gets_her_nested_groups(samba_ad: SambaDomainController) -> None:
    alice = samba_ad.user("alice")
    user = make_validator(samba_ad).validate(alice.upn, alice.password)
    assert (user.directory, user.user_id) == ("CORP", "alice")
    assert user.groups == ("Europe", "Sales")
    assert user.ticket_attributes() == [{"Group": "Europe"}, {"Group": "Sales"}]


def test_direct_groups_only_without_nesting(samba_ad: SambaDomainController) -> None:
    alice = samba_ad.user("alice")
    user = make_validator(samba_ad, nested_groups=False).validate(alice.upn, alice.password)
    assert user.groups == ("Sales",)
    assert (
        make_validator(samba_ad, read_groups=False).validate(alice.upn, alice.password).groups == ()
    )


@pytest.mark.parametrize(
    ("typed", "options"),
    [
        ("CORP\\alice", {}),
        ("corp\\ALICE", {}),
        ("alice", {"upn_suffix": "corp.example.com"}),
        ("alice", {"netbios_domain": "CORP"}),
    ],
)
def test_name_forms(
    samba_ad: SambaDomainController, typed: str, options: dict[str, object]
) -> None:
    user = make_validator(samba_ad, **options).validate(typed, samba_ad.user("alice").password)
    assert (user.directory, user.user_id) == ("CORP", "alice")


def test_bare_name_without_a_default_domain_is_a_configuration_error(
    samba_ad: SambaDomainController,
) -> None:
    with pytest.raises(ConfigurationError, match="no domain"):
        make_validator(samba_ad).validate("alice", samba_ad.user("alice").password)


def test_starttls(samba_ad: SambaDomainController) -> None:
    alice = samba_ad.user("alice")
    validator = LdapValidator(
        samba_ad.starttls_url,
        start_tls=True,
        ca_file=samba_ad.ca_file,
        tls_server_name=samba_ad.server_name,
    )
    assert validator.validate(alice.down_level, alice.password).groups == ("Europe", "Sales")


def test_directory_mapping_and_extra_attributes(samba_ad: SambaDomainController) -> None:
    alice = samba_ad.user("alice")
    validator = make_validator(
        samba_ad,
        directories={"corp.example.com": "ACME"},
        ticket_attributes={"Account": "sAMAccountName"},
    )
    user = validator.validate(alice.upn, alice.password)
    assert user.directory == "ACME"
    assert user.attributes == (("Account", "alice"),)
    assert user.ticket_attributes()[-1] == {"Account": "alice"}


def test_wrong_password_and_unknown_user_look_the_same(
    samba_ad: SambaDomainController, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="qlikauth")
    validator = make_validator(samba_ad)
    with pytest.raises(InvalidCredentialsError) as wrong:
        validator.validate("alice@corp.example.com", "Wrong-passw0rd!")
    with pytest.raises(InvalidCredentialsError) as unknown:
        validator.validate("nobody@corp.example.com", "Wrong-passw0rd!")
    assert str(wrong.value) == str(unknown.value) == "invalid credentials"
    assert "data 52e" in caplog.text  # the detail is in the log, for the administrator


@pytest.mark.parametrize("name", RESTRICTED)
def test_restricted_accounts_name_their_reason(samba_ad: SambaDomainController, name: str) -> None:
    user = samba_ad.user(name)
    with pytest.raises(AccountRestrictedError) as caught:
        make_validator(samba_ad).validate(user.upn, user.password)
    assert caught.value.reason == user.state
    assert name in str(caught.value)


def test_restricted_account_with_wrong_password_reveals_nothing(
    samba_ad: SambaDomainController,
) -> None:
    with pytest.raises(InvalidCredentialsError):
        make_validator(samba_ad).validate(samba_ad.user("dora").upn, "Wrong-passw0rd!")


def test_plain_ldap_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="plain LDAP"):
        LdapValidator("ldap://127.0.0.1:389")


@pytest.mark.parametrize("url", ["https://127.0.0.1", "ldaps://", "ldaps://127.0.0.1/dc=x"])
def test_other_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        LdapValidator(url)


def test_start_tls_on_ldaps_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="start_tls"):
        LdapValidator("ldaps://127.0.0.1", start_tls=True)


def test_wrong_ca_fails_the_tls_check(samba_ad: SambaDomainController, tmp_path: Path) -> None:
    other = make_test_pki(tmp_path, pfx_password="unused")
    validator = make_validator(samba_ad, ca_file=other.root)
    alice = samba_ad.user("alice")
    with pytest.raises(CertificateChainError) as caught:
        validator.validate(alice.upn, alice.password)
    assert isinstance(caught.value, TlsError)
    assert alice.password not in "\n".join(exception_texts(caught.value))


def test_wrong_ca_fails_starttls_too(samba_ad: SambaDomainController, tmp_path: Path) -> None:
    other = make_test_pki(tmp_path, pfx_password="unused")
    validator = LdapValidator(
        samba_ad.starttls_url,
        start_tls=True,
        ca_file=other.root,
        tls_server_name=samba_ad.server_name,
    )
    with pytest.raises(CertificateChainError):
        validator.validate(samba_ad.user("alice").upn, samba_ad.user("alice").password)


def test_certificate_must_name_the_host(samba_ad: SambaDomainController) -> None:
    # Samba's certificate names dc1.corp.example.com, not the address we dial.
    validator = LdapValidator(samba_ad.ldaps_url, ca_file=samba_ad.ca_file)
    with pytest.raises(HostnameMismatchError):
        validator.validate(samba_ad.user("alice").upn, samba_ad.user("alice").password)


def test_check_connection_reaches_the_directory_without_logging_in(
    samba_ad: SambaDomainController, tmp_path: Path
) -> None:
    said = make_validator(samba_ad).check_connection()
    assert "LDAPS" in said and samba_ad.base_dn in said
    starttls_url = LdapValidator(
        samba_ad.starttls_url,
        start_tls=True,
        ca_file=samba_ad.ca_file,
        tls_server_name=samba_ad.server_name,
    )
    assert "StartTLS" in starttls_url.check_connection()
    other = make_test_pki(tmp_path, pfx_password="unused")
    with pytest.raises(CertificateChainError):
        make_validator(samba_ad, ca_file=other.root).check_connection()
    with pytest.raises(HostnameMismatchError):
        LdapValidator(samba_ad.ldaps_url, ca_file=samba_ad.ca_file).check_connection()


def test_missing_ca_file(tmp_path: Path) -> None:
    with pytest.raises(CertificateFileError):
        LdapValidator("ldaps://127.0.0.1", ca_file=tmp_path / "nope.pem")


def test_verify_false_warns_and_works(samba_ad: SambaDomainController) -> None:
    with pytest.warns(InsecureTlsWarning):
        validator = LdapValidator(samba_ad.ldaps_url, verify=False)
    alice = samba_ad.user("alice")
    assert validator.validate(alice.upn, alice.password).user_id == "alice"


def test_nobody_listening_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    validator = LdapValidator(f"ldaps://127.0.0.1:{port}", timeout=2)
    with pytest.raises(TransportError):
        validator.validate("alice@corp.example.com", "Some-passw0rd!")


def test_password_appears_in_no_log_and_no_error(
    samba_ad: SambaDomainController, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    validator = make_validator(samba_ad)
    texts: list[str] = []
    attempts = [(samba_ad.user(n).upn, samba_ad.user(n).password) for n in RESTRICTED]
    attempts.append(("alice@corp.example.com", samba_ad.user("alice").password + "x"))
    attempts.append(("nobody@corp.example.com", samba_ad.user("alice").password))
    for username, password in attempts:
        with pytest.raises((InvalidCredentialsError, AccountRestrictedError)) as caught:
            validator.validate(username, password)
        texts.append("\n".join(exception_texts(caught.value)))
    bad_ca = make_validator(samba_ad, ca_file=make_test_pki(tmp_path, pfx_password="x").root)
    with pytest.raises(TlsError) as tls_failure:
        bad_ca.validate("alice@corp.example.com", samba_ad.user("alice").password)
    texts.append("\n".join(exception_texts(tls_failure.value)))
    alice = samba_ad.user("alice")
    texts.append(repr(validator.validate(alice.upn, alice.password)))
    assert any("LDAP bind" in r.getMessage() for r in caplog.records)
    logged = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    for _, password in [*attempts, (alice.upn, alice.password)]:
        assert password not in logged
        assert all(password not in text for text in texts)


def test_rate_limit_stops_before_the_directory_is_asked(
    samba_ad: SambaDomainController,
) -> None:
    alice = samba_ad.user("alice")
    limited = RateLimitedValidator(make_validator(samba_ad), FailureLimiter(max_failures=2))
    for _ in range(2):
        with pytest.raises(InvalidCredentialsError):
            limited.validate(alice.upn, "Wrong-passw0rd!")
    with pytest.raises(TooManyAttemptsError):
        limited.validate(alice.down_level, alice.password)
