"""Validate a Windows domain password by binding to Active Directory as the user.

The bind travels over LDAPS (``ldaps://``) or StartTLS only, and the domain controller's
certificate is verified against a CA file: a password never crosses the network in clear
text. Active Directory explains a refused bind with a ``data NNN`` code; each becomes a
specific qlikauth error. ldap3 (extra ``windows``) does the wire work and is imported only
when a validator is made.

:mod:`~qlikauth.validators.ldap.connection` opens the TLS connection,
:mod:`~qlikauth.validators.ldap.bind` says why a bind or handshake failed,
:mod:`~qlikauth.validators.ldap.directory` reads who bound and their groups, and
:mod:`~qlikauth.validators.ldap.validator` puts them together as :class:`LdapValidator`.
"""

from __future__ import annotations

from qlikauth.validators.ldap.bind import AD_BIND_CODES, bind_failure
from qlikauth.validators.ldap.validator import LdapValidator

__all__ = ["AD_BIND_CODES", "LdapValidator", "bind_failure"]
