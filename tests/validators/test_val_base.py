"""User name parsing, ValidatedUser and the shared error builders."""

from __future__ import annotations

import pytest

from qlikauth.errors import AccountRestrictedError, ConfigurationError, InvalidCredentialsError
from qlikauth.validators.base import (
    RESTRICTION_TEXT,
    ValidatedUser,
    Validator,
    account_restricted,
    check_password_given,
    parse_username,
)
from qlikauth.validators.ldap import AD_BIND_CODES, bind_failure


@pytest.mark.parametrize(
    ("typed", "user", "domain", "form"),
    [
        ("CORP\\alice", "alice", "CORP", "down-level"),
        ("  CORP\\alice ", "alice", "CORP", "down-level"),
        ("alice@corp.example.com", "alice", "corp.example.com", "upn"),
        ("a.b@sub.corp.example.com", "a.b", "sub.corp.example.com", "upn"),
        ("alice", "alice", None, "bare"),
    ],
)
def test_parse_username(typed: str, user: str, domain: str | None, form: str) -> None:
    parsed = parse_username(typed)
    assert (parsed.user, parsed.domain, parsed.form) == (user, domain, form)


def test_bare_name_takes_the_default_domain() -> None:
    parsed = parse_username("alice", default_domain="CORP")
    assert (parsed.user, parsed.domain, parsed.form) == ("alice", "CORP", "bare")


def test_key_is_the_same_for_every_form() -> None:
    keys = {parse_username(n).key for n in ("CORP\\Alice", "alice@corp.example.com", "ALICE")}
    assert keys == {"alice"}


@pytest.mark.parametrize(
    "typed", ["", "   ", "CORP\\", "\\alice", "alice@", "@corp", "a\\b\\c", "a@b\\c"]
)
def test_unusable_names_are_invalid_credentials(typed: str) -> None:
    with pytest.raises(InvalidCredentialsError):
        parse_username(typed)


def test_empty_password_is_refused() -> None:
    with pytest.raises(InvalidCredentialsError):
        check_password_given("")
    check_password_given(" ")


def test_ticket_attributes_put_groups_first() -> None:
    user = ValidatedUser("CORP", "alice", ("Sales", "EU"), (("Email", "a@corp"),))
    assert user.ticket_attributes() == [{"Group": "Sales"}, {"Group": "EU"}, {"Email": "a@corp"}]


@pytest.mark.parametrize(("directory", "user_id"), [("", "alice"), ("CORP", " "), ("C\\D", "a")])
def test_validated_user_refuses_what_qps_refuses(directory: str, user_id: str) -> None:
    with pytest.raises(ConfigurationError):
        ValidatedUser(directory, user_id)


def test_validated_user_is_frozen_and_comparable() -> None:
    user = ValidatedUser("CORP", "alice", ("Sales",))
    assert user == ValidatedUser("CORP", "alice", ("Sales",))
    with pytest.raises(AttributeError):
        user.user_id = "bob"  # type: ignore[misc]


def test_a_plain_class_satisfies_the_protocol() -> None:
    class Radius:
        name = "radius"

        def validate(self, username: str, password: str) -> ValidatedUser:
            return ValidatedUser("RADIUS", username)

    assert isinstance(Radius(), Validator)
    assert not isinstance(object(), Validator)


@pytest.mark.parametrize("reason", sorted(RESTRICTION_TEXT))
def test_account_restricted_names_reason_and_user(reason: str) -> None:
    error = account_restricted(reason, "CORP\\alice")
    assert error.reason == reason
    assert "alice" in str(error)
    assert error.hint


# What the issue asks, written out here rather than read back from the table under test.
EXPECTED_AD_REASONS: dict[str, str | None] = {
    "525": None,
    "52e": None,
    "530": "logon_hours",
    "531": "workstation",
    "532": "password_expired",
    "533": "disabled",
    "701": "expired",
    "773": "must_change_password",
    "775": "locked",
}


def test_the_table_covers_exactly_the_expected_codes() -> None:
    assert set(AD_BIND_CODES) == set(EXPECTED_AD_REASONS)


@pytest.mark.parametrize(("code", "reason"), sorted(EXPECTED_AD_REASONS.items()))
def test_every_ad_code_maps(code: str, reason: str | None) -> None:
    message = (
        "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, "
        f"data {code}, v1db1"
    )
    error = bind_failure(message, "alice")
    if reason is None:
        assert type(error) is InvalidCredentialsError
        assert str(error) == "invalid credentials"
    else:
        assert isinstance(error, AccountRestrictedError)
        assert error.reason == reason


def test_bind_failure_code_is_case_insensitive_and_unknown_is_invalid() -> None:
    upper = bind_failure("AcceptSecurityContext error, data 52E, v1db1", "alice")
    assert type(upper) is InvalidCredentialsError
    unknown = bind_failure("Simple Bind Failed: NT_STATUS_LOGON_FAILURE", "alice")
    assert type(unknown) is InvalidCredentialsError


class _WhoAmI:
    """The part of an ldap3 connection ``_bound_account`` reads."""

    def __init__(self, answer: object) -> None:
        self.extend = self
        self.standard = self
        self._answer = answer

    def who_am_i(self) -> object:
        if isinstance(self._answer, Exception):
            raise self._answer
        return self._answer


@pytest.mark.parametrize(
    ("answer", "account"),
    [
        ("u:CORP\\asmith", "asmith"),
        ("u:CORP\\", None),
        ("dn:CN=x,DC=corp", None),
        (None, None),
        (RuntimeError("not supported"), None),
    ],
)
def test_bound_account_reads_who_am_i(answer: object, account: str | None) -> None:
    from qlikauth.validators.ldap.directory import bound_account

    assert bound_account(_WhoAmI(answer)) == account
