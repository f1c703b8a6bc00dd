"""LdapValidator: a password checked by an LDAP simple bind as the user, then who they are."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qlikauth.errors import ConfigurationError
from qlikauth.site import Site
from qlikauth.validators.base import (
    ParsedUsername,
    ValidatedUser,
    check_password_given,
    parse_username,
)
from qlikauth.validators.ldap.connection import LdapEndpoint
from qlikauth.validators.ldap.directory import DirectoryLookup, first

__all__ = ["LdapValidator"]


class LdapValidator:
    """Checks a password by an LDAP simple bind as the user, over LDAPS or StartTLS.

    ``url`` is ``ldaps://dc.corp.example.com`` (port 636) or, with ``start_tls=True``,
    ``ldap://dc.corp.example.com`` (port 389). ``ca_file`` is the PEM root that issued
    the domain controller's certificate (the system store when ``None``);
    ``tls_server_name`` is the name to expect in that certificate when the URL holds an
    address. ``upn_suffix`` (``corp.example.com``) or ``netbios_domain`` (``CORP``) lets
    users type a bare ``alice``. ``directories`` maps a domain (NetBIOS or DNS name, any
    case) to a Qlik user directory; without an entry the directory is the NetBIOS domain
    name upper-cased. ``ticket_attributes`` maps ticket attribute names to LDAP attributes
    (``{"Email": "mail"}``). ``verify=False`` turns certificate checks off and warns.
    """

    name = "ldap"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], site: Site | None = None) -> LdapValidator:
        """An LDAP validator from a configuration table (``kind = "ldap"``)."""
        return cls(**settings)

    def __init__(
        self,
        url: str,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        start_tls: bool = False,
        tls_server_name: str | None = None,
        verify: bool = True,
        upn_suffix: str | None = None,
        netbios_domain: str | None = None,
        base_dn: str | None = None,
        read_groups: bool = True,
        nested_groups: bool = True,
        directories: Mapping[str, str] | None = None,
        ticket_attributes: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = LdapEndpoint(
            url,
            ca_file=ca_file,
            start_tls=start_tls,
            tls_server_name=tls_server_name,
            verify=verify,
            timeout=timeout,
        )
        self.lookup = DirectoryLookup(
            self.endpoint.ldap3,
            base_dn=base_dn,
            read_groups=read_groups,
            nested_groups=nested_groups,
            upn_suffix=upn_suffix,
            netbios_domain=netbios_domain,
            directories={k.casefold(): v for k, v in (directories or {}).items()},
            ticket_attribute_map=dict(ticket_attributes or {}),
        )

    @property
    def url(self) -> str:
        """The domain controller's LDAP URL."""
        return self.endpoint.url

    @property
    def ca_file(self) -> Path | None:
        """The PEM root the domain controller's certificate is checked against."""
        return self.endpoint.ca_file

    @property
    def verify(self) -> bool:
        """Whether the domain controller's certificate is checked."""
        return self.endpoint.verify

    def __repr__(self) -> str:
        return f"LdapValidator({self.url!r}, ca_file={self.ca_file!r}, verify={self.verify})"

    def validate(self, username: str, password: str) -> ValidatedUser:
        """Bind as the user; on success read groups and say who the user is."""
        check_password_given(password)
        lookup = self.lookup
        parsed = parse_username(
            username, default_domain=lookup.upn_suffix or lookup.netbios_domain or None
        )
        with self.endpoint.connected(self._bind_name(parsed), password) as conn:
            return lookup.who(conn, parsed, self.endpoint.where)

    def check_connection(self) -> str:
        """Reach the directory without logging in: the TLS handshake (certificate checked)
        and an anonymous read of the root entry. Says what answered; raises the errors of
        :meth:`validate` (``TLSError``, ``TransportError``) when it cannot."""
        with self.endpoint.connected() as conn:
            naming = first(self.lookup.root(conn).get("defaultNamingContext"))
        where, security = self.endpoint.where, self.endpoint.security
        return f"{where} answered over {security} (naming context {naming or 'unknown'})"

    def _bind_name(self, parsed: ParsedUsername) -> str:
        if parsed.form == "upn":
            return f"{parsed.user}@{parsed.domain}"
        if parsed.form == "down-level":
            return f"{parsed.domain}\\{parsed.user}"
        if self.lookup.upn_suffix:
            return f"{parsed.user}@{self.lookup.upn_suffix}"
        if self.lookup.netbios_domain:
            return f"{self.lookup.netbios_domain}\\{parsed.user}"
        raise ConfigurationError(
            f"the user name {parsed.user!r} has no domain",
            hint="type DOMAIN\\user or user@domain, or configure upn_suffix or netbios_domain",
        )
