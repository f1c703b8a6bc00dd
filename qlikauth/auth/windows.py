"""Windows credentials: validate a domain user's password, then log in with a QPS ticket.

The answer to "how do I log in with a Windows user name and password" when the virtual
proxy you want is not a Windows one (qlik-protocol.md §1.4, §2.5): check the password
yourself with a :class:`~qlikauth.validators.Validator` (Active Directory over LDAPS, NTLM
against the proxy's Windows virtual proxy, ``LogonUser``, your own), then issue a ticket for
that user - directory, user id, groups as ``{"Group": ...}`` attributes - on the site's
virtual proxy and redeem it at once (:class:`~qlikauth.auth.ticket.TicketAuth`).

Validation is I/O that is not HTTP, and a login flow does no I/O. So it happens in
:meth:`WindowsAuth.prepare`, which the driver runs before the flow
(:class:`~qlikauth.client.QlikClient` does, in a worker thread on asyncio); ``prepare``
returns a *validated* ``WindowsAuth`` whose :meth:`~WindowsAuth.login` only issues and
redeems the ticket. An unvalidated ``WindowsAuth`` refuses to log in.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

from qlikauth import keystore
from qlikauth.auth.base import Authenticator
from qlikauth.auth.ticket import TicketAuth
from qlikauth.credentials import Credentials
from qlikauth.errors import ConfigurationError
from qlikauth.http.values import Flow
from qlikauth.identity import QlikUser, check_attributes, check_identity_text
from qlikauth.qps.values import Attributes, attribute_pairs
from qlikauth.site import Site
from qlikauth.validators.base import ValidatedUser, Validator
from qlikauth.validators.ratelimit import FailureLimiter, RateLimitedValidator
from qlikauth.validators.registry import build_validator, check_validator_spec

__all__ = ["PasswordSource", "WindowsAuth"]

log = logging.getLogger(__name__)

#: What a caller may pass as ``password``: the password itself, or a function returning it.
PasswordSource = str | Callable[[], str]


class _OneShot:
    """Holds a password given as a string until one login takes it."""

    __slots__ = ("_lock", "_value")

    def __init__(self, value: str) -> None:
        self._value: str | None = value
        self._lock = threading.Lock()

    def take(self) -> str | None:
        with self._lock:
            value, self._value = self._value, None
        return value

    def __repr__(self) -> str:
        return "<password given once>"


@dataclass(frozen=True)
class WindowsAuth(Authenticator):
    """Log in as a Windows user whose password a validator accepted, through a QPS ticket.

    ``user`` is ``CORP\\alice``, ``alice@corp.example.com`` or (when the validator knows a
    default domain) ``alice``. ``validator`` is any :class:`~qlikauth.validators.Validator`,
    or a mapping for configuration files: ``{"kind": "ldap", "url": ..., "ca_file": ...}``
    (the other keys are :class:`~qlikauth.validators.LdapValidator` settings),
    ``{"kind": "ntlm", "prefix": ""}`` (:class:`~qlikauth.validators.ntlm.NtlmValidator` on
    that virtual proxy of the login's site), ``{"kind": "logon"}``, or a plug-in's kind
    (:mod:`qlikauth.validators.registry`). It is rate-limited unless ``rate_limit`` is
    ``False``: ``True`` gives this authenticator its own
    :class:`~qlikauth.validators.FailureLimiter`, or pass one to share.

    The password comes from exactly one source, asked at each login:

    * ``password``: a string, or a function that returns one. A string serves **one**
      login and is dropped then; a later login (a session refresh by ``QlikClient``)
      needs a function, ``keyring_entry`` or ``prompt``, and says so;
    * ``keyring_entry``: the name of a secret in the OS keyring (``"prod:password"``, see
      :func:`qlikauth.keystore.secret_name`; service ``keyring_service``, default
      ``qlikauth``);
    * ``prompt=True``: ask on the terminal without echo (``getpass``).

    ``attributes`` are further ticket attributes, after the user's groups and the
    validator's own attributes.

    About memory, honestly: qlikauth keeps no reference to the password after the login -
    not on this object (it keeps the function or the keyring name, never the secret), not in
    the validated authenticator - and deletes its local references when validation ends
    (after a failed check also those in the traceback's frames, which would otherwise live
    as long as the exception). Python cannot do more: a ``str`` is immutable and cannot be
    wiped, its memory is freed (not zeroed) when the last reference goes, copies may exist
    in the caller, ``getpass``, the keyring backend, the LDAP or NTLM library and TLS
    buffers, and the process memory may be swapped out or written to a core dump.

    ``validated`` is set by :meth:`prepare`; a ``WindowsAuth`` with it logs in as that
    user without a password (the same trust as :class:`TicketAuth`: whoever holds the QPS
    client certificate can issue tickets for any user).
    """

    name: ClassVar[str] = "windows"

    user: str
    validator: Validator | Mapping[str, Any]
    password: InitVar[PasswordSource | None] = None
    keyring_entry: str | None = None
    keyring_service: str = keystore.SERVICE
    prompt: bool = False
    rate_limit: bool | FailureLimiter = True
    attributes: Attributes = ()
    validated: ValidatedUser | None = None
    _source: _OneShot | Callable[[], str] | None = field(
        init=False, default=None, repr=False, compare=False
    )
    _limiter: FailureLimiter | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self, password: PasswordSource | None) -> None:
        if not isinstance(self.user, str) or not self.user.strip():
            raise ConfigurationError("the Windows user name is empty", hint="e.g. CORP\\alice")
        check_identity_text("Windows user name", self.user)
        pairs = attribute_pairs(self.attributes)
        check_attributes(pairs)
        object.__setattr__(self, "attributes", pairs)
        _check_validator(self.validator)
        limiter = self.rate_limit
        if limiter is True:
            limiter = FailureLimiter()
        object.__setattr__(self, "_limiter", limiter or None)
        sources = [
            name
            for name, given in (
                ("password", password is not None),
                ("keyring_entry", self.keyring_entry is not None),
                ("prompt", self.prompt),
            )
            if given
        ]
        if len(sources) > 1:
            raise ConfigurationError(
                f"the password has more than one source ({', '.join(sources)})",
                hint="give exactly one of password=, keyring_entry= or prompt=True",
            )
        if not sources and self.validated is None:
            raise ConfigurationError(
                f"no password source for {self.user!r}",
                hint="give password= (a string or a function), keyring_entry='PROFILE:password' "
                "(the OS keyring) or prompt=True",
            )
        if isinstance(password, str):
            object.__setattr__(self, "_source", _OneShot(password))
        elif password is not None:
            if not callable(password):
                raise ConfigurationError(
                    "password must be a string or a function returning one",
                    hint="for example password=lambda: os.environ['AD_PASSWORD']",
                )
            object.__setattr__(self, "_source", password)
        if self.keyring_entry is not None and not self.keyring_entry.strip():
            raise ConfigurationError("keyring_entry is empty", hint="e.g. 'prod:password'")

    def __repr__(self) -> str:
        if self.validated is not None:
            return f"WindowsAuth(user={self.user!r}, validated={self.qlik_user})"
        return (
            f"WindowsAuth(user={self.user!r}, validator={_validator_name(self.validator)}, "
            f"password={self._source_text()})"
        )

    __str__ = __repr__

    def _source_text(self) -> str:
        if self.keyring_entry is not None:
            return f"keyring:{self.keyring_service}/{self.keyring_entry}"
        if self.prompt:
            return "prompt"
        if isinstance(self._source, _OneShot):
            return "given once"
        return "function"

    @property
    def qlik_user(self) -> QlikUser | None:
        """The Qlik user the ticket is for, once validated."""
        if self.validated is None:
            return None
        return QlikUser(self.validated.directory, self.validated.user_id)

    # -- validation (I/O) ------------------------------------------------------------------

    def prepare(self, site: Site) -> WindowsAuth:
        """Get the password, validate it, drop it; return the validated authenticator.

        Blocking I/O (the validator's, and a prompt or keyring read). Raises the
        validator's errors (:class:`~qlikauth.errors.InvalidCredentialsError`,
        :class:`~qlikauth.errors.AccountRestrictedError`, ...) and
        :class:`~qlikauth.errors.TooManyAttemptsError` after repeated failures.
        """
        if self.validated is not None:
            return self
        validator = self._validator(site)
        password = self._password()
        try:
            validated = validator.validate(self.user, password)
        except BaseException as exc:
            _clear_frames(exc)
            raise
        finally:
            del password
        log.info(
            "%s validated %r as %s\\%s (%d groups)",
            validator.name,
            self.user,
            validated.directory,
            validated.user_id,
            len(validated.groups),
        )
        return dataclasses.replace(
            self, validated=validated, keyring_entry=None, prompt=False, rate_limit=False
        )

    def _validator(self, site: Site) -> Validator:
        spec = self.validator
        validator = build_validator(spec, site) if isinstance(spec, Mapping) else spec
        if self._limiter is None or isinstance(validator, RateLimitedValidator):
            return validator
        return RateLimitedValidator(validator, self._limiter)

    def _password(self) -> str:
        source = self._source
        if self.keyring_entry is not None:
            secret = keystore.get_secret(self.keyring_entry, service=self.keyring_service)
            if secret is None:
                raise ConfigurationError(
                    f"the keyring holds no password {self.keyring_entry!r} "
                    f"(service {self.keyring_service!r})",
                    hint=f"store it without putting it on a command line: keyring set "
                    f"{self.keyring_service} {self.keyring_entry}",
                )
            return secret
        if self.prompt:
            return keystore.prompt_secret(f"Windows password for {self.user}: ")
        if isinstance(source, _OneShot):
            secret = source.take()
            if secret is None:
                raise ConfigurationError(
                    f"the password for {self.user!r} was given as a string, served one "
                    "login and is no longer held",
                    hint="to log in again (a session refresh), give password= as a function, "
                    "keyring_entry= or prompt=True",
                )
            return secret
        if source is None:  # only a validated WindowsAuth has no source, and it never asks
            raise ConfigurationError(f"no password source for {self.user!r}")
        secret = source()
        if not isinstance(secret, str):
            raise ConfigurationError(
                f"the password function for {self.user!r} returned {type(secret).__name__}, "
                "not a string"
            )
        return secret

    # -- the flow (no I/O) -----------------------------------------------------------------

    def login(self, site: Site) -> Flow[Credentials]:
        """Issue a ticket for the validated user on the site's virtual proxy and redeem it."""
        validated = self.validated
        if validated is None:
            raise ConfigurationError(
                f"WindowsAuth for {self.user!r} has not validated the password yet",
                hint="run auth.prepare(site).login(site) (QlikClient does this); the "
                "validation talks to the directory, which a login flow may not do",
            )
        pairs = [("Group", group) for group in validated.groups]
        pairs += validated.attributes
        pairs += attribute_pairs(self.attributes)
        ticket = TicketAuth(user=validated.user_id, directory=validated.directory, attributes=pairs)
        return (yield from ticket.login(site))


def _clear_frames(exc: BaseException) -> None:
    """Drop the local variables of a failed check's frames: they hold the password.

    A traceback keeps every frame it passed through alive, locals included, for as long
    as someone holds the exception; the line numbers it prints survive this.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__


def _validator_name(validator: Validator | Mapping[str, Any]) -> str:
    if isinstance(validator, Mapping):
        return str(validator.get("kind"))
    return repr(validator)


def _check_validator(validator: Validator | Mapping[str, Any]) -> None:
    if isinstance(validator, Mapping):
        check_validator_spec(validator)  # bad settings show when the profile loads
        return
    if not isinstance(validator, Validator):
        raise ConfigurationError(
            f"{type(validator).__name__} is not a validator",
            hint="pass an object with name and validate(username, password), e.g. LdapValidator",
        )
