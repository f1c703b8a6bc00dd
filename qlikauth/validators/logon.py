"""Validate a Windows password by asking Windows itself (``LogonUserW``).

On a Windows host that is a member of the domain, ``advapi32.LogonUserW`` checks the
password with the domain controller through the machine's own secure channel: no LDAP
settings, no certificate files, no extra package. On other systems the validator can be
built (so configurations load everywhere) but refuses to run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from qlikauth.errors import ConfigurationError, InvalidCredentialsError, QlikAuthError
from qlikauth.site import Site
from qlikauth.validators.base import (
    INVALID_CREDENTIALS,
    ValidatedUser,
    account_restricted,
    check_password_given,
    parse_username,
)

__all__ = ["WIN32_LOGON_ERRORS", "LogonUserValidator", "logon_failure"]

log = logging.getLogger(__name__)

#: Win32 error codes from ``LogonUserW``: restriction reason (``None`` for a wrong name or
#: password) and what the code means, for the log.
WIN32_LOGON_ERRORS: dict[int, tuple[str | None, str]] = {
    1326: (None, "ERROR_LOGON_FAILURE: unknown user name or bad password"),
    1327: ("restricted", "ERROR_ACCOUNT_RESTRICTION"),
    1328: ("logon_hours", "ERROR_INVALID_LOGON_HOURS"),
    1329: ("workstation", "ERROR_INVALID_WORKSTATION"),
    1330: ("password_expired", "ERROR_PASSWORD_EXPIRED"),
    1331: ("disabled", "ERROR_ACCOUNT_DISABLED"),
    1793: ("expired", "ERROR_ACCOUNT_EXPIRED"),
    1907: ("must_change_password", "ERROR_PASSWORD_MUST_CHANGE"),
    1909: ("locked", "ERROR_ACCOUNT_LOCKED_OUT"),
}

_LOGON32_LOGON_NETWORK = 3
_LOGON32_PROVIDER_DEFAULT = 0


def logon_failure(code: int, username: str) -> QlikAuthError:
    """Translate a ``LogonUserW`` error code into a qlikauth error (details to the log)."""
    reason, meaning = WIN32_LOGON_ERRORS.get(code, (None, f"Win32 error {code}"))
    log.info("LogonUser for %r refused: %s (%d)", username, meaning, code)
    if reason is None:
        return InvalidCredentialsError(INVALID_CREDENTIALS)
    return account_restricted(reason, username)


class LogonUserValidator:
    """Checks a password with ``LogonUserW`` (a network logon) on a Windows host.

    ``default_domain`` is the NetBIOS domain for bare user names (``"."`` means the local
    machine). ``directories`` maps a domain (any case) to a Qlik user directory; without
    an entry the directory is the domain upper-cased. Groups are not read: add them with a
    validator that asks the directory, such as :class:`~qlikauth.validators.LdapValidator`.
    """

    name = "logon"

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], site: Site | None = None
    ) -> LogonUserValidator:
        """A ``LogonUser`` validator from a configuration table (``kind = "logon"``)."""
        return cls(**settings)

    def __init__(
        self,
        *,
        default_domain: str | None = None,
        directories: dict[str, str] | None = None,
        platform: str = sys.platform,
    ) -> None:
        self.default_domain = default_domain
        self.directories = {k.casefold(): v for k, v in (directories or {}).items()}
        self._platform = platform

    def __repr__(self) -> str:
        return f"LogonUserValidator(default_domain={self.default_domain!r})"

    def validate(self, username: str, password: str) -> ValidatedUser:
        """Ask Windows whether the password is right."""
        if self._platform != "win32":
            raise ConfigurationError(
                "the logon validator works on Windows only",
                hint="on this system use the LDAP validator (LdapValidator, extra 'windows') "
                "against a domain controller",
            )
        check_password_given(password)
        parsed = parse_username(username, default_domain=self.default_domain)
        if parsed.form == "upn":
            # LogonUserW takes a UPN as the user name with no domain.
            user, domain = f"{parsed.user}@{parsed.domain}", None
        else:
            user, domain = parsed.user, parsed.domain
        code = _logon_user(user, domain, password)
        if code:
            raise logon_failure(code, username)
        if parsed.form == "upn":
            key = parsed.domain or ""
            directory = self.directories.get(key.casefold(), key.split(".")[0].upper())
        else:
            key = parsed.domain or "."
            directory = self.directories.get(key.casefold(), key.upper())
        if directory == ".":
            directory = _computer_name()
        return ValidatedUser(directory, parsed.user)


def _logon_user(user: str, domain: str | None, password: str) -> int:
    """Call ``LogonUserW``; return 0 on success or the Win32 error code."""
    import ctypes
    from ctypes import wintypes

    windll: Any = getattr(ctypes, "WinDLL")  # noqa: B009 - absent from ctypes off Windows
    advapi32 = windll("advapi32", use_last_error=True)
    kernel32 = windll("kernel32", use_last_error=True)
    handle = wintypes.HANDLE()
    ok = advapi32.LogonUserW(
        ctypes.c_wchar_p(user),
        ctypes.c_wchar_p(domain),
        ctypes.c_wchar_p(password),
        wintypes.DWORD(_LOGON32_LOGON_NETWORK),
        wintypes.DWORD(_LOGON32_PROVIDER_DEFAULT),
        ctypes.byref(handle),
    )
    if not ok:
        return int(getattr(ctypes, "get_last_error")())  # noqa: B009
    kernel32.CloseHandle(handle)
    return 0


def _computer_name() -> str:
    import os

    return (os.environ.get("COMPUTERNAME") or "LOCAL").upper()
