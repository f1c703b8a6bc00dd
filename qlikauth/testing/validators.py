"""Contract tests every credential validator must pass, for built-ins and plug-ins alike.

Subclass :class:`ValidatorContract` in a test module, name the subclass ``Test...`` and
provide three fixtures::

    class TestRadiusValidator(ValidatorContract):
        @pytest.fixture
        def validator(self) -> Validator:
            return RadiusValidator("127.0.0.1", secret_file=...)

        @pytest.fixture
        def good_credentials(self) -> tuple[str, str]:
            return "alice", "her password"

        @pytest.fixture
        def bad_credentials(self) -> tuple[str, str]:
            return "alice", "not her password"

The inherited tests check the shape of a success, that wrong and empty passwords give
:class:`~qlikauth.errors.InvalidCredentialsError`, and that the password shows up in no
log record, exception text or repr.
"""

from __future__ import annotations

import logging

import pytest

from qlikauth.errors import InvalidCredentialsError, QlikAuthError
from qlikauth.validators.base import ValidatedUser, Validator

__all__ = ["ValidatorContract", "exception_texts"]


def exception_texts(exc: BaseException) -> list[str]:
    """Every text an exception chain shows: messages, hints, reprs."""
    out: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out += [str(current), repr(current), *(repr(a) for a in current.args)]
        if isinstance(current, QlikAuthError) and current.hint:
            out.append(current.hint)
        current = current.__cause__ or current.__context__
    return out


class ValidatorContract:
    """The behaviour every :class:`~qlikauth.validators.Validator` promises."""

    @pytest.fixture
    def validator(self) -> Validator:
        """The validator under test; override in the subclass."""
        raise NotImplementedError("provide a 'validator' fixture")

    @pytest.fixture
    def good_credentials(self) -> tuple[str, str]:
        """A user name and its right password; override in the subclass."""
        raise NotImplementedError("provide a 'good_credentials' fixture")

    @pytest.fixture
    def bad_credentials(self) -> tuple[str, str]:
        """A user name and a wrong password; override in the subclass."""
        raise NotImplementedError("provide a 'bad_credentials' fixture")

    def test_is_a_validator(self, validator: Validator) -> None:
        assert isinstance(validator, Validator)
        assert isinstance(validator.name, str)
        assert validator.name.strip()

    def test_good_credentials_give_a_user(
        self, validator: Validator, good_credentials: tuple[str, str]
    ) -> None:
        user = validator.validate(*good_credentials)
        assert isinstance(user, ValidatedUser)
        assert user.directory.strip()
        assert user.user_id.strip()
        assert "\\" not in user.directory + user.user_id
        assert isinstance(user.groups, tuple)
        assert all(isinstance(g, str) and g for g in user.groups)
        attributes = user.ticket_attributes()
        assert attributes[: len(user.groups)] == [{"Group": g} for g in user.groups]
        assert all(len(a) == 1 for a in attributes)

    def test_same_answer_twice(
        self, validator: Validator, good_credentials: tuple[str, str]
    ) -> None:
        assert validator.validate(*good_credentials) == validator.validate(*good_credentials)

    def test_bad_credentials_are_invalid(
        self, validator: Validator, bad_credentials: tuple[str, str]
    ) -> None:
        username, password = bad_credentials
        with pytest.raises(InvalidCredentialsError) as caught:
            validator.validate(username, password)
        assert all(password not in text for text in exception_texts(caught.value))

    def test_empty_password_is_invalid(
        self, validator: Validator, good_credentials: tuple[str, str]
    ) -> None:
        # An LDAP simple bind with an empty password is an anonymous bind that succeeds.
        with pytest.raises(InvalidCredentialsError):
            validator.validate(good_credentials[0], "")

    def test_password_appears_nowhere(
        self,
        validator: Validator,
        good_credentials: tuple[str, str],
        bad_credentials: tuple[str, str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        user = validator.validate(*good_credentials)
        with pytest.raises(InvalidCredentialsError) as caught:
            validator.validate(*bad_credentials)
        secrets = {good_credentials[1], bad_credentials[1]}
        texts = [caplog.text, repr(validator), repr(user), *exception_texts(caught.value)]
        texts += [record.getMessage() for record in caplog.records]
        texts += [repr(record.args) for record in caplog.records]
        for secret in secrets:
            assert all(secret not in text for text in texts)
