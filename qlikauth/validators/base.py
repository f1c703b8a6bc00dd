"""What a credential validator is, what it returns, and how user names are read.

A validator answers one question: are this user name and password right, and who is the
user then? The ``windows`` authenticator (and later the broker) turns the answer into a QPS
ticket, so the answer carries what a ticket needs: user directory, user id and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from qlikauth.errors import AccountRestrictedError, ConfigurationError, InvalidCredentialsError

__all__ = [
    "INVALID_CREDENTIALS",
    "RESTRICTION_TEXT",
    "ParsedUsername",
    "ValidatedUser",
    "Validator",
    "account_restricted",
    "check_password_given",
    "parse_username",
]

#: The only thing an end user learns when the user name or the password is wrong.
INVALID_CREDENTIALS = "invalid credentials"

UsernameForm = Literal["upn", "down-level", "bare"]


@dataclass(frozen=True)
class ValidatedUser:
    """A user whose password a validator accepted.

    ``directory`` and ``user_id`` are what QPS calls ``UserDirectory`` and ``UserId``;
    ``groups`` become ``{"Group": ...}`` ticket attributes and ``attributes`` are further
    ``(name, value)`` ticket attributes (for example ``("Email", "alice@corp.example.com")``).
    """

    directory: str
    user_id: str
    groups: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for label, value in (("directory", self.directory), ("user id", self.user_id)):
            if not value.strip():
                raise ConfigurationError(f"a validated user needs a non-empty {label}")
            if "\\" in value:
                # QPS refuses a backslash in UserDirectory and UserId (qlik-protocol 1.4).
                raise ConfigurationError(
                    f"the {label} {value!r} contains a backslash, which QPS refuses",
                    hint="split DOMAIN\\user into directory and user id",
                )

    def ticket_attributes(self) -> list[dict[str, str]]:
        """The ``Attributes`` list of a QPS ticket request: groups first, then the rest."""
        return [{"Group": group} for group in self.groups] + [
            {name: value} for name, value in self.attributes
        ]


@runtime_checkable
class Validator(Protocol):
    """Checks a user name and password; small enough to write your own (RADIUS, a database).

    ``validate`` returns a :class:`ValidatedUser` or raises one of
    :class:`~qlikauth.errors.InvalidCredentialsError` (wrong name or password),
    :class:`~qlikauth.errors.AccountRestrictedError` (right password, but the account may
    not log on now; ``reason`` says why), :class:`~qlikauth.errors.TransportError`,
    :class:`~qlikauth.errors.TlsError` or :class:`~qlikauth.errors.ConfigurationError`.
    It never logs the password, and never puts it into an exception or a repr.
    """

    name: str

    def validate(self, username: str, password: str) -> ValidatedUser:
        """Check the credentials and say who the user is."""
        ...


@dataclass(frozen=True)
class ParsedUsername:
    """A user name split into its parts.

    ``domain`` is the NetBIOS domain for ``CORP\\alice``, the DNS domain (UPN suffix) for
    ``alice@corp.example.com``, and the default domain (or ``None``) for a bare ``alice``.
    """

    user: str
    domain: str | None
    form: UsernameForm

    @property
    def key(self) -> str:
        """A case-folded key for the person behind the name, whatever form it was typed in.

        Only the user part counts, so ``CORP\\alice`` and ``alice@corp.example.com`` share
        one key (the NetBIOS and DNS names of a domain cannot be matched offline).
        """
        return self.user.casefold()


def parse_username(username: str, *, default_domain: str | None = None) -> ParsedUsername:
    """Read ``CORP\\alice``, ``alice@corp.example.com`` or a bare ``alice``.

    Raises :class:`~qlikauth.errors.InvalidCredentialsError` for a name that cannot be a
    user (empty, or with an empty part), because it comes from whoever is logging in.
    """
    name = username.strip()
    if "\\" in name:
        domain, _, user = name.partition("\\")
        form: UsernameForm = "down-level"
    elif "@" in name:
        user, _, domain = name.rpartition("@")
        form = "upn"
    else:
        user, domain, form = name, (default_domain or ""), "bare"
    user, domain = user.strip(), domain.strip()
    bad_part = any(c in part for part in (user, domain) for c in "\\@")
    if not user or (form != "bare" and not domain) or bad_part:
        raise InvalidCredentialsError(
            INVALID_CREDENTIALS,
            hint="write the user name as DOMAIN\\user, user@domain or user",
        )
    return ParsedUsername(user=user, domain=domain or None, form=form)


#: What each ``AccountRestrictedError.reason`` means, and what an administrator can do.
RESTRICTION_TEXT: dict[str, tuple[str, str]] = {
    "disabled": ("is disabled", "a domain administrator can enable it"),
    "locked": (
        "is locked out after too many wrong passwords",
        "wait for the lockout to end, or ask a domain administrator to unlock it",
    ),
    "expired": ("has expired", "a domain administrator can extend the account's expiry date"),
    "password_expired": ("has an expired password", "change the password, then log in again"),
    "must_change_password": (
        "must change its password before logging on",
        "change the password (for example by logging on to Windows once), then log in again",
    ),
    "logon_hours": (
        "may not log on at this time of day",
        "a domain administrator sets the account's logon hours",
    ),
    "workstation": (
        "may not log on from this computer",
        "a domain administrator sets the workstations the account may log on to",
    ),
    "restricted": (
        "is restricted by a logon policy (for example: blank passwords are not allowed)",
        "ask a domain administrator which policy applies to the account",
    ),
}


def account_restricted(reason: str, username: str) -> AccountRestrictedError:
    """Build the error for an account that may not log on, naming the reason.

    The reason is shown on purpose: an administrator needs it, and a directory only tells
    it after the password was right (see docs/windows.md for the trade-off).
    """
    what, hint = RESTRICTION_TEXT.get(reason, ("may not log on now", "ask a domain administrator"))
    return AccountRestrictedError(f"the account {username!r} {what}", reason=reason, hint=hint)


def check_password_given(password: str) -> None:
    """Refuse an empty password before anything is sent.

    An LDAP simple bind with a name and an empty password is an *unauthenticated* bind,
    which a directory may answer with success: it must never count as a valid login.
    """
    if not password:
        raise InvalidCredentialsError(INVALID_CREDENTIALS, hint="enter a password")
