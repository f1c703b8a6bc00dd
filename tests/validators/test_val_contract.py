"""The validator contract catches validators that break it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

_VALIDATORS = """
import logging

import pytest

from qlikauth.errors import InvalidCredentialsError
from qlikauth.testing.validators import ValidatorContract
from qlikauth.validators import ValidatedUser

log = logging.getLogger("plugin")


class Base:
    name = "table"
    users = {"alice": "right-Passw0rd"}

    def validate(self, username, password):
        if self.users.get(username) != password or not password:
            raise InvalidCredentialsError("invalid credentials")
        return ValidatedUser("TABLE", username, ("Staff",))


class Good(Base):
    pass


class AcceptsEmpty(Base):
    def validate(self, username, password):
        if password == "":
            return ValidatedUser("TABLE", username)
        return super().validate(username, password)


class Leaky(Base):
    def validate(self, username, password):
        log.debug("checking %s with %s", username, password)
        return super().validate(username, password)


class Chatty(Base):
    def validate(self, username, password):
        try:
            return super().validate(username, password)
        except InvalidCredentialsError:
            raise InvalidCredentialsError(f"{password!r} is wrong") from None


class Contract(ValidatorContract):
    @pytest.fixture
    def good_credentials(self):
        return "alice", "right-Passw0rd"

    @pytest.fixture
    def bad_credentials(self):
        return "alice", "wrong-Passw0rd"


class TestGood(Contract):
    @pytest.fixture
    def validator(self):
        return Good()


class TestAcceptsEmpty(Contract):
    @pytest.fixture
    def validator(self):
        return AcceptsEmpty()


class TestLeaky(Contract):
    @pytest.fixture
    def validator(self):
        return Leaky()


class TestChatty(Contract):
    @pytest.fixture
    def validator(self):
        return Chatty()
"""


def test_contract_passes_good_and_fails_bad_validators(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_contract_subjects=_VALIDATORS)
    # Only the contract matters here; third-party plugins stay out of the inner run.
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-p", "no:asyncio")
    outcomes = {
        line.split("::")[1] + "::" + line.split("::")[2].split(" ")[0]
        for line in result.outlines
        if line.startswith("FAILED ")
    }
    assert outcomes == {
        "TestAcceptsEmpty::test_empty_password_is_invalid",
        "TestLeaky::test_password_appears_nowhere",
        "TestChatty::test_bad_credentials_are_invalid",
        "TestChatty::test_password_appears_nowhere",
    }
    result.assert_outcomes(passed=6 * 4 - 4, failed=4)
