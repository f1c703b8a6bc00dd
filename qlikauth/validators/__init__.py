"""Credential validators: is this Windows user name and password right, and who is it?

``LdapValidator`` binds to Active Directory over LDAPS or StartTLS, ``LogonUserValidator``
asks Windows itself (on Windows hosts), ``NtlmValidator`` asks the Qlik proxy's Windows
virtual proxy over NTLM, and ``RateLimitedValidator`` wraps either so that a
script in a loop cannot lock out a domain account. Write your own by following
:class:`Validator`; :mod:`qlikauth.testing.validators` holds the contract tests.
"""

from __future__ import annotations

from qlikauth.validators.base import ParsedUsername, ValidatedUser, Validator, parse_username
from qlikauth.validators.ldap import LdapValidator
from qlikauth.validators.logon import LogonUserValidator
from qlikauth.validators.ntlm import NtlmValidator
from qlikauth.validators.ratelimit import FailureLimiter, RateLimitedValidator

__all__ = [
    "FailureLimiter",
    "LdapValidator",
    "LogonUserValidator",
    "NtlmValidator",
    "ParsedUsername",
    "RateLimitedValidator",
    "ValidatedUser",
    "Validator",
    "parse_username",
]
